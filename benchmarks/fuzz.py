"""Bounded mutation fuzzing of everything mydigits parses from its users.

    python benchmarks/fuzz.py [--execs 100000] [--seconds 600] [--targets image,crop,...] [--seed 0]
                              [--jobs 1] [--out fuzz-out] [--json]
    python benchmarks/fuzz.py --replay TARGET FILE     # run one saved input again, with its traceback

Targets (each the project's own code, called as the CLI, the web app and teaching call it):

* ``image``: ``loading.load`` / ``load_image`` on bytes (PNG, JPEG, TIFF, GIF, BMP, WebP, PNM, ICO,
  TGA, PCX, SGI, JPEG 2000, AVIF... and hand-made 0x0, 1xN, 65535-side and bomb headers);
* ``crop``: ``teaching.load_crop``, the path that ``teach --preprocessed`` and the web app's
  samples take;
* ``idx``: ``mnist.read_idx``;
* ``labels``: ``labelling.find_labelled`` and ``teaching.find_inputs``/``collect`` on a folder whose
  ``labels.csv`` is the input, or whose file names (bytes, not always UTF-8) are;
* ``samples``: ``store.load_samples`` on a model version's ``samples/labels.csv``, and
  ``store.active`` on a mangled ``ACTIVE`` file;
* ``model``: ``modelio.load`` on mutated safetensors weights (with metadata that vouches for them, so
  the parser is reached, not just the checksum), on mutated metadata JSON, and ``store.describe`` /
  ``format_table`` on a store holding that metadata.

An input passes when the call returns a result that satisfies the target's checks (shapes, ranges,
paths inside the folder...) or raises ``MydigitsError`` with one non-empty line. Anything else is a
crash, saved under ``--out`` with its traceback. Each target runs in a child process that the parent
watches: no progress for ``--hang`` seconds is a hang (the input being run is saved and the child
restarted), and a child that dies (a segfault in a decoder) is a crash too.

Mutation: byte flips, interesting integers (0, 1, 255, 65535, 2**31...), insertions, deletions,
duplicated and spliced ranges, target dictionaries (PNG chunk names, CSV and JSON tokens, ``../``),
PNG checksums repaired half of the time so that mutated chunks reach the decoder. An input whose
outcome has not been seen before (a new error message, a new image mode...) joins the corpus.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import mmap
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

# ------------------------------------------------------------------------------------ the checks


class Refused(Exception):
    """Not a failure: the target refused the input with a proper MydigitsError."""


def check_refusal(exc: BaseException) -> str:
    """A MydigitsError must be one non-empty line. Returns its outcome signature."""
    msg = str(exc)
    if not msg.strip() or "\n" in msg or "\r" in msg:
        raise AssertionError(f"MydigitsError message is not one line: {msg[:200]!r}")
    # signature: the message without paths, numbers and quoted text, so "new" means a new kind
    sig = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)|\S*/\S*|\d+", "#", msg)
    return "refused:" + sig[:80]


def inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


@dataclass
class Target:
    name: str
    seeds: list[bytes]
    run: Callable[[bytes], str]  # returns an outcome signature; raises on a crash
    tokens: list[bytes] = field(default_factory=list)


def _call(fn: Callable[[], str]) -> str:
    from mydigits.errors import MydigitsError

    try:
        return fn()
    except MydigitsError as exc:
        return check_refusal(exc)


# ------------------------------------------------------------------------------------ seeds


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_raw(width: int, height: int, idat: bytes, depth: int = 8, color: int = 0, extra: bytes = b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + extra + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def fix_png_crcs(data: bytes) -> bytes:
    """Recompute every chunk checksum of a PNG (as far as its chunk lengths hold together)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    out, pos = bytearray(data[:8]), 8
    while pos + 12 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 8 + n
        if end + 4 > len(data):
            break
        kind_and_data = data[pos + 4 : end]
        out += data[pos : pos + 4] + kind_and_data + struct.pack(">I", zlib.crc32(kind_and_data))
        pos = end + 4
    return bytes(out + data[pos:])


def image_seeds() -> list[bytes]:
    """Small pictures in every format Pillow writes, in every mode the loader converts, plus
    hand-made headers: 0x0, 1x65535, 65535x1, 65535x65535, a compressed-text bomb."""
    import numpy as np
    from PIL import Image

    gray = Image.fromarray((np.arange(12 * 9).reshape(9, 12) * 2).astype(np.uint8))
    rgb = Image.merge("RGB", [gray, gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gray])
    seeds: list[bytes] = []

    def save(im: Image.Image, fmt: str, **kw: object) -> None:
        b = io.BytesIO()
        try:
            im.save(b, format=fmt, **kw)
        except (OSError, ValueError, KeyError):
            return
        seeds.append(b.getvalue())

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the loader turns it upright
    save(gray, "PNG")
    save(rgb.convert("RGBA"), "PNG")
    save(rgb.convert("P"), "PNG", transparency=0)
    save(gray.convert("I;16"), "PNG")
    save(gray.convert("1"), "PNG")
    save(gray.convert("LA"), "PNG")
    save(rgb, "JPEG", quality=70, exif=exif)
    save(gray, "JPEG", progressive=True)
    save(rgb.convert("CMYK"), "JPEG")
    save(gray, "TIFF")
    save(rgb, "TIFF", compression="tiff_lzw")
    save(gray, "TIFF", compression="packbits")
    save(gray.convert("I;16"), "TIFF")
    save(gray.convert("F"), "TIFF")
    save(gray.convert("P"), "GIF", save_all=True, append_images=[gray.convert("P")], transparency=0)
    save(rgb, "BMP")
    save(gray.convert("1"), "BMP")
    save(rgb, "WEBP", quality=50)
    save(rgb.convert("RGBA"), "WEBP", lossless=True)
    save(rgb, "PPM")
    save(gray, "PPM")
    save(gray.convert("1"), "PPM")
    for fmt in ("ICO", "TGA", "PCX", "SGI", "JPEG2000", "AVIF", "DDS"):
        save(rgb, fmt)
    seeds.append(b"P5\n12 9\n65535\n" + bytes(range(216)))  # 16-bit PGM
    seeds.append(b"P2\n3 2\n255\n0 128 255\n255 128 0\n")  # text PGM
    seeds += [
        png_raw(0, 0, zlib.compress(b"")),
        png_raw(65535, 1, zlib.compress(b"\0" + b"\x80" * 65535)),
        png_raw(1, 65535, zlib.compress(b"\0\x80" * 65535)),
        png_raw(65535, 65535, zlib.compress(b"\0" * 64)),
        png_raw(4, 4, zlib.compress(b"\0\x10\x20\x30\x40" * 4),
                extra=_png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"A" * 5_000_000))),
        png_raw(4, 4, zlib.compress(b"\0" * 20),
                extra=_png_chunk(b"iCCP", b"p\0\0" + zlib.compress(b"\0" * 5_000_000))),
        b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + b",\0\0\0\0\xff\xff\xff\xff\0\x02\x02D\x01\0;",
        b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 0, 0, 1, 24, 0, 16, 0, 0, 0, 0)
        + bytes(16),
    ]
    return seeds


def crop_seeds() -> list[bytes]:
    import cv2
    import numpy as np

    crop = np.zeros((28, 28), np.uint8)
    cv2.line(crop, (14, 5), (14, 22), 255, 3)
    out = [cv2.imencode(ext, crop)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp", ".pgm")]
    out.append(cv2.imencode(".png", crop.astype(np.uint16) * 257)[1].tobytes())
    out.append(png_raw(28, 28, zlib.compress(b"\0" * 29 * 28)))
    return out


def idx_seeds() -> list[bytes]:
    import numpy as np

    def idx(code: int, arr: np.ndarray) -> bytes:
        return bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes()

    return [
        idx(0x08, np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)),
        idx(0x08, np.array([1, 2, 3, 4, 5], np.uint8)),
        idx(0x09, np.array([-1, 2, -3], np.int8)),
        idx(0x0B, np.array([1, -2, 300], ">i2")),
        idx(0x0C, np.array([1, -2, 70000], ">i4")),
        idx(0x0D, np.array([1.5, -2.0], ">f4")),
        idx(0x0E, np.array([1.5, float("nan")], ">f8")),
        idx(0x08, np.zeros((1, 2, 2, 2), np.uint8)),
        idx(0x08, np.zeros((0, 28, 28), np.uint8)),
    ]


# ------------------------------------------------------------------------------------ mutation

INTERESTING = [0, 1, 2, 7, 8, 16, 28, 127, 128, 255, 256, 1000, 4096, 32767, 32768, 65535, 65536,
               0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
COMMON_TOKENS = [b"\x00", b"\xff", b"\xff\xfe", b"\r\n", b"\n", b"../", b"/", b"\\", b"%s", b"\xc3\xa9",
                 b"\xed\xb3\xbf", b"-1", b"9" * 40]


def mutate(data: bytes, rng: random.Random, corpus: list[bytes], tokens: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 10))):
        n = len(b)
        op = rng.randrange(12)
        pos = rng.randrange(n + 1) if n else 0
        if op == 0 and n:  # flip a bit
            b[min(pos, n - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # a random byte
            b[min(pos, n - 1)] = rng.randrange(256)
        elif op == 2 and n >= 2:  # an interesting integer, 1/2/4 bytes, either endianness
            width = rng.choice((1, 2, 4))
            v = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            p = min(pos, max(0, n - width))
            b[p : p + width] = v.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3:  # insert random bytes
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 4 and n:  # delete a range
            del b[pos : pos + rng.randint(1, max(1, min(64, n // 4 + 1)))]
        elif op == 5 and n:  # duplicate a range
            start = rng.randrange(n)
            chunk = b[start : start + rng.randint(1, 256)]
            b[pos:pos] = chunk * rng.choice((1, 1, 2, 16))
        elif op == 6 and n > 1:  # truncate
            del b[rng.randrange(1, n) :]
        elif op == 7 and corpus:  # splice in part of another input
            other = rng.choice(corpus)
            if other:
                s = rng.randrange(len(other))
                b[pos:pos] = other[s : s + rng.randint(1, 512)]
        elif op in (8, 9):  # a dictionary token, inserted or overwriting
            tok = rng.choice(tokens + COMMON_TOKENS)
            if op == 8:
                b[pos:pos] = tok
            else:
                b[pos : pos + len(tok)] = tok
        elif op == 10 and n:  # a run of one byte
            b[pos:pos] = bytes([rng.choice((0, 0xFF, 0x20, ord("9")))]) * rng.choice((3, 100, 5000))
        elif op == 11 and n >= 4:  # swap two ranges
            i, j = sorted(rng.sample(range(n), 2))
            k = rng.randint(1, min(32, j - i) if j > i else 1)
            b[i : i + k], b[j : j + k] = b[j : j + k], b[i : i + k]
    out = bytes(b[: 4 << 20])
    if out.startswith(b"\x89PNG") and rng.random() < 0.5:
        out = fix_png_crcs(out)
    return out


# ------------------------------------------------------------------------------------ targets


def image_target(work: Path) -> Target:
    import numpy as np

    from mydigits import loading

    def run(data: bytes) -> str:
        def go() -> str:
            full = len(data) % 3 == 0  # a third at full size, as load_image gives
            img = loading.load(data, "fuzz", work_side=None) if full else loading.load(data, "fuzz")
            px = img.pixels
            assert px.dtype == np.uint8 and px.size > 0, (px.dtype, px.shape)
            assert px.ndim == 2 or (px.ndim == 3 and px.shape[2] == 3), px.shape
            assert img.original_size[0] >= 1 and img.original_size[1] >= 1, img.original_size
            assert np.isfinite(img.scale) and img.scale > 0, img.scale
            if not full:
                assert max(px.shape[:2]) <= loading.WORK_SIDE * 1.1 + 1, px.shape
            return f"ok:{px.ndim}:{min(px.shape[:2]) == 1}:{full}"

        return _call(go)

    return Target("image", image_seeds(), run,
                  [b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"iCCP", b"zTXt", b"eXIf", b"acTL", b"fcTL",
                   b"\xff\xd8", b"\xff\xc0", b"\xff\xda", b"\xff\xe1", b"Exif\0\0", b"II*\0", b"MM\0*",
                   b"GIF89a", b"NETSCAPE2.0", b"BM", b"RIFF", b"WEBPVP8 ", b"P5\n", b"\x01\x12"])


def crop_target(work: Path) -> Target:
    import numpy as np

    from mydigits import teaching

    path = work / "crop_7.png"

    def run(data: bytes) -> str:
        path.write_bytes(data)

        def go() -> str:
            crop = teaching.load_crop(path)
            assert crop.shape == (28, 28) and crop.dtype == np.float32, (crop.shape, crop.dtype)
            assert float(crop.min()) >= 0.0 and float(crop.max()) <= 1.0
            return "ok"

        return _call(go)

    return Target("crop", crop_seeds(), run, [b"IHDR", b"IDAT", b"\xff\xd8", b"BM", b"II*\0", b"RIFF"])


def idx_target(work: Path) -> Target:
    import numpy as np

    from mydigits import mnist

    path = work / "fuzz-idx"

    def run(data: bytes) -> str:
        path.write_bytes(data)

        def go() -> str:
            arr = mnist.read_idx(path)
            assert isinstance(arr, np.ndarray) and arr.ndim == data[3], (arr.shape, data[:4])
            assert arr.nbytes == len(data) - 4 - 4 * data[3]
            return f"ok:{arr.dtype}:{arr.ndim}"

        return _call(go)

    return Target("idx", idx_seeds(), run, [b"\0\0\x08\x03", b"\0\0\x08\x01", b"\0\0\x0d\x01", b"\0\0\0\x1c"])


def _crop_png() -> bytes:
    import cv2
    import numpy as np

    crop = np.zeros((28, 28), np.uint8)
    cv2.circle(crop, (14, 14), 8, 255, 3)
    return cv2.imencode(".png", crop)[1].tobytes()


def labels_target(work: Path) -> Target:
    """Input byte 0 picks the mode: even, the rest is ``labels.csv`` (beside a few fixed files);
    odd, the rest is a list of file names (bytes, one per line; ``d/name`` puts it in a subfolder).
    ``teaching.find_inputs`` runs on every 4th input and ``teaching.collect`` on every 16th (they
    walk the same folder again, and decode every crop)."""
    from mydigits import labelling, teaching

    crop = _crop_png()
    csv_root, names_root = work / "csv", work / "names"
    for name in ["a_3.png", "b_12.jpg", "7/x.png", "sub/c_5.png", "notes.txt"]:
        (csv_root / name).parent.mkdir(parents=True, exist_ok=True)
        (csv_root / name).write_bytes(crop)
    count = 0

    def files_from(names: bytes) -> None:
        shutil.rmtree(names_root, ignore_errors=True)
        names_root.mkdir()
        for raw in names.split(b"\n")[:12]:
            raw = raw.replace(b"\0", b"").strip(b"/")[:200]
            parts = [p for p in raw.split(b"/") if p not in (b"", b".", b"..")][:3]
            if not parts:
                continue
            target = os.path.join(os.fsencode(names_root), *parts)
            with contextlib.suppress(OSError):
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with open(target, "wb") as fh:
                    fh.write(crop)

    def run(data: bytes) -> str:
        nonlocal count
        count += 1
        names_mode = bool(data[:1]) and data[0] % 2 == 1
        if names_mode:
            files_from(data[1:])
            root = names_root
        else:
            (csv_root / "labels.csv").write_bytes(data[1:])
            root = csv_root

        def go() -> str:
            found, skipped = labelling.find_labelled(root)
            for item in found:
                assert inside(item.path, root) and item.path.is_file(), item.path
                assert labelling.clean_label(item.label) == item.label, item.label
            if count % 4 == 0:
                labelled, _ = teaching.find_inputs([root])
                assert len(labelled) == len(found)
            if count % 16 == 0:
                samples, _ = teaching.collect([root], preprocessed=True)
                assert all(s.crop.shape == (28, 28) and 0 <= s.label <= 9 for s in samples)
            return f"ok:{min(len(found), 3)}:{min(len(skipped), 3)}:{names_mode}"

        return _call(go)

    seeds = [
        b"\0file,label\na_3.png,3\n7/x.png,7\nb_12.jpg,12\n",
        b"\0\xef\xbb\xbffile,label,kind,writer\n\"a_3.png\",\" 3 \",photo,me\nsub/c_5.png,5 5,,\n",
        b"\0file,label\n../outside.png,3\n/etc/passwd,1\na_3.png\n,,\nnotes.txt,x\n",
        b"\0label,file,extra\n3,a_3.png,zz,yy\n",
        b"\1a_3.png\nb_12.jpg\n7/x.png\n\xff\xfe_4.png\n3/\xe9t\xe9.png\n1234.png\nlabels.csv\n",
        b"\1nolabel.png\nx_.png\n_9.gif\n0/0/0.png\n",
    ]
    return Target("labels", seeds, run, [b"file", b"label", b"kind", b"writer", b",", b'"', b"\n", b".png",
                                          b"_3", b"7/", b"labels.csv"])


def _make_store_version(home: Path, name: str) -> Path:
    """A version ``name`` in the store at ``home`` (a real softmax model) and its folder."""
    import torch

    from mydigits import modelio, models

    torch.manual_seed(0)
    folder = home / "models" / name
    folder.mkdir(parents=True, exist_ok=True)
    modelio.save(models.build("softmax"), folder / "model",
                 {"arch": "softmax", "date": "2026-11-22T00:00:00+00:00",
                  "teach": {"base": "default", "samples_new": 3, "samples_total": 3,
                            "report": {"taught": {"before": 0.5, "after": 1.0, "n": 3},
                                       "mnist": {"before": 0.9, "after": 0.9, "n": 100}}}})
    return folder


def samples_target(work: Path) -> Target:
    """Byte 0 even: the rest is version v1's ``samples/labels.csv``; odd: the ``ACTIVE`` file."""
    import numpy as np

    from mydigits import modelio, paths, store

    home = paths.home()
    folder = _make_store_version(home, "v1")
    (folder / "samples").mkdir(exist_ok=True)
    crop = _crop_png()
    (folder / "samples" / "000000.png").write_bytes(crop)
    (folder / "samples" / "000001.png").write_bytes(b"not a png")

    def run(data: bytes) -> str:
        if data[:1] and data[0] % 2:
            (home / "models" / "ACTIVE").write_bytes(data[1:])

            def active() -> str:
                name = store.active()
                assert name == store.DEFAULT or store.exists(name), name
                p = modelio.default_model_path()
                assert inside(p.parent, home / "models") or p.parent == paths.shipped_weights_dir(), p
                return f"ok:active:{name}"

            return _call(active)
        (folder / "samples" / "labels.csv").write_bytes(data[1:])

        def go() -> str:
            out = store.load_samples("v1")
            for s in out:
                assert s.crop.shape == (28, 28) and 0 <= s.label <= 9 and isinstance(s.part, int)
                assert all(isinstance(v, str) for v in (s.source, s.sha256, s.origin, s.role))
                assert np.isfinite(s.crop).all()
            return f"ok:{min(len(out), 4)}"

        return _call(go)

    header = b"file,label,source,sha256,part,origin,role\n"
    seeds = [
        b"\0" + header + b"000000.png,3,a_3.png,ab12,0,v1,train\n000001.png,7,b.png,cd,1,v1,validation\n",
        b"\0" + header + b"000002.png,x,,,,,\n000003.png,4,a,b,0,v1,train\n000009.png,1\n",
        b"\0file,label\n000000.png,12\n../000001.png,1\n",
        b"\1v1\n",
        b"\1../../etc\n",
    ]
    return Target("samples", seeds, run, [header, b"000000.png", b",", b'"', b"\n", b"v1", b"default"])


def model_target(work: Path) -> Target:
    """Byte 0 mod 3: 0, the rest is the weights file and the metadata vouches for it (its SHA-256
    is right) so the safetensors parser and the shape checks are what is tested; 1, the rest is the
    metadata JSON of a real model (also put in the store, for ``models list``); 2, the rest is the
    weights file with stale metadata (the checksum must refuse it)."""
    import torch

    from mydigits import modelio, models, paths, store

    torch.manual_seed(0)
    modelio.save(models.build("softmax"), work / "base", {"arch": "softmax", "temperature": 1.3})
    weights = (work / "base.safetensors").read_bytes()
    meta = json.loads((work / "base.json").read_text())
    modelio.save(models.build("mlp"), work / "mlp", {"arch": "mlp"})
    mlp_weights = (work / "mlp.safetensors").read_bytes()
    home = paths.home()
    version = _make_store_version(home, "v1")
    store_meta = (version / "model.json").read_bytes()
    pwned = work / "PWNED"

    class Boom:
        def __reduce__(self) -> tuple:
            return (Path.touch, (pwned,))

    import pickle  # only to build a hostile seed: the project must never unpickle it

    pickled = pickle.dumps(Boom())
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    path = work / "m"

    shapes: dict[str, dict[str, tuple]] = {}
    count = 0

    def check_loaded(model: torch.nn.Module, got: dict) -> None:
        if got["arch"] not in shapes:
            shapes[got["arch"]] = {k: tuple(v.shape) for k, v in models.build(got["arch"]).state_dict().items()}
        have = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        assert have == shapes[got["arch"]]
        t = got.get("temperature", 1.0)
        assert isinstance(t, (int, float)) and 0 < t < float("inf")

    def run(data: bytes) -> str:
        nonlocal count
        count += 1
        mode, body = (data[0] % 3, data[1:]) if data else (0, b"")
        listing_too = mode == 1 and count % 4 == 0
        if listing_too:
            (version / "model.json").write_bytes(body)
        if mode == 1:
            (work / "m.safetensors").write_bytes(weights)
            (work / "m.json").write_bytes(body)
        else:
            (work / "m.safetensors").write_bytes(body)
            m = dict(meta, weights_sha256=hashlib.sha256(body).hexdigest()) if mode == 0 else meta
            (work / "m.json").write_text(json.dumps(m))

        def go() -> str:
            model, got = modelio.load(path)
            check_loaded(model, got)
            return f"ok:{mode}:{got['arch']}"

        out = _call(go)
        assert not pwned.exists(), "a pickle was executed"
        if listing_too:  # the store must list a version whose metadata lies, not crash on it
            def listing() -> str:
                rows = store.describe()
                assert isinstance(store.format_table(rows), str)
                store.names()
                return "ok"

            _call(listing)
            (version / "model.json").write_bytes(store_meta)
        return out

    seeds = [b"\0" + weights, b"\0" + mlp_weights, b"\0" + pickled, b"\0" + buf.getvalue(),
             b"\1" + (work / "base.json").read_bytes(), b"\1" + store_meta, b"\2" + weights,
             b'\0{"__metadata__":{"a":"b"},"0.w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}']
    seeds[-1] = b"\0" + struct.pack("<Q", len(seeds[-1]) - 1) + seeds[-1][1:] + bytes(8)
    return Target("model", seeds, run,
                  [b'"arch"', b'"softmax"', b'"mlp"', b'"net"', b'"temperature"', b"NaN", b"1e999", b"-0",
                   b"null", b"true", b"[", b"{", b"}", b'"dtype"', b'"F64"', b'"I64"', b'"BOOL"', b'"shape"',
                   b'"data_offsets"', b'"__metadata__"', b'"weights_sha256"', b'"preprocessing_version"',
                   b'"teach"', b'"report"', b'"date"', b"9" * 5000])


TARGETS: dict[str, Callable[[Path], Target]] = {
    "image": image_target,
    "crop": crop_target,
    "idx": idx_target,
    "labels": labels_target,
    "samples": samples_target,
    "model": model_target,
}


# ------------------------------------------------------------------------------------ the child

# status block shared with the parent: execs, ok, refused, crashes, corpus size, input length; then
# "ready" (the child's set-up is done); then the input being run
_HEAD = struct.Struct("<QQQQQQ")
_READY = struct.Struct("<Q")
_READY_AT = _HEAD.size
_DATA_AT = _HEAD.size + _READY.size
_STATUS_BYTES = _DATA_AT + (4 << 20)


def _quiet_child() -> None:
    """One thread, and decoder chatter (libpng, OpenCV) to a log file instead of the terminal."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    import warnings

    warnings.simplefilter("ignore")


def crash_signature(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "mydigits" in f.filename and "benchmarks" not in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__}@{where}"


def child(args: argparse.Namespace) -> None:
    _quiet_child()
    work = Path(args.work)
    target = TARGETS[args.child](work)
    out = Path(args.out) / target.name
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    fd = os.open(args.status, os.O_RDWR)
    status = mmap.mmap(fd, _STATUS_BYTES)
    execs, ok, refused, crashes, _, _ = _HEAD.unpack_from(status, 0)
    corpus = list(target.seeds)  # inputs that were read (and the seeds)
    odd: list[bytes] = []  # inputs refused in a way not seen before
    seen: set[str] = set()
    known_crashes = {p.stem.split("-", 1)[1] for p in out.glob("crash-*.txt")}
    deadline = time.monotonic() + args.seconds
    queue = list(corpus) if execs == 0 else []  # every seed once as it is, first
    _READY.pack_into(status, _READY_AT, 1)
    while execs < args.execs and time.monotonic() < deadline:
        if queue:
            data = queue.pop(0)
        else:  # mostly from what was read: mutating refused input mostly finds more refusals
            base = rng.choice(odd) if odd and rng.random() < 0.25 else rng.choice(corpus)
            data = mutate(base, rng, corpus + odd, target.tokens)
        status[_DATA_AT : _DATA_AT + len(data)] = data
        _HEAD.pack_into(status, 0, execs, ok, refused, crashes, len(corpus) + len(odd), len(data))
        try:
            sig = target.run(data)
        except Exception as exc:  # a crash: anything but a result that passes, or MydigitsError
            crashes += 1
            key = re.sub(r"[^A-Za-z0-9_.@:-]", "_", crash_signature(exc))
            if key not in known_crashes:
                known_crashes.add(key)
                digest = hashlib.sha256(data).hexdigest()[:12]
                (out / f"crash-{key}.bin").write_bytes(data)
                (out / f"crash-{key}.txt").write_text(
                    f"input: crash-{key}.bin ({len(data)} bytes, sha256 {digest}...)\n"
                    + "".join(traceback.format_exception(exc))
                )
            sig = "crash:" + key
        else:
            if sig.startswith("ok"):
                ok += 1
            else:
                refused += 1
        execs += 1
        if sig not in seen:
            seen.add(sig)
            pool = corpus if sig.startswith("ok") else odd
            if len(pool) < 300:
                pool.append(data)
    _HEAD.pack_into(status, 0, execs, ok, refused, crashes, len(corpus) + len(odd), 0)
    status.flush()


# ------------------------------------------------------------------------------------ the parent


@dataclass
class Result:
    target: str
    execs: int = 0
    ok: int = 0
    refused: int = 0
    crashes: int = 0
    unique_crashes: int = 0
    hangs: int = 0
    deaths: int = 0
    seconds: float = 0.0
    corpus: int = 0
    capped: bool = False


def run_target(name: str, args: argparse.Namespace, out: Path) -> Result:
    """Run target ``name`` in child processes until ``--execs`` or ``--seconds``; a child that stops
    making progress is killed (a hang), one that dies is a crash; either way a new one goes on."""
    res = Result(name)
    with tempfile.NamedTemporaryFile(prefix="mydigits-fuzz-", delete=False, dir=_scratch()) as fh:
        fh.truncate(_STATUS_BYTES)
        status_path = fh.name
    fd = os.open(status_path, os.O_RDWR)
    status = mmap.mmap(fd, _STATUS_BYTES)
    start = time.monotonic()
    restarts = 0
    log = open(out / f"{name}.log", "ab")  # noqa: SIM115 (the children's stderr, kept open)
    try:
        while True:
            left = args.seconds - (time.monotonic() - start)
            execs = _HEAD.unpack_from(status, 0)[0]
            if execs >= args.execs or left <= 1:
                res.capped = execs < args.execs
                break
            if restarts > 100:
                raise SystemExit(f"{name}: the child keeps failing, see {out / (name + '.log')}")
            with tempfile.TemporaryDirectory(prefix=f"mydigits-fuzz-{name}-", dir=_scratch()) as work:
                env = {**os.environ, "MYDIGITS_HOME": str(Path(work) / "home"), "OMP_NUM_THREADS": "1",
                       "OMP_WAIT_POLICY": "PASSIVE", "PYTHONHASHSEED": "0"}
                cmd = [sys.executable, __file__, "--child", name, "--status", status_path, "--work", work,
                       "--out", str(out), "--seed", str(args.seed * 1000 + restarts),
                       "--execs", str(args.execs), "--seconds", str(left)]
                _READY.pack_into(status, _READY_AT, 0)
                proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
                hung, last, since = False, execs, time.monotonic()
                while proc.poll() is None:
                    time.sleep(0.2)
                    now = _HEAD.unpack_from(status, 0)[0]
                    ready = _READY.unpack_from(status, _READY_AT)[0]
                    if now != last or not ready:
                        last, since = now, time.monotonic()
                        if not ready and since - start > args.seconds + 300:  # set-up itself stuck
                            hung = True
                    if hung or (ready and time.monotonic() - since > args.hang):
                        proc.kill()
                        proc.wait()
                        hung = True
                        break
                restarts += 1
                if hung:
                    res.hangs += 1
                    _save_current(status, out / name, f"hang-{res.hangs}")
                elif proc.returncode != 0:  # died by itself: a segfault or an abort in native code
                    res.deaths += 1
                    _save_current(status, out / name, f"death-{res.deaths}-rc{proc.returncode}")
                if hung or proc.returncode != 0:  # count the input that was running, and go on
                    e, o, r, c, n, _ = _HEAD.unpack_from(status, 0)
                    _HEAD.pack_into(status, 0, e + 1, o, r, c, n, 0)
    finally:
        log.close()
        e, o, r, c, n, _ = _HEAD.unpack_from(status, 0)
        res.execs, res.ok, res.refused, res.crashes, res.corpus = e, o, r, c, n
        res.seconds = round(time.monotonic() - start, 1)
        res.unique_crashes = len(list((out / name).glob("crash-*.txt"))) if (out / name).is_dir() else 0
        status.close()
        os.close(fd)
        os.unlink(status_path)
    return res


def _scratch() -> str | None:
    """A RAM file system for the targets' files when there is one: on a disk, creating and deleting
    the files of a sample folder costs ten times what parsing them does."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _save_current(status: mmap.mmap, folder: Path, stem: str) -> None:
    n = _HEAD.unpack_from(status, 0)[5]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.bin").write_bytes(bytes(status[_DATA_AT : _DATA_AT + n]))


def replay(name: str, file: str) -> int:
    _quiet_child()
    with tempfile.TemporaryDirectory(dir=_scratch()) as work:
        os.environ["MYDIGITS_HOME"] = str(Path(work) / "home")
        target = TARGETS[name](Path(work))
        data = Path(file).read_bytes()
        t0 = time.perf_counter()
        print(target.run(data), f"({time.perf_counter() - t0:.3f} s)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--execs", type=int, default=100_000, help="executions per target")
    p.add_argument("--seconds", type=float, default=600.0, help="time cap per target")
    p.add_argument("--hang", type=float, default=10.0, help="seconds without progress that make a hang")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time (one process each)")
    p.add_argument("--out", default="fuzz-out", help="crashes, hangs and the children's logs")
    p.add_argument("--json", action="store_true")
    p.add_argument("--replay", nargs=2, metavar=("TARGET", "FILE"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--status", help=argparse.SUPPRESS)
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return 0
    if args.replay:
        return replay(*args.replay)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    names = [t for t in args.targets.split(",") if t]
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        p.error(f"unknown target(s): {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    def row(r: Result) -> str:
        return (f"{r.target:<8} {r.execs:>8} {r.seconds:>6.0f} {r.execs / max(r.seconds, 1e-9):>7.0f} {r.ok:>7} "
                f"{r.refused:>8} {r.crashes:>7} {r.unique_crashes:>6} {r.hangs:>5} {r.deaths:>6} {r.corpus:>6}"
                + ("  (time cap reached)" if r.capped else ""))

    header = (f"{'target':<8} {'execs':>8} {'secs':>6} {'exec/s':>7} {'ok':>7} {'refused':>8} "
              f"{'crashes':>7} {'unique':>6} {'hangs':>5} {'deaths':>6} {'corpus':>6}")
    t0 = time.monotonic()
    if not args.json:
        print(header, flush=True)
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # each thread only watches its child
        futures = {pool.submit(run_target, name, args, out): name for name in names}
        for fut in as_completed(futures):
            results.append(fut.result())
            if not args.json:
                print(row(results[-1]), flush=True)
    results.sort(key=lambda r: names.index(r.target))
    if not args.json and len(results) > 1:
        print(f"total: {sum(r.execs for r in results)} executions in {time.monotonic() - t0:.0f} s, "
              f"{sum(r.crashes + r.deaths for r in results)} crashes, {sum(r.hangs for r in results)} hangs")
    if args.json:
        print(json.dumps([r.__dict__ for r in results], indent=2))
    bad = sum(r.crashes + r.hangs + r.deaths for r in results)
    if bad and not args.json:
        print(f"failures saved under {out}/<target>/ (replay: python {sys.argv[0]} --replay TARGET FILE)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
