"""Step 1 of reading: turn a file, bytes or array into pixels the pipeline can work on.

Whatever Pillow can open is accepted. The picture is turned upright as the camera recorded it (EXIF
orientation), transparency is composited onto white, 16-bit and palette images become 8-bit, and an
animated GIF gives its first frame. Big photos are decoded at reduced size (JPEG ``draft`` mode,
much faster than decoding every pixel) because handwriting does not need 12 megapixels; the scale is
kept so boxes can be reported in the original (upright) pixels. Anything unreadable becomes a
one-line :class:`MydigitsError` that names the file.
"""

from __future__ import annotations

import io
import os
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mydigits.errors import MydigitsError

# Refuse images bigger than this (decompression bombs, absurd scans) before decoding them.
MAX_PIXELS = 100_000_000
# Refuse files bigger than this without reading them (an uncompressed 100 MP RGB TIFF is 300 MB).
MAX_FILE_BYTES = 1_000_000_000
# Long side, in pixels, of the image the pipeline works on. Photos bigger than this are reduced;
# a digit that is readable by eye on a phone screen stays well above MNIST's 20 pixels.
WORK_SIDE = 2000
# Size of the first, quick look at a big photo (a quarter-size JPEG decode of a 12 MP photo);
# the reader goes up to WORK_SIDE only if the handwriting turns out to be small.
QUICK_SIDE = 1000
# Tiny crops are enlarged to this long side so morphology sizes stay meaningful.
MIN_WORK_SIDE = 256
# Working images with a short side under this, or longer than MAX_ASPECT times it, are refused:
# a digit so small cannot be read.
MIN_WORK_SHORT = 8
MAX_ASPECT = 256

Source = str | os.PathLike[str] | bytes | bytearray | np.ndarray


@dataclass
class LoadedImage:
    """Pixels to process plus how they map back to the original picture."""

    pixels: np.ndarray  # uint8, (H, W) gray or (H, W, 3) RGB
    scale: float  # original (upright) pixels per working pixel
    original_size: tuple[int, int]  # (width, height) after EXIF orientation
    name: str


def source_name(source: Source, name: str | None = None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return "<array>" if isinstance(source, np.ndarray) else "<bytes>"


def one_line(label: str) -> str:
    """``label`` with control characters escaped: a file name may hold a newline, and an error
    message must stay one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], label)


def load_image(source: Source, name: str | None = None) -> np.ndarray:
    """Full-resolution upright pixels: uint8 (H, W) gray or (H, W, 3) RGB.

    Raises :class:`MydigitsError` ("NAME: problem", one line) for anything that is not a readable
    image of sensible size.
    """
    return load(source, name, work_side=None).pixels


def load_gray(source: Source, name: str | None = None) -> np.ndarray:
    """Full-resolution upright uint8 (H, W) gray pixels, decoded like :func:`load_image` (Pillow, not
    OpenCV: OpenCV's PNG reader spends seconds on a 75-byte file whose chunk claims a gigabyte)."""
    pixels = load_image(source, name)
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels


def load(source: Source, name: str | None = None, work_side: int | None = WORK_SIDE) -> LoadedImage:
    """Load for processing: like :func:`load_image` but reduced so the long side is about
    ``work_side`` (None: keep full size) and tiny images enlarged, remembering the scale."""
    label = source_name(source, name)
    where = one_line(label)
    if isinstance(source, np.ndarray):
        pixels = _from_array(source, where)
        h, w = pixels.shape[:2]
        return _fit(pixels, (w, h), label, work_side)
    data = _read_bytes(source, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise MydigitsError(f"{where}: image too large ({w}x{h} pixels, limit "
                                    f"{MAX_PIXELS // 1_000_000} megapixels)")
            orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
            swapped = orientation in (5, 6, 7, 8)
            full_w, full_h = (h, w) if swapped else (w, h)
            if work_side and im.format == "JPEG" and max(w, h) > work_side:
                want = work_side / max(w, h)
                im.draft(im.mode if im.mode in ("RGB", "L") else "RGB",
                         (int(w * want) + 1, int(h * want) + 1))
            im.seek(0)  # first frame of animations
            im.load()
            if orientation not in (None, 1):
                im = ImageOps.exif_transpose(im)
            pixels = _to_uint8(im)
    except MydigitsError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise MydigitsError(f"{where}: image too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise MydigitsError(f"{where}: not an image (or a format Pillow cannot read)") from None
    except Exception as exc:  # Pillow's forty format plugins raise what they like (DDS: NotImplementedError,
        # AVIF: RuntimeError, others OSError, SyntaxError, struct.error...): all mean "cannot decode"
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MydigitsError(f"{where}: cannot decode image ({msg})") from None
    if pixels.size == 0 or min(pixels.shape[:2]) < 1:
        raise MydigitsError(f"{where}: image has no pixels")
    return _fit(pixels, (full_w, full_h), label, work_side)


def _read_bytes(source: Source, where: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            # stat first: a FIFO or a device (/dev/zero) would block or never end when read, and a
            # file bigger than any picture we accept is not read into memory at all
            info = path.stat()
            if stat.S_ISDIR(info.st_mode):
                raise MydigitsError(f"{where}: is a folder, not an image")
            if not stat.S_ISREG(info.st_mode):
                raise MydigitsError(f"{where}: not a regular file")
            if info.st_size > MAX_FILE_BYTES:
                raise MydigitsError(f"{where}: file too large ({info.st_size // 1_000_000} MB, limit "
                                    f"{MAX_FILE_BYTES // 1_000_000} MB)")
            data = path.read_bytes()
        except FileNotFoundError:
            raise MydigitsError(f"{where}: file not found") from None
        except PermissionError:
            raise MydigitsError(f"{where}: permission denied") from None
        except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
            raise MydigitsError(f"{where}: cannot read file ({getattr(exc, 'strerror', None) or exc})") from None
    if not data:
        raise MydigitsError(f"{where}: empty file")
    return data


def _to_uint8(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 gray or RGB, transparency composited on white."""
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size else 0
        # 16-bit data in 8-bit range (some PNG encoders) stays as is; else scale down.
        arr = arr / 257.0 if top > 255 else arr
        return np.clip(arr + 0.5, 0, 255).astype(np.uint8)
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size else 0
        arr = arr * 255.0 if top <= 1.0 else arr
        return np.clip(arr + 0.5, 0, 255).astype(np.uint8)
    if im.mode in ("LA", "La", "PA") or (im.mode in ("RGBA", "RGBa")):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if im.mode == "L":
        return np.asarray(im)
    if im.mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8)
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB"), dtype=np.uint8)


def _from_array(arr: np.ndarray, where: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise MydigitsError(f"{where}: expected an (H, W), (H, W, 3) or (H, W, 4) image array, "
                            f"got shape {a.shape}")
    if not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise MydigitsError(f"{where}: expected an image array of numbers, got dtype {a.dtype}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise MydigitsError(f"{where}: image too large ({a.shape[1]}x{a.shape[0]} pixels)")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float32))
        a = np.clip(a * 255.0 if a.max(initial=0) <= 1.0 else a, 0, 255).astype(np.uint8)
    elif a.dtype == np.uint16 or (np.issubdtype(a.dtype, np.integer) and a.max(initial=0) > 255):
        a = (a.astype(np.float64) / (257.0 if a.max(initial=0) > 255 else 1.0)).clip(0, 255)
        a = a.astype(np.uint8)
    else:
        a = a.clip(0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float32) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def _fit(pixels: np.ndarray, size: tuple[int, int], label: str,
         work_side: int | None) -> LoadedImage:
    """Resize to the working size; ``size`` is the original upright (width, height)."""
    h, w = pixels.shape[:2]
    long_side = max(h, w)
    if work_side and long_side > work_side * 1.1:
        f = work_side / long_side
        pixels = cv2.resize(pixels, (max(1, round(w * f)), max(1, round(h * f))),
                            interpolation=cv2.INTER_AREA)
    elif work_side and long_side < MIN_WORK_SIDE:
        f = MIN_WORK_SIDE / long_side
        pixels = cv2.resize(pixels, (max(1, round(w * f)), max(1, round(h * f))),
                            interpolation=cv2.INTER_CUBIC)
    short, long_side = sorted(pixels.shape[:2])
    if work_side and short < max(MIN_WORK_SHORT, long_side / MAX_ASPECT):
        # a strip like 2x5000 pixels becomes 1x2000 to work on: no digit fits, and the binarizer's
        # background estimate (shrunk by a whole factor, up to long side / 320) would have no rows
        raise MydigitsError(f"{one_line(label)}: image is {size[0]}x{size[1]} pixels, too thin to hold a digit")
    return LoadedImage(np.ascontiguousarray(pixels), size[0] / pixels.shape[1], size, label)


def tilted(pixels: np.ndarray, degrees: float, interpolation: int = cv2.INTER_LINEAR,
           border: int = cv2.BORDER_CONSTANT) -> tuple[np.ndarray, np.ndarray]:
    """``pixels`` turned by ``degrees`` counter-clockwise on a canvas that holds all of it (the
    corners filled by ``border``, cv2's border modes, black for the constant one), and the affine
    map (2x3) from the new canvas back to ``pixels``: a page levelled loses none of its ink."""
    h, w = pixels.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos + 0.5), int(h * cos + w * sin + 0.5)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(pixels, m, (nw, nh), flags=interpolation, borderMode=border, borderValue=0)
    return out, cv2.invertAffineTransform(m)
