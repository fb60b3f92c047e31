"""Hostile input for everything mydigits parses from its users: pictures, IDX files, labels.csv and
sample folders, the model store's own files.

Two halves:

* property-based (hypothesis): the very targets ``benchmarks/fuzz.py`` runs 100,000 times each (so
  the CI run and the long run check the same things), fed with mutated seeds and with inputs built
  from their structure (PNG headers, arrays, CSV rows, IDX headers);
* hand-made files: decompression bombs, 0x0, 1xN and 65535-pixel sides, truncated files, wrong
  extensions, symlinks (dangling, looping, to a folder, to a device), FIFOs, names that are not
  UTF-8 or hold a newline, label files with missing or extra columns.

Every input must end in a correct result or in a one-line ``MydigitsError``: never another
exception, never a hang.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import os
import random
import signal
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from mydigits import labelling, loading, mnist, teaching
from mydigits.errors import MydigitsError

# hostile pictures make Pillow and numpy warn (corrupt EXIF, overflow in a cast): expected here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning",
                                        "ignore::DeprecationWarning")

_spec = importlib.util.spec_from_file_location("mydigits_fuzz", Path(__file__).parents[1] / "benchmarks" / "fuzz.py")
assert _spec is not None and _spec.loader is not None
FUZZ = sys.modules["mydigits_fuzz"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(FUZZ)

FAST = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@contextlib.contextmanager
def no_hang(seconds: float = 20.0) -> Iterator[None]:
    """Fail instead of hanging (the alarm interrupts a blocking open or read too)."""
    def boom(*_: object) -> None:
        raise TimeoutError(f"no answer in {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def refused(fn, *args, **kwargs) -> str:
    """Call ``fn``; it must raise a one-line MydigitsError. Returns the message."""
    with no_hang(), pytest.raises(MydigitsError) as info:
        fn(*args, **kwargs)
    msg = str(info.value)
    assert msg.strip() and "\n" not in msg and "\r" not in msg, msg
    return msg


def result_or_refusal(fn, *args, **kwargs):
    """Call ``fn``: a result, or None when it raised a one-line MydigitsError."""
    try:
        with no_hang():
            return fn(*args, **kwargs)
    except MydigitsError as exc:
        FUZZ.check_refusal(exc)
        return None


@pytest.fixture
def targets(tmp_path: Path) -> dict:
    """The fuzz targets, set up in this test's folder and home."""
    return {name: make(tmp_path) for name, make in FUZZ.TARGETS.items()}


# ---------------------------------------------------------------- the fuzz targets, mutated


@pytest.mark.parametrize("name", list(FUZZ.TARGETS))
def test_seeds_pass(targets: dict, name: str) -> None:
    """Every seed as it is: a result or a clean refusal (and the good seeds are really read)."""
    outcomes = [targets[name].run(seed) for seed in targets[name].seeds]
    assert any(o.startswith("ok") for o in outcomes), outcomes


@pytest.mark.parametrize("name", list(FUZZ.TARGETS))
def test_mutated_inputs(targets: dict, name: str) -> None:
    target = targets[name]

    @FAST
    @given(rng=st.randoms(use_true_random=False), rounds=st.integers(1, 3))
    def check(rng: random.Random, rounds: int) -> None:
        data = rng.choice(target.seeds)
        for _ in range(rounds):
            data = FUZZ.mutate(data, rng, target.seeds, target.tokens)
        with no_hang():
            target.run(data)  # raises on anything but a passing result or a clean refusal

    check()


# ---------------------------------------------------------------- inputs built from structure


SIDES = st.one_of(st.sampled_from([0, 1, 2, 3, 28, 255, 256, 65535, 65536, 2**31 - 1, 2**32 - 1]),
                  st.integers(0, 3000))


@FAST
@given(width=SIDES, height=SIDES, depth=st.sampled_from([1, 2, 4, 8, 16, 3, 0, 255]),
       color=st.sampled_from([0, 2, 3, 4, 6, 1, 7]), payload=st.binary(max_size=200),
       compress=st.booleans())
def test_png_headers(width: int, height: int, depth: int, color: int, payload: bytes, compress: bool) -> None:
    data = FUZZ.png_raw(width, height, zlib.compress(payload) if compress else payload, depth, color)
    img = result_or_refusal(loading.load, data, "x.png")
    if img is not None:
        assert img.original_size == (width, height)
        assert img.pixels.dtype == np.uint8 and img.pixels.size


DTYPES = st.sampled_from([np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32,
                          np.float64, np.bool_, np.complex64, np.uint64])


@FAST
@given(arr=hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40)))
def test_arrays(arr: np.ndarray) -> None:
    img = result_or_refusal(loading.load, arr)
    if img is not None:
        assert img.pixels.dtype == np.uint8 and img.pixels.ndim in (2, 3) and min(img.pixels.shape[:2]) >= 8


@FAST
@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]),
       dims=st.lists(st.one_of(st.integers(0, 5), st.sampled_from([2**31, 2**32 - 1])), max_size=6),
       extra=st.integers(-3, 3))
def test_idx_headers(tmp_path_factory, code: int, dims: list[int], extra: int) -> None:
    size = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(code, 1)
    n = int(np.prod(dims)) * size if dims and max(dims) < 2**20 else 8
    data = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    data += bytes(max(0, n + extra))
    path = tmp_path_factory.mktemp("idx") / "x-idx"
    path.write_bytes(data)
    arr = result_or_refusal(mnist.read_idx, path)
    if arr is not None:
        assert arr.shape == tuple(dims) and max(0, n + extra) == n


CELL = st.lists(st.sampled_from(list("0123456789 ,\"\n\r\t\x00/._-abcé\u2028\\") + ["../", "a_3.png", "7/x.png"]),
               max_size=8).map("".join)


@FAST
@given(header=st.lists(st.sampled_from(["file", "label", "kind", "writer", "x", "", "FILE", " label "]),
                       max_size=6),
       rows=st.lists(st.lists(CELL, max_size=6), max_size=8))
def test_labels_csv_rows(tmp_path_factory, header: list[str], rows: list[list[str]]) -> None:
    root = tmp_path_factory.mktemp("labels")
    for name in ("a_3.png", "7/x.png"):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"png")
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *rows])
    (root / "labels.csv").write_text(buf.getvalue(), encoding="utf-8")
    found = result_or_refusal(labelling.find_labelled, root)
    if found is not None:
        for item in found[0]:
            assert item.path.resolve().is_relative_to(root.resolve()) and item.path.is_file()
            assert labelling.clean_label(item.label) == item.label


NAME_BYTES = st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b
                                                       and b not in (b".", b".."))


@FAST
@given(names=st.lists(NAME_BYTES, min_size=1, max_size=6, unique=True))
def test_sample_folder_names(tmp_path_factory, names: list[bytes]) -> None:
    """Any bytes as file names (not UTF-8, newlines, control characters) in a sample folder."""
    root = tmp_path_factory.mktemp("names")
    crop = FUZZ._crop_png()
    for name in names:
        with open(os.path.join(os.fsencode(root), name + b"_3.png"), "wb") as fh:
            fh.write(crop)
    found, _ = labelling.find_labelled(root)
    assert len(found) == len(names) and {x.label for x in found} == {"3"}
    samples, rejected = teaching.collect([root], preprocessed=True)
    assert len(samples) + len(rejected) == len(names)
    assert all(s.label == 3 for s in samples)


# ---------------------------------------------------------------- hand-made hostile pictures


def crop_png(i: int) -> bytes:
    """A different 28x28 crop for each ``i`` (teaching skips a file it has seen, by content)."""
    crop = np.zeros((28, 28), np.uint8)
    crop[6:22, 10 + i % 8 : 14 + i % 8] = 255
    crop[i % 28, 0] = 255
    return _png_gray(crop)


def _png_gray(img: np.ndarray) -> bytes:
    b = io.BytesIO()
    Image.fromarray(img).save(b, format="PNG")
    return b.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pil(fmt: str, size: tuple[int, int] = (40, 30), mode: str = "L", **kw) -> bytes:
    b = io.BytesIO()
    Image.new(mode, size, 90).save(b, format=fmt, **kw)
    return b.getvalue()


def _gif_screen(w: int, h: int) -> bytes:
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0) + b"," + struct.pack("<HHHH", 0, 0, w, h)
            + b"\0\x02\x02D\x01\0;")


def _tiff_header(w: int, h: int) -> bytes:
    tags = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
            (273, 4, 1, 8), (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, min(w * h, 2**32 - 1))]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *t) for t in tags) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8 + 0) + ifd + bytes(64)


def _jpeg_sof(w: int, h: int) -> bytes:
    jpg = bytearray(_pil("JPEG", (16, 16)))
    i = jpg.index(b"\xff\xc0")
    jpg[i + 5 : i + 9] = struct.pack(">HH", h, w)
    return bytes(jpg)


BOMBS = {
    "png 65535x65535 (4.3 gigapixels)": FUZZ.png_raw(65535, 65535, zlib.compress(bytes(4 << 20), 9)),
    "png 12000x9000 (108 MP)": FUZZ.png_raw(12000, 9000, zlib.compress(bytes(1 << 16))),
    "png 2**31 x 2**31": FUZZ.png_raw(2**31 - 1, 2**31 - 1, zlib.compress(b"")),
    "gif 65535x65535": _gif_screen(65535, 65535),
    "tiff 100000x100000": _tiff_header(100_000, 100_000),
    "jpeg 65500x65500": _jpeg_sof(65500, 65500),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_decompression_bombs_are_refused_before_decoding(name: str) -> None:
    msg = refused(loading.load, BOMBS[name], "bomb.img")
    assert "bomb.img" in msg and ("too large" in msg or "cannot decode" in msg), msg


@pytest.mark.parametrize("chunk", [b"zTXt", b"iCCP", b"iTXt"])
def test_compressed_chunk_bombs(chunk: bytes) -> None:
    """A 4x4 PNG carrying 50 MB of compressed text or colour profile: read, or refused, quickly."""
    body = zlib.compress(bytes(50 << 20), 9)
    payload = {b"zTXt": b"k\0\0" + body, b"iCCP": b"p\0\0" + body, b"iTXt": b"k\0\1\0\0\0" + body}[chunk]
    data = FUZZ.png_raw(4, 4, zlib.compress(b"\0\x80\x80\x80\x80" * 4), extra=_chunk(chunk, payload))
    img = result_or_refusal(loading.load, data, "chunk.png")
    assert img is None or img.original_size == (4, 4)


ZERO = {
    "png 0x0": FUZZ.png_raw(0, 0, zlib.compress(b"")),
    "png 0x7": FUZZ.png_raw(0, 7, zlib.compress(b"\0" * 7)),
    "gif 0x0": _gif_screen(0, 0),
    "tiff 0x0": _tiff_header(0, 0),
    "pgm 0x0": b"P5\n0 0\n255\n",
    "bmp 0x0": b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 0, 0, 1, 24, 0, 0,
                                                                          0, 0, 0, 0),
}


@pytest.mark.parametrize("name", list(ZERO))
def test_images_without_pixels(name: str) -> None:
    refused(loading.load, ZERO[name], "empty.img")
    refused(loading.load_image, ZERO[name], "empty.img")


@pytest.mark.parametrize(("w", "h"), [(1, 1), (1, 2), (3, 1), (1, 65535), (65535, 1), (16, 65535), (65535, 3),
                                      (2, 5000), (1, 255), (300, 2)])
def test_thin_and_tiny_pictures(w: int, h: int) -> None:
    """1xN, Nx1 and 65535-pixel sides: read at full size exactly; the reader either reads them or
    says they are too thin (its working copy of a 2x5000 strip would be 1x2000)."""
    raw = b"".join(b"\0" + bytes([(x * 7 + y) % 256 for x in range(w)]) for y in range(h))
    data = FUZZ.png_raw(w, h, zlib.compress(raw))
    full = loading.load_image(data, "thin.png")
    assert full.shape == (h, w)
    img = result_or_refusal(loading.load, data, "thin.png")
    if img is None:
        assert max(w, h) > 255 or min(w, h) < 8
    result = result_or_refusal(_reader().read, data, "thin.png")
    assert result is None or isinstance(result.text, str)


_READER = []


def _reader():
    from mydigits.reading import Reader

    if not _READER:
        _READER.append(Reader())
    return _READER[0]


FORMATS = {
    "png": _pil("PNG"), "png16": _pil("PNG", mode="I;16"), "jpeg": _pil("JPEG", mode="RGB"),
    "jpeg-progressive": _pil("JPEG", progressive=True), "tiff": _pil("TIFF"),
    "tiff-lzw": _pil("TIFF", mode="RGB", compression="tiff_lzw"),
    "gif": _pil("GIF", mode="P"), "bmp": _pil("BMP", mode="RGB"), "webp": _pil("WEBP", mode="RGB"),
    "ppm": _pil("PPM", mode="RGB"), "ico": _pil("ICO", (32, 32)), "tga": _pil("TGA"),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_truncated_files(fmt: str) -> None:
    data = FORMATS[fmt]
    full = loading.load_image(data, f"x.{fmt}")
    assert full.shape[:2] in ((30, 40), (32, 32))
    for cut in sorted({1, 4, 8, 16, 30, len(data) // 4, len(data) // 2, len(data) - 8, len(data) - 1}):
        img = result_or_refusal(loading.load_image, data[:cut], f"x.{fmt}")
        assert img is None or img.shape[:2] == full.shape[:2]  # a decoder may pad a short tail


@pytest.mark.parametrize(
    ("name", "data", "readable"),
    [
        ("photo.jpg", FORMATS["png"], True),
        ("scan.png", FORMATS["jpeg"], True),
        ("x.tif", FORMATS["gif"], True),
        ("notes.png", b"just some text\n", False),
        ("page.jpg", b"<!doctype html><html><body>hello</body></html>", False),
        ("archive.png", b"PK\x03\x04" + bytes(40), False),
        ("doc.png", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", False),
        ("script.gif", b"#!/bin/sh\nrm -rf /\n", False),
        ("data.bmp", bytes(range(256)) * 4, False),
    ],
)
def test_wrong_extensions(tmp_path: Path, name: str, data: bytes, readable: bool) -> None:
    """The content decides, never the extension."""
    path = tmp_path / name
    path.write_bytes(data)
    if readable:
        assert loading.load_image(path).shape[:2] == (30, 40)
    else:
        assert str(path) in refused(loading.load, path)


def test_symlinks_and_special_files(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    good.write_bytes(FORMATS["png"])
    links = {
        "to_good.png": good,
        "dangling.png": tmp_path / "nowhere.png",
        "loop.png": tmp_path / "loop.png",
        "to_dir.png": tmp_path,
        "to_zero.png": Path("/dev/zero"),
        "to_null.png": Path("/dev/null"),
    }
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    os.mkfifo(tmp_path / "fifo.png")
    assert loading.load_image(tmp_path / "to_good.png").shape == (30, 40)
    assert "file not found" in refused(loading.load, tmp_path / "dangling.png")
    assert "symbolic links" in refused(loading.load, tmp_path / "loop.png")
    assert "folder" in refused(loading.load, tmp_path / "to_dir.png")
    for name in ("to_zero.png", "to_null.png", "fifo.png"):  # would block, or never end
        assert "not a regular file" in refused(loading.load, tmp_path / name)
    assert "folder" in refused(loading.load, tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    assert "empty file" in refused(loading.load, tmp_path / "empty.png")
    assert "cannot read" in refused(loading.load, str(tmp_path / "nul\0.png"))


def test_sample_folder_with_symlinks_and_fifos(tmp_path: Path) -> None:
    root = tmp_path / "samples"
    (root / "3").mkdir(parents=True)
    (root / "a_7.png").write_bytes(crop_png(1))
    (root / "3" / "x.png").write_bytes(crop_png(2))
    (root / "3" / "up").symlink_to(root, target_is_directory=True)  # a loop back up
    (root / "dangling_1.png").symlink_to(tmp_path / "gone.png")
    (root / "self_2.png").symlink_to(root / "self_2.png")
    os.mkfifo(root / "fifo_4.png")
    with no_hang():
        found, skipped = labelling.find_labelled(root)
        samples, rejected = teaching.collect([root, root / "dangling_1.png", root / "fifo_4.png"],
                                             preprocessed=True)
    assert sorted(x.label for x in found) == ["3", "7"]
    assert sorted(s.label for s in samples) == [3, 7]
    assert {Path(r.source).name for r in rejected} >= {"dangling_1.png", "fifo_4.png"}


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    raw_root = os.fsencode(tmp_path)
    os.mkdir(os.path.join(raw_root, b"\xc3(sub"))
    for i, name in enumerate((b"\xff\xfe_3.png", b"caf\xe9_7.png", b"\xc3(sub/\x80\x81_1.png", b"bad\n\xff_2.png")):
        with open(os.path.join(raw_root, name), "wb") as fh:
            fh.write(crop_png(i))
    with open(os.path.join(raw_root, b"broken\xff_5.png"), "wb") as fh:
        fh.write(b"not a picture")
    found, skipped = labelling.find_labelled(tmp_path)
    assert sorted(x.label for x in found) == ["1", "2", "3", "5", "7"] and not skipped
    samples, rejected = teaching.collect([tmp_path], preprocessed=True)
    assert sorted(s.label for s in samples) == [1, 2, 3, 7]
    assert [Path(r.source).name for r in rejected] == [os.fsdecode(b"broken\xff_5.png")]
    img = loading.load_image(os.fsdecode(os.path.join(raw_root, b"\xff\xfe_3.png")))
    assert img.shape == (28, 28)
    msg = refused(loading.load, os.fsdecode(os.path.join(raw_root, b"bad\n\xff_2.png")) + "x")
    assert "\\n" in msg  # the newline in the name is shown escaped: the message stays one line


def test_cli_read_with_hostile_names(tmp_path: Path) -> None:
    """The command line: a non-UTF-8 name that is not a picture, a FIFO, a folder loop: one line
    each on stderr, exit code 1, no traceback, even with a strict UTF-8 stdout."""
    raw = os.fsencode(tmp_path)
    bad = os.path.join(raw, b"\xff\xfe_3.png")
    with open(bad, "wb") as fh:
        fh.write(b"text, not a picture")
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "mydigits", "read", bad, str(tmp_path / "fifo.png"),
                           str(tmp_path / "loop.png")], capture_output=True, env=env, timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 3, err
    assert all(line.startswith("mydigits: ") for line in err.strip().splitlines())


# ---------------------------------------------------------------- hand-made hostile label files


@pytest.mark.parametrize(
    ("text", "labels", "reasons"),
    [
        ("file,label\na_3.png,3\n7/x.png,7\n", ["3", "7"], []),
        ("file,label,kind,writer,extra\na_3.png,3,photo,me,zz,yy,xx\n", ["3"], []),  # extra columns
        ("label,file\n3,a_3.png\n", ["3"], []),  # other order
        ("\ufeffFile , LABEL\r\na_3.png,  3 \r\n", ["3"], []),  # BOM, CRLF, case and spaces
        ("file,label\na_3.png\n7/x.png,\n", [], ["missing columns", "not digits"]),  # missing cells
        ("file,label\na_3.png,x\n", [], ["not digits"]),
        ("file,label\n../../etc/passwd,1\n/etc/passwd,2\n", [], ["outside the folder", "outside the folder"]),
        ("file,label\nnope.png,3\n", [], ["file not found"]),
        ("file,label\na\0.png,3\n" + "x" * 5000 + ".png,4\n", [], ["not a usable file name"] * 2),
        ("file,label\n", [], []),
        ('file,label\n"a_3.png,3\n', [], ["missing columns"]),  # an unclosed quote
    ],
)
def test_label_files(tmp_path: Path, text: str, labels: list[str], reasons: list[str]) -> None:
    for name in ("a_3.png", "7/x.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "labels.csv").write_text(text, encoding="utf-8")
    found, skipped = labelling.find_labelled(tmp_path)
    assert [x.label for x in found] == labels
    assert len(skipped) == len(reasons) and all(r in s.reason for r, s in zip(reasons, skipped, strict=True))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"name,digit\na_3.png,3\n", "header"),  # no file,label columns
        (b"\xff\xfe\x00f\x00i\x00l\x00e", "cannot read"),  # UTF-16, not UTF-8
        (b"file,label\na_3.png," + b"1" * 200_000 + b"\n", "not a valid CSV"),  # over the field limit
    ],
)
def test_unusable_label_files(tmp_path: Path, data: bytes, words: str) -> None:
    (tmp_path / "labels.csv").write_bytes(data)
    assert words in refused(labelling.find_labelled, tmp_path)


def test_teach_inputs_never_crash_on_a_hostile_folder(tmp_path: Path) -> None:
    """teaching.collect over all of the above at once: every bad file is listed, never fatal."""
    root = tmp_path / "mix"
    root.mkdir()
    for name, data in {**{f"bomb{i}_1.png": d for i, d in enumerate(BOMBS.values())},
                       **{f"zero{i}_2.png": d for i, d in enumerate(ZERO.values())},
                       "cut_3.png": FORMATS["png"][:40], "text_4.jpg": b"hello",
                       "good_5.png": crop_png(0)}.items():
        (root / name).write_bytes(data)
    with no_hang(60):
        samples, rejected = teaching.collect([root], preprocessed=True)
    assert [s.label for s in samples] == [5]
    assert len(rejected) == len(BOMBS) + len(ZERO) + 2
    assert all(r.reason and "\n" not in r.reason for r in rejected)
