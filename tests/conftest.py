"""Shared fixtures. Every test gets its own MYDIGITS_HOME (a temporary folder), so nothing a test
does touches the user's models; the MNIST cache is shared, found before the home is redirected."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mydigits import paths

_MNIST_CACHE = paths.data_dir()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("MYDIGITS_HOME", str(home))
    monkeypatch.setenv("MYDIGITS_DATA", str(_MNIST_CACHE))
    monkeypatch.delenv("MYDIGITS_MODEL", raising=False)
    return home


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST (downloaded once into the cache if missing: CI's set-up does that)."""
    from mydigits.mnist import MNIST

    os.environ.setdefault("MYDIGITS_DATA", str(_MNIST_CACHE))
    return MNIST(_MNIST_CACHE, progress=False)
