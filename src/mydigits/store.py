"""The store of taught models: one folder per version under ``paths.models_dir()``.

::

    models/
      ACTIVE                    the name of the active version (absent: the shipped default)
      mine-1/
        model.safetensors       weights (``modelio.save``)
        model.json              metadata: base, samples and their SHA-256, date, before/after
        samples/labels.csv      every sample this version learnt from (28x28 crops, so that later
        samples/000000.png      teaching can replay them), including those inherited from its base
        curve.png               the training curve

A version is written into a hidden temporary folder and renamed into place only when complete, and
``ACTIVE`` is rewritten (atomically) only after that, so a crash or a kill at any moment leaves the
previous active model in place and loadable. Names are checked against a strict pattern and never
used as paths outside the store. The shipped model in the package is never written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mydigits import atomic, loading, modelio, paths
from mydigits.errors import MydigitsError

DEFAULT = "default"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RESERVED = {DEFAULT, "active"}
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
ACTIVE_FILE = "ACTIVE"
MODEL_STEM = "model"
SAMPLES_DIR = "samples"


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe version name, else raise one clear line."""
    if (
        not isinstance(name, str)
        or not _NAME.fullmatch(name)
        or ".." in name
        or name.lower() in _RESERVED
    ):
        raise MydigitsError(
            f"invalid model name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            f"starting with a letter or digit, without '..'; {DEFAULT!r} is reserved"
        )
    return name


def root() -> Path:
    return paths.models_dir()


def version_dir(name: str) -> Path:
    """The folder of version ``name`` (validated; always directly inside the store)."""
    folder = root() / validate_name(name)
    if folder.parent != root():  # pragma: no cover - the pattern already forbids separators
        raise MydigitsError(f"invalid model name {name!r}")
    return folder


def model_path(name: str) -> Path:
    """``modelio`` path (no extension) of a version, or of the shipped model for ``default``."""
    if name == DEFAULT:
        return paths.shipped_weights_dir() / modelio.DEFAULT_NAME
    return version_dir(name) / MODEL_STEM


def exists(name: str) -> bool:
    if name == DEFAULT:
        return True
    folder = version_dir(name)
    return (
        folder.is_dir()
        and not folder.is_symlink()
        and modelio.weights_and_meta(folder / MODEL_STEM)[0].is_file()
    )


def names() -> list[str]:
    """Complete versions in the store, oldest first (hidden temporary folders are ignored)."""
    if not root().is_dir():
        return []
    found = []
    for p in root().iterdir():
        if p.name.startswith(".") or not p.is_dir():
            continue
        try:
            ok = exists(p.name)
        except MydigitsError:
            continue
        if ok:
            found.append(p.name)
    return sorted(found, key=lambda n: (str(_meta(n).get("date", "")), n))


def _meta(name: str) -> dict[str, Any]:
    _, mpath = modelio.weights_and_meta(model_path(name))
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return meta if isinstance(meta, dict) else {}


def meta(name: str) -> dict[str, Any]:
    """A version's metadata (``{}`` if unreadable)."""
    if not exists(name):
        raise MydigitsError(f"no model named {name!r} (see `mydigits models list`)")
    return _meta(name)


def active() -> str:
    """The active version's name, or ``default``."""
    f = root() / ACTIVE_FILE
    if not f.is_file():
        return DEFAULT
    try:  # ACTIVE is a plain file a user or a crash may have mangled
        name = f.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return DEFAULT
    try:
        return name if name != DEFAULT and exists(name) else DEFAULT
    except MydigitsError:
        return DEFAULT


def set_active(name: str) -> None:
    """Make ``name`` the active model (``default``: the shipped one). Refuses unloadable models."""
    if name == DEFAULT:
        f = root() / ACTIVE_FILE
        if f.exists():
            f.unlink()
        return
    if not exists(name):
        raise MydigitsError(f"no model named {name!r} (see `mydigits models list`)")
    modelio.load(model_path(name))  # raises one line if it is damaged
    atomic.write_bytes(root() / ACTIVE_FILE, (name + "\n").encode())


def resolve(spec: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """A base model given as a store name, ``default``, a path, or None (the active model).

    Returns the ``modelio`` path and the name recorded as "base" in metadata.
    """
    if spec is None:
        name = active()
        return model_path(name), name
    text = os.fspath(spec)
    if text == DEFAULT:
        return model_path(DEFAULT), DEFAULT
    if (
        _NAME.fullmatch(text)
        and ".." not in text
        and text.lower() not in _RESERVED
        and exists(text)
    ):
        return model_path(text), text
    wpath, _ = modelio.weights_and_meta(text)
    if not wpath.is_file():
        raise MydigitsError(
            f"{text}: no such model (neither a taught model's name nor a model file)"
        )
    path = wpath.with_name(wpath.name[: -len(".safetensors")])
    return path, str(path.resolve())


def next_name(prefix: str = "mine") -> str:
    """The first free ``prefix-N``."""
    taken = {p.name for p in root().iterdir()} if root().is_dir() else set()
    i = 1
    while f"{prefix}-{i}" in taken:
        i += 1
    return f"{prefix}-{i}"


@dataclass(frozen=True)
class StoredSample:
    crop: np.ndarray  # float32 (28, 28) in [0, 1], white on black
    label: int
    source: str  # the file it came from (as given when taught)
    sha256: str  # of that file
    part: int  # which digit of that file (0 for single digits)
    origin: str  # the version that first learnt it
    role: str  # "train" or "validation" (when it was taught)


def save_samples(folder: Path, samples: list[StoredSample]) -> None:
    out = folder / SAMPLES_DIR
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "label", "source", "sha256", "part", "origin", "role"])
    for i, s in enumerate(samples):
        fname = f"{i:06d}.png"
        img = np.clip(np.rint(s.crop * 255), 0, 255).astype(np.uint8)
        ok, png = cv2.imencode(".png", img)
        if not ok:  # pragma: no cover
            raise MydigitsError(f"{out / fname}: could not encode PNG")
        (out / fname).write_bytes(png.tobytes())
        w.writerow([fname, s.label, s.source, s.sha256, s.part, s.origin, s.role])
    (out / "labels.csv").write_text(buf.getvalue(), encoding="utf-8")


def load_samples(name: str) -> list[StoredSample]:
    """The samples a version learnt from (``[]`` for the shipped model or a missing folder)."""
    if name == DEFAULT or not exists(name):
        return []
    folder = version_dir(name) / SAMPLES_DIR
    table = folder / "labels.csv"
    if not table.is_file():
        return []
    try:
        rows = list(csv.DictReader(table.read_text(encoding="utf-8").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MydigitsError(f"{table}: cannot read the samples of model {name!r} ({exc})") from None
    out = []
    for row in rows:  # rows a user or a crash has mangled are skipped; a missing cell is None
        fname = row.get("file") or ""
        if not re.fullmatch(r"[0-9]{6}\.png", fname):
            continue
        try:
            label, part = int(row.get("label") or ""), int(row.get("part") or 0)
        except ValueError:
            continue
        if not 0 <= label <= 9:
            continue
        try:  # the project's own loader: a mangled crop is skipped quickly, not decoded for seconds
            img = loading.load_gray(folder / fname)
        except MydigitsError:
            continue
        if img.shape != (28, 28):
            continue
        out.append(
            StoredSample(
                img.astype(np.float32) / 255.0,
                label,
                row.get("source") or "",
                row.get("sha256") or "",
                part,
                row.get("origin") or name,
                row.get("role") or "train",
            )
        )
    return out


def create_version(name: str, write: Callable[[Path], None], activate: bool = True) -> Path:
    """Build version ``name`` by calling ``write(tmp_folder)``, then move it into place.

    The folder appears complete or not at all; ``ACTIVE`` changes only afterwards.
    """
    final = version_dir(name)
    if final.exists():
        raise MydigitsError(f"a model named {name!r} already exists; choose another --name")
    root().mkdir(parents=True, exist_ok=True)
    clean_stale()
    tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-", dir=root()))
    try:
        write(tmp)
        os.replace(tmp, final)
        atomic._fsync_dir(root())
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if activate:
        set_active(name)
    return final


def clean_stale() -> None:
    """Remove temporary folders left by killed runs (those whose process is gone)."""
    if not root().is_dir():
        return
    for p in root().iterdir():
        if not p.is_dir() or p.is_symlink():
            continue
        for prefix in (_TMP_PREFIX, _TRASH_PREFIX):
            if p.name.startswith(prefix):
                pid = p.name[len(prefix) :].split("-", 1)[0]
                if not pid.isdigit() or not _alive(int(pid)):
                    shutil.rmtree(p, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove(name: str) -> str:
    """Delete version ``name``. If it was active, its base (or the shipped default) becomes active.

    Returns the active model's name afterwards.
    """
    if name == DEFAULT:
        raise MydigitsError("the shipped default model cannot be removed")
    folder = version_dir(name)
    if folder.is_symlink() or not folder.is_dir():
        raise MydigitsError(f"no model named {name!r} (see `mydigits models list`)")
    if active() == name:
        teach = _meta(name).get("teach")
        base = str(teach.get("base", DEFAULT)) if isinstance(teach, dict) else DEFAULT
        fallback = DEFAULT
        try:
            if base != name and base != DEFAULT and exists(base):
                modelio.load(model_path(base))
                fallback = base
        except MydigitsError:
            fallback = DEFAULT
        set_active(fallback)
    trash = root() / f"{_TRASH_PREFIX}{os.getpid()}-{name}"
    os.replace(folder, trash)  # one atomic step: the version is gone, then the files are deleted
    shutil.rmtree(trash, ignore_errors=True)
    return active()


def _count(v: Any) -> int | None:
    """A sample count from metadata, a file a user may have edited: an int, or None."""
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def describe() -> list[dict[str, Any]]:
    """One row per model for ``models list``: the shipped default first, then the versions."""
    act = active()
    rows: list[dict[str, Any]] = [
        {"name": DEFAULT, "active": act == DEFAULT, "base": "", "date": ""}
    ]
    for n in names():
        m = _meta(n)
        t = m.get("teach", {}) if isinstance(m.get("teach"), dict) else {}

        rows.append(
            {
                "name": n,
                "active": act == n,
                "base": str(t.get("base", "")),
                "date": str(m.get("date", "")),
                "samples": _count(t.get("samples_new")),
                "samples_total": _count(t.get("samples_total")),
                "report": t["report"] if isinstance(t.get("report"), dict) else {},
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """``models list`` as text."""
    out = [f"  {'NAME':<24} {'BASE':<16} {'DATE':<26} {'SAMPLES':>7}  YOURS (held out)   MNIST"]
    for r in rows:
        mark = "*" if r["active"] else " "
        if r["name"] == DEFAULT:
            out.append(f"{mark} {DEFAULT:<24} {'(shipped)':<16}")
            continue
        rep = r.get("report") or {}
        mine = rep.get("validation") or rep.get("taught") or {}
        mn = rep.get("mnist") or {}

        def pct(d: Any, key: str) -> str:
            v = d.get(key) if isinstance(d, dict) else None
            return f"{v:.1%}" if isinstance(v, (int, float)) else "?"

        base = str(r.get("base", ""))
        base = base if len(base) <= 16 else "..." + base[-13:]
        out.append(
            f"{mark} {r['name']:<24} {base:<16} {str(r.get('date', '')):<26} "
            f"{r.get('samples') or 0:>7}  {pct(mine, 'before'):>6} -> {pct(mine, 'after'):<6}  "
            f"{pct(mn, 'before')} -> {pct(mn, 'after')}"
        )
    return "\n".join(out)
