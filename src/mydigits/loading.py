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
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mydigits.errors import MydigitsError

# Refuse images bigger than this (decompression bombs, absurd scans) before decoding them.
MAX_PIXELS = 100_000_000
# Long side, in pixels, of the image the pipeline works on. Photos bigger than this are reduced;
# a digit that is readable by eye on a phone screen stays well above MNIST's 20 pixels.
WORK_SIDE = 2000
# Size of the first, quick look at a big photo (a quarter-size JPEG decode of a 12 MP photo);
# the reader goes up to WORK_SIDE only if the handwriting turns out to be small.
QUICK_SIDE = 1000
# Tiny crops are enlarged to this long side so morphology sizes stay meaningful.
MIN_WORK_SIDE = 256

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


def load_image(source: Source, name: str | None = None) -> np.ndarray:
    """Full-resolution upright pixels: uint8 (H, W) gray or (H, W, 3) RGB.

    Raises :class:`MydigitsError` ("NAME: problem", one line) for anything that is not a readable
    image of sensible size.
    """
    return load(source, name, work_side=None).pixels


def load(source: Source, name: str | None = None, work_side: int | None = WORK_SIDE) -> LoadedImage:
    """Load for processing: like :func:`load_image` but reduced so the long side is about
    ``work_side`` (None: keep full size) and tiny images enlarged, remembering the scale."""
    label = source_name(source, name)
    if isinstance(source, np.ndarray):
        pixels = _from_array(source, label)
        h, w = pixels.shape[:2]
        return _fit(pixels, (w, h), label, work_side)
    data = _read_bytes(source, label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise MydigitsError(f"{label}: image too large ({w}x{h} pixels, limit "
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
        raise MydigitsError(f"{label}: image too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise MydigitsError(f"{label}: not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
            TypeError, ZeroDivisionError, struct.error) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MydigitsError(f"{label}: cannot decode image ({msg})") from None
    if pixels.size == 0 or min(pixels.shape[:2]) < 1:
        raise MydigitsError(f"{label}: image has no pixels")
    return _fit(pixels, (full_w, full_h), label, work_side)


def _read_bytes(source: Source, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            if path.is_dir():
                raise MydigitsError(f"{label}: is a folder, not an image")
            data = path.read_bytes()
        except FileNotFoundError:
            raise MydigitsError(f"{label}: file not found") from None
        except PermissionError:
            raise MydigitsError(f"{label}: permission denied") from None
        except OSError as exc:
            raise MydigitsError(f"{label}: cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise MydigitsError(f"{label}: empty file")
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


def _from_array(arr: np.ndarray, label: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or a.size == 0:
        raise MydigitsError(f"{label}: expected an (H, W), (H, W, 3) or (H, W, 4) image array, "
                            f"got shape {a.shape}")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise MydigitsError(f"{label}: image too large ({a.shape[1]}x{a.shape[0]} pixels)")
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
    return LoadedImage(np.ascontiguousarray(pixels), size[0] / pixels.shape[1], size, label)
