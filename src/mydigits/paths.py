"""Where mydigits keeps its files: the training-data cache and the store of taught models.

Everything lives under one home folder so a user can find, back up or delete it in one place:
``$MYDIGITS_HOME`` if set, else the platform's user data folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir, user_data_dir


def home() -> Path:
    """The folder for taught models and settings."""
    env = os.environ.get("MYDIGITS_HOME")
    return Path(env).expanduser() if env else Path(user_data_dir("mydigits"))


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The training-data cache (MNIST's files, and the ``fonts`` and ``quickdraw`` folders):
    ``--data-dir`` if given, else ``$MYDIGITS_DATA``, else ``$MYDIGITS_HOME/data``, else the user
    cache folder."""
    if override is not None:
        return Path(override).expanduser()
    if os.environ.get("MYDIGITS_DATA"):
        return Path(os.environ["MYDIGITS_DATA"]).expanduser()
    env = os.environ.get("MYDIGITS_HOME")
    if env:
        return Path(env).expanduser() / "data"
    return Path(user_cache_dir("mydigits")) / "mnist"


def models_dir() -> Path:
    """The store of taught model versions."""
    return home() / "models"


def shipped_weights_dir() -> Path:
    """The default model committed with the package."""
    return Path(__file__).parent / "weights"
