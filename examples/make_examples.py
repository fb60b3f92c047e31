"""Make the example pictures in this folder (reproducible: fixed digits, fixed seed).

Handwritten digits from the MNIST test set are drawn onto synthetic but realistic backgrounds:
a clean scan, a phone photo of graph paper with a shadow and blue ink, a light-on-dark drawing
canvas, a form with one box per digit, and a slightly rotated sheet with several lines. The true
text of every picture is in ``truth.csv``. Needs the MNIST cache (``mydigits train`` downloads it,
or set MYDIGITS_HOME)::

    python examples/make_examples.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mydigits.mnist import MNIST

HERE = Path(__file__).resolve().parent
SEED = 7


class Glyphs:
    """Handwritten digits, a different MNIST test sample each time a digit is asked for."""

    def __init__(self) -> None:
        test = MNIST().load("test")
        self.images, self.labels = test.images, test.labels
        self.next = {d: 0 for d in range(10)}
        self.index = {d: np.nonzero(self.labels == d)[0] for d in range(10)}

    def get(self, digit: int, height: int) -> np.ndarray:
        """Ink alpha in [0, 1] of one digit, cropped to its ink, ``height`` pixels tall."""
        i = self.index[digit][self.next[digit]]
        self.next[digit] += 1
        img = self.images[i].astype(np.float32) / 255.0
        ys, xs = np.nonzero(img > 0.1)
        img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        f = height / img.shape[0]
        img = cv2.resize(img, (max(1, round(img.shape[1] * f)), height), interpolation=cv2.INTER_CUBIC)
        # MNIST's soft edges become a pen's: sharper, with a little anti-aliasing
        return np.clip((img - 0.25) * 2.0, 0, 1)


def paper(h: int, w: int, rng: np.random.Generator, tone=(236, 232, 222), shadow: float = 0.35):
    """Photo-like paper: a tint, a lighting gradient with one darker corner, grain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 1.0 - shadow * ((xx / w) * 0.6 + (yy / h) * 0.4) ** 2
    base = np.array(tone, np.float32)[None, None, :] * light[..., None]
    base += rng.normal(0, 3.0, (h, w, 1)).astype(np.float32)
    return base


def stamp(img: np.ndarray, alpha: np.ndarray, x: int, y: int, color) -> None:
    """Draw ink of ``color`` with coverage ``alpha`` at (x, y) (top left), in place."""
    h, w = alpha.shape
    region = img[y : y + h, x : x + w]
    a = alpha[..., None]
    region[:] = region * (1 - a) + np.array(color, np.float32)[None, None, :] * a


def write_line(img, glyphs: Glyphs, text: str, x: int, y_base: int, height: int, color,
               rng: np.random.Generator, spacing: float = 0.25) -> None:
    for ch in text:
        if ch == " ":
            x += int(1.6 * height)
            continue
        g = glyphs.get(int(ch), int(height * rng.uniform(0.9, 1.05)))
        stamp(img, g, x, y_base - g.shape[0] + int(rng.integers(-2, 3)), color)
        x += g.shape[1] + int(spacing * height)


def save(img: np.ndarray, name: str) -> None:
    arr = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    path = HERE / name
    if name.endswith(".jpg"):
        Image.fromarray(arr).save(path, quality=88)
    else:
        Image.fromarray(arr).save(path, optimize=True)


def main() -> None:
    rng = np.random.default_rng(SEED)
    glyphs = Glyphs()
    truth = []

    # 1. a clean scan of all ten digits
    img = np.full((120, 900, 3), 250.0, np.float32)
    img += rng.normal(0, 2.0, (120, 900, 1))
    write_line(img, glyphs, "0123456789", 40, 95, 64, (30, 30, 35), rng, spacing=0.35)
    save(img, "scan_0123456789.png")
    truth.append(("scan_0123456789.png", "0123456789"))

    # 2. phone photo of graph paper: blue grid, blue ballpoint, shadow
    h, w = 420, 640
    img = paper(h, w, rng, shadow=0.45)
    for x in range(10, w, 32):
        cv2.line(img, (x, 0), (x + 3, h), (170, 190, 230), 1, cv2.LINE_AA)
    for y in range(12, h, 32):
        cv2.line(img, (0, y), (w, y - 4), (170, 190, 230), 1, cv2.LINE_AA)
    write_line(img, glyphs, "4071", 150, 270, 90, (35, 45, 140), rng)
    save(img, "photo_blue_grid.jpg")
    truth.append(("photo_blue_grid.jpg", "4071"))

    # 3. light ink on a dark drawing canvas
    img = np.full((260, 520, 3), (28.0, 30.0, 36.0), np.float32)
    write_line(img, glyphs, "385", 110, 200, 130, (245, 245, 240), rng)
    save(img, "canvas_dark.png")
    truth.append(("canvas_dark.png", "385"))

    # 4. a form: one box per digit, the digits touching the boxes here and there
    img = paper(200, 560, rng, tone=(245, 245, 245), shadow=0.2)
    for i in range(4):
        x0 = 80 + i * 110
        cv2.rectangle(img, (x0, 40), (x0 + 100, 160), (60, 60, 60), 2)
    write_line(img, glyphs, "2", 105, 158, 104, (40, 40, 60), rng)
    write_line(img, glyphs, "0", 215, 150, 96, (40, 40, 60), rng)
    write_line(img, glyphs, "2", 325, 150, 96, (40, 40, 60), rng)
    write_line(img, glyphs, "4", 435, 150, 100, (40, 40, 60), rng)
    save(img, "form_boxes.png")
    truth.append(("form_boxes.png", "2024"))

    # 5. a sheet with three lines and two numbers on the first, photographed a little rotated
    h, w = 560, 760
    img = paper(h, w, rng, tone=(240, 238, 230), shadow=0.5)
    write_line(img, glyphs, "12 345", 90, 150, 70, (25, 25, 30), rng)
    write_line(img, glyphs, "6789", 90, 300, 70, (25, 25, 30), rng)
    write_line(img, glyphs, "50", 90, 450, 70, (25, 25, 30), rng)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 4.0, 1.0)
    img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    save(img, "sheet_lines.jpg")
    truth.append(("sheet_lines.jpg", "12 345\\n6789\\n50"))

    with open(HERE / "truth.csv", "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["file", "text"])
        out.writerows(truth)


if __name__ == "__main__":
    main()
