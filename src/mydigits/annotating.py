"""The annotated picture: what was read, drawn where it was read.

A label as wide as "7 98%" is wider than the digit it names, so in a line of handwriting the labels
written above their boxes run into each other and none can be read. Labels are therefore sized to
the digits, not to the picture, and each is placed where it overlaps no other label and no digit:
above its box, else below it, else further up or down (:func:`place_labels`).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from mydigits.segmenting import Box  # x, y, w, h

FONT = cv2.FONT_HERSHEY_SIMPLEX
SURE_COLOR = (0, 150, 0)
NOT_SURE_COLOR = (230, 110, 0)
REJECTED_COLOR = (160, 160, 160)
# A label is this tall against the digits' median height, and never less than MIN_LABEL_PX (below
# that Hershey figures cannot be read), never more than a 12th of the picture's shorter side.
LABEL_HEIGHT = 0.35
MIN_LABEL_PX = 9
GAP = 2  # pixels between a box and its label, and around a label's text


def _overlap(rect: Box, others: np.ndarray) -> int:
    """The area ``rect`` shares with the (N, 4) x, y, w, h rectangles ``others``, summed."""
    w = np.minimum(rect[0] + rect[2], others[:, 0] + others[:, 2]) - np.maximum(rect[0], others[:, 0])
    h = np.minimum(rect[1] + rect[3], others[:, 1] + others[:, 3]) - np.maximum(rect[1], others[:, 1])
    return int((np.maximum(w, 0) * np.maximum(h, 0)).sum())


def place_labels(boxes: Sequence[Box], sizes: Sequence[tuple[int, int]], shape: tuple[int, int],
                 tries: int = 3) -> list[Box]:
    """Where to write each box's label: a rectangle of ``sizes[i]`` (width, height) for ``boxes[i]``.

    Boxes are taken top to bottom (by their middles), then left to right; each label goes to the
    first of: above its box, below it, then 1..``tries``-1 label heights further up, then further
    down, that stays inside ``shape`` (height, width) and covers no label placed before it and no
    box. When every place covers something, the place covering least is taken. Pure: nothing is
    drawn.
    """
    height, width = shape
    fixed = np.array(boxes, np.int64).reshape(-1, 4)
    placed = np.zeros((len(boxes), 4), np.int64)  # labels placed so far, in placing order
    out: list[Box] = [(0, 0, 0, 0)] * len(boxes)
    order = sorted(range(len(boxes)), key=lambda i: (boxes[i][1] + boxes[i][3] // 2, boxes[i][0]))
    for n, i in enumerate(order):
        x, y, w, h = boxes[i]
        lw, lh = sizes[i]
        lx = int(np.clip(x + (w - lw) // 2, 0, max(width - lw, 0)))
        step = lh + GAP
        tops = [y - GAP - lh - k * step for k in range(tries)]
        bottoms = [y + h + GAP + k * step for k in range(tries)]
        best, best_cost = None, None
        for ly in [tops[0], bottoms[0], *tops[1:], *bottoms[1:]]:
            if ly < 0 or ly + lh > height:
                continue
            rect = (lx, ly, lw, lh)
            cost = _overlap(rect, placed[:n]) + _overlap(rect, fixed)
            if best_cost is None or cost < best_cost:
                best, best_cost = rect, cost
            if cost == 0:
                break
        if best is None:  # a picture too small for any place: inside the box's top
            best = (lx, int(np.clip(y, 0, max(height - lh, 0))), lw, lh)
        placed[n] = best
        out[i] = best
    return out


def label_scale(digit_heights: Sequence[int], shape: tuple[int, int]) -> float:
    """The Hershey font scale that makes a label LABEL_HEIGHT of the digits' median height."""
    one = cv2.getTextSize("0", FONT, 1.0, 1)[0][1]  # figure height at scale 1
    median = float(np.median(digit_heights)) if len(digit_heights) else min(shape) / 10
    px = np.clip(LABEL_HEIGHT * median, MIN_LABEL_PX, max(MIN_LABEL_PX, min(shape) / 12))
    return float(px / one)


def _font(digits: Sequence[tuple[Box, int | None, float]], shape: tuple[int, int]) -> tuple[float, int]:
    scale = label_scale([b[3] for b, _, _ in digits], shape)
    return scale, max(1, round(scale * 1.5))


def layout(digits: Sequence[tuple[Box, int | None, float]], shape: tuple[int, int]) -> list[tuple[str, Box]]:
    """Each digit's label (``7 98%``, ``? 55%`` when not sure) and the rectangle it is written in.

    ``digits`` are (box, digit or None, confidence) in the pixels of a picture of ``shape``.
    """
    if not digits:
        return []
    scale, thick = _font(digits, shape)
    texts = [f"{'?' if d is None else d} {c:.0%}" for _, d, c in digits]
    sizes = []
    for text in texts:
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
        sizes.append((tw + 2 * GAP, th + base + 2 * GAP))
    return list(zip(texts, place_labels([b for b, _, _ in digits], sizes, shape), strict=True))


def draw(image: np.ndarray, digits: Sequence[tuple[Box, int | None, float]],
         rejected: Sequence[Box] = ()) -> np.ndarray:
    """``image`` (grey or RGB) with a box around every digit and every refused mark, and each
    digit's label on a light patch beside its box (:func:`layout`). Returns a new RGB array."""
    img = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    shape = img.shape[:2]
    for x, y, w, h in rejected:
        cv2.rectangle(img, (x, y), (x + w, y + h), REJECTED_COLOR, 1)
    if not digits:
        return img
    labels = layout(digits, shape)
    scale, thick = _font(digits, shape)
    box_thick = max(1, round(float(np.median([b[3] for b, _, _ in digits])) / 40))
    patches = img.copy()
    for _, (lx, ly, lw, lh) in labels:
        cv2.rectangle(patches, (lx, ly), (lx + lw - 1, ly + lh - 1), (255, 255, 255), -1)
    img = cv2.addWeighted(patches, 0.75, img, 0.25, 0)
    for (box, digit, _), (text, (lx, ly, _, lh)) in zip(digits, labels, strict=True):
        x, y, w, h = box
        color = SURE_COLOR if digit is not None else NOT_SURE_COLOR
        cv2.rectangle(img, (x, y), (x + w, y + h), color, box_thick)
        base = cv2.getTextSize(text, FONT, scale, thick)[1]
        cv2.putText(img, text, (lx + GAP, ly + lh - GAP - base), FONT, scale, color, thick, cv2.LINE_AA)
    return img
