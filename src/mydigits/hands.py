"""Training digits in the shapes MNIST lacks.

MNIST's writers were American: their 1 is a bare stroke, and a stroke with a long up-stroke at its
top is, to a model trained on them, a 7. Half the world writes its 1 that way (the continental 1),
and the 7 then carries a flat bar, often crossed. Two sources add such digits to training:

* the digits of handwriting fonts (:mod:`mydigits.fonts`), each drawn as a hand would, with its
  own slant, pen width and wobble;
* MNIST's own 1s with an up-stroke drawn into their top at 25-60 degrees from the stem, never the
  flat bar of a 7 (that boundary is where a 7 with a drooping bar and a 1 with a flag meet).

Every image goes through the same ``to_mnist`` normalization as a crop the reader makes.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import ImageFont

from mydigits.fonts import handwrite, pen_width
from mydigits.normalizing import ridge_distances, to_mnist

# The continental 1's up-stroke: degrees between it and the stem (an upright stem's flag then falls
# 30-65 degrees below level), and its length as a fraction of the stem.
FLAG_ANGLE = (25.0, 60.0)
FLAG_LENGTH = (0.2, 0.55)
# ...and never flatter than this many degrees below level, whatever the stem's lean: a flat bar
# on a stem is a 7's.
FLAG_MIN_FALL = 25.0


def font_digits(n: int, fonts: list[ImageFont.FreeTypeFont], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` digits (each digit equally often) from the handwriting ``fonts``: float32 images
    (n, 28, 28) in [0, 1] and int64 labels."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.float32)
    labels = np.arange(n, dtype=np.int64) % 10
    for i in range(n):
        font = fonts[int(rng.integers(len(fonts)))]
        images[i] = to_mnist(pen_width(handwrite(str(labels[i]), font, rng), rng))
    return images, labels


def continental_ones(ones: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` continental 1s made from MNIST 1s (uint8 (k, 28, 28)): float32 (n, 28, 28)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        out[i] = to_mnist(add_flag(ones[int(rng.integers(len(ones)))], rng))
    return out


def add_flag(one: np.ndarray, rng: np.random.Generator, scale: int = 4) -> np.ndarray:
    """An MNIST 1 with an up-stroke drawn from the top of its stem down to the left, at ``scale``
    times the resolution so that the new stroke is as smooth as the old. uint8, white on black."""
    big = cv2.resize(one, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    mask = big > 100
    ys, xs = np.nonzero(mask)
    if len(ys) < 10:
        return big
    top, bottom = ys.min(), ys.max()
    stem = bottom - top
    # the ends of the stem: the middle of the ink in its highest and its lowest 5%
    tx, ty = float(xs[ys <= top + 0.05 * stem].mean()), float(top)
    bx, by = float(xs[ys >= bottom - 0.05 * stem].mean()), float(bottom)
    down = math.atan2(by - ty, bx - tx)  # the stem's direction from its top, 90 degrees when upright
    # the stem's own pen width: twice the median ridge distance
    width = max(float(scale), 2.0 * float(np.median(ridge_distances(mask))))
    # the flag leaves the top on the stem's left, turned from it by the flag angle
    lo, hi = FLAG_ANGLE
    hi = min(hi, 180.0 - FLAG_MIN_FALL - math.degrees(down))
    if hi <= lo:  # a stem leaning so far that any flag would be a 7's bar
        return big
    angle = down + math.radians(rng.uniform(lo, hi))
    length = rng.uniform(*FLAG_LENGTH) * math.hypot(bx - tx, by - ty)
    ex, ey = tx + length * math.cos(angle), ty + length * math.sin(angle)
    # a hand's stroke bows a little; draw it as a short curve through a displaced middle point
    bow = rng.normal(0, 0.06) * length
    mx, my = (tx + ex) / 2 - bow * math.sin(angle), (ty + ey) / 2 + bow * math.cos(angle)
    t = np.linspace(0, 1, 12)[:, None]
    pts = (1 - t) ** 2 * np.array([ex, ey]) + 2 * (1 - t) * t * np.array([mx, my]) + t ** 2 * np.array([tx, ty])
    pad = int(length) + scale * 4
    canvas = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    cv2.polylines(canvas, [np.round((pts + pad) * 4).astype(np.int32)], False, 255,
                  max(1, round(width * rng.uniform(0.8, 1.1))), cv2.LINE_AA, shift=2)
    return canvas
