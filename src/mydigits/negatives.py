"""Generated examples for the model's "not a digit" and "digits touching" outputs.

A softmax over ten digits has no way to say "none of these": a blank canvas or a horse comes out as
"5, 99%". So the default model learns an explicit "not a digit" from things a reader really meets
that are not digits: blank or speckled crops, scribbles, letters and symbols, blobs, textures,
ruled-line fragments (here), doodles (:mod:`mydigits.doodles`). Two or three digits stuck together
are none of the ten digits either, but they are to be cut apart, not dropped, so they have an
output of their own. Every example goes through the same ``to_mnist`` normalization as real crops.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import ImageFont

from mydigits.fonts import handwrite
from mydigits.normalizing import to_mnist

# Letters and symbols that do not look like any digit in some hand (no O, o, l, I, S, s, Z, z, B,
# b, g, q, G, D, J, T, Y, 7-like or 1-like shapes).
GLYPHS = "AEFHKMNPRWXkmwxh#@%&*+=$"
_FONTS = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
)


def make_negatives(n: int, seed: int = 0) -> np.ndarray:
    """Make ``n`` normalized non-digit images, float32 (n, 28, 28) in [0, 1]."""
    rng = np.random.default_rng(seed)
    kinds = [_blank, _scribble, _glyph, _blob, _texture, _lines]
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        kind = kinds[rng.integers(len(kinds))]
        out[i] = to_mnist(kind(rng))
    return out


# Letters a reader meets around numbers (units, labels, names, words) with no digit look-alike in
# print or in most hands: no O o D Q, I l i j J, Z z, S s, b G, T t, B, g q, A y. Drawn with OpenCV's
# stroke fonts (never its script fonts, which the not-a-digit benchmark uses), jittered per letter.
LETTERS = "CEFHKMNPRUVWXacdefhkmnpruvwx"
LETTER_FONTS = _FONTS[:4] + _FONTS[5:]


def make_letters(n: int, seed: int = 0, fonts: list[ImageFont.FreeTypeFont] | None = None) -> np.ndarray:
    """Make ``n`` normalized crops of one to three handwritten-like letters, float32 (n, 28, 28).

    A photo's letters reach the classifier one by one when they stand apart and as a word fragment
    when they touch, so both are drawn: letters touching or overlapping a little, each with its own
    size, slant and baseline, the whole warped a little as a hand would. With handwriting ``fonts``
    (:mod:`mydigits.fonts`) four in five are drawn in those, the rest in OpenCV's stroke fonts.
    """
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        if fonts and rng.random() < 0.8:
            text = "".join(LETTERS[rng.integers(len(LETTERS))] for _ in range(int(rng.choice([1, 1, 2, 3]))))
            out[i] = to_mnist(handwrite(text, fonts[int(rng.integers(len(fonts)))], rng))
        else:
            out[i] = to_mnist(_letters(rng))
    return out


def make_touching(n: int, digits: np.ndarray, seed: int = 0) -> np.ndarray:
    """Make ``n`` normalized crops of two (one in five: three) MNIST ``digits`` (uint8) written
    so close that their ink joins, float32 (n, 28, 28): what the reader must cut apart."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        glyphs = [_ink_box(digits[rng.integers(len(digits))], rng) for _ in range(3 if rng.random() < 0.2 else 2)]
        joined = glyphs[0]
        for g in glyphs[1:]:
            # pushed up to 3 pixels into each other, never so far that a narrow 1 disappears
            joined = _join(joined, g, min(int(rng.integers(0, 4)), g.shape[1] // 4, joined.shape[1] // 4))
        out[i] = to_mnist(joined)
    return out


def _ink_box(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One digit cut to its ink, a little bigger or smaller, higher or lower than its neighbour
    (a hand's digits differ by that much), on a canvas 40 pixels high."""
    ys, xs = np.nonzero(digit > 40)
    g = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h = int(np.clip(round(28 * rng.uniform(0.85, 1.1)), 10, 32))
    g = cv2.resize(g, (max(2, round(g.shape[1] * h / g.shape[0])), h), interpolation=cv2.INTER_LINEAR)
    top = int(np.clip(round(6 + rng.normal(0, 1.5)), 0, 40 - h))
    out = np.zeros((40, g.shape[1]), np.uint8)
    out[top : top + h] = g
    return out


def _join(a: np.ndarray, b: np.ndarray, extra: int) -> np.ndarray:
    """``b`` set right of ``a`` (both 40 pixels high) just close enough that their ink meets on
    some row, then ``extra`` pixels closer."""
    rows = np.nonzero((a > 100).any(1) & (b > 100).any(1))[0]
    if len(rows) == 0:  # no row where both have ink: side by side, overlapping a little
        gap = -2
    else:
        right = np.array([np.nonzero(a[r] > 100)[0].max() for r in rows])  # a's last ink per row
        left = np.array([np.nonzero(b[r] > 100)[0].min() for r in rows])  # b's first ink per row
        gap = int((a.shape[1] - 1 - right + left).min())  # the columns between them at the closest row
    shift = max(1, a.shape[1] - gap - 1 - extra)  # where b's column 0 goes
    out = np.zeros((40, max(a.shape[1], shift + b.shape[1])), np.uint8)
    out[:, : a.shape[1]] = a
    np.maximum(out[:, shift : shift + b.shape[1]], b, out=out[:, shift : shift + b.shape[1]])
    return out


def _letters(rng: np.random.Generator) -> np.ndarray:
    count = int(rng.choice([1, 1, 2, 3]))
    font = LETTER_FONTS[rng.integers(len(LETTER_FONTS))] | (cv2.FONT_ITALIC if rng.random() < 0.4 else 0)
    thick = int(rng.integers(2, 8))
    c = np.zeros((140, 60 + 80 * count), np.uint8)
    x = 20
    for _ in range(count):
        ch = LETTERS[rng.integers(len(LETTERS))]
        scale = rng.uniform(1.6, 2.6) * (0.75 if ch.islower() else 1.0) * 1.3
        (cw, _), _ = cv2.getTextSize(ch, font, scale, thick)
        base = int(100 + rng.normal(0, 4))
        cv2.putText(c, ch, (x, base), font, scale, 255, thick, cv2.LINE_AA)
        x += int(cw * rng.uniform(0.75, 1.0))
    c = _tilt(c, rng.uniform(-15, 15), rng.uniform(-0.35, 0.25))
    h, w = c.shape
    # a hand's wobble: a smooth random displacement over about a letter's stroke length
    dx, dy = (cv2.resize(rng.normal(0, 2, (h // 20 + 2, w // 20 + 2)).astype(np.float32), (w, h),
                         interpolation=cv2.INTER_CUBIC) for _ in range(2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(c, xx + dx, yy + dy, cv2.INTER_LINEAR, borderValue=0)


def _canvas(rng: np.random.Generator) -> np.ndarray:
    return np.zeros((rng.integers(60, 120), rng.integers(60, 120)), np.uint8)


def _blank(rng: np.random.Generator) -> np.ndarray:
    c = _canvas(rng)
    for _ in range(rng.integers(0, 4)):
        y, x = rng.integers(0, c.shape[0]), rng.integers(0, c.shape[1])
        cv2.circle(c, (int(x), int(y)), int(rng.integers(1, 3)), 255, -1)
    return c


def _scribble(rng: np.random.Generator) -> np.ndarray:
    c = _canvas(rng)
    h, w = c.shape
    pts = np.cumsum(rng.normal(0, 12, (int(rng.integers(12, 30)), 2)), axis=0)
    pts = pts - pts.min(0)
    pts = pts / max(pts.max(), 1) * (min(h, w) - 10) + 5
    cv2.polylines(c, [pts.astype(np.int32)], False, 255, int(rng.integers(2, 6)), cv2.LINE_AA)
    return c


def _glyph(rng: np.random.Generator) -> np.ndarray:
    c = np.zeros((120, 120), np.uint8)
    text = GLYPHS[rng.integers(len(GLYPHS))]
    if rng.random() < 0.3:
        text += GLYPHS[rng.integers(len(GLYPHS))]
    font = _FONTS[rng.integers(len(_FONTS))]
    cv2.putText(c, text, (15, 90), font, 2.2, 255, int(rng.integers(2, 7)), cv2.LINE_AA)
    angle = rng.uniform(-20, 20)
    return _tilt(c, angle, rng.uniform(-0.3, 0.3))


def _tilt(c: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """Rotate by ``angle`` degrees about the centre and shear by ``shear``: a writer's slant."""
    h, w = c.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 1] += shear
    return cv2.warpAffine(c, m, (w, h))


def _blob(rng: np.random.Generator) -> np.ndarray:
    c = _canvas(rng)
    h, w = c.shape
    for _ in range(rng.integers(1, 4)):
        center = (int(rng.integers(10, w - 10)), int(rng.integers(10, h - 10)))
        axes = (int(rng.integers(5, w // 2)), int(rng.integers(5, h // 2)))
        cv2.ellipse(c, center, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return c


def _texture(rng: np.random.Generator) -> np.ndarray:
    h, w = int(rng.integers(40, 100)), int(rng.integers(40, 100))
    noise = rng.random((h // 4 + 1, w // 4 + 1)).astype(np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    return ((noise > rng.uniform(0.4, 0.7)) * 255).astype(np.uint8)


def _lines(rng: np.random.Generator) -> np.ndarray:
    c = _canvas(rng)
    h, w = c.shape
    step = int(rng.integers(8, 25))
    thick = int(rng.integers(1, 4))
    if rng.random() < 0.5:
        for y in range(int(rng.integers(0, step)), h, step):
            cv2.line(c, (0, y), (w, y), 255, thick)
    if rng.random() < 0.6:
        for x in range(int(rng.integers(0, step)), w, step):
            cv2.line(c, (x, 0), (x, h), 255, thick)
    if c.max() == 0:
        cv2.rectangle(c, (5, 5), (w - 5, h - 5), 255, thick)
    return c
