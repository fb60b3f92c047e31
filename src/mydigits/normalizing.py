"""MNIST normalization: turn one digit's pixels into the 28x28 image an MNIST model expects.

MNIST digits are white on black, scaled (keeping the aspect ratio) to fit a 20x20 box with
anti-aliasing, and placed in 28x28 so that their centre of mass is at the centre. Strokes end up
about 2-3 pixels wide. A crop that is not prepared exactly this way is misread *confidently*, so
every image that reaches a model, in training, reading and teaching alike, goes through ``to_mnist``.
"""

from __future__ import annotations

import cv2
import numpy as np

PREPROCESSING_VERSION = 1

BOX = 20
SIZE = 28
# Stroke width (pixels, at the 20-pixel digit scale) that MNIST digits have; real pens are often
# much thinner once a big photo is shrunk, and thick markers much wider. Thin strokes are widened
# to TARGET_STROKE; wide ones are thinned only down to MAX_STROKE, the bold end of MNIST's own
# range (its 90th percentile: the model knows bold digits as they are). Thinned to the median, a
# stroke of uneven width broke where it narrows: a bold 1 in two, a 2 to its blob; numbers of
# MNIST test digits on generated paper (benchmarks/turned.py, seeds 8 and 9, 200 each) were read
# whole 90.5% and 82.5% so, 93.0% and 87.5% thinned to MAX_STROKE.
TARGET_STROKE = 2.4
MIN_STROKE, MAX_STROKE = 1.5, 4.0
# Crops bigger than this (pixels, long side) are reduced to it before anything else.
PRESHRINK = 112


def ridge_distances(ink: np.ndarray) -> np.ndarray:
    """The distance to the background at the ridge of the strokes (the pixels that are local
    maxima of the distance): half the stroke width, all along the strokes."""
    mask = (ink > 0).astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return dist[(dist >= cv2.dilate(dist, np.ones((3, 3), np.uint8))) & (mask > 0)]


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width of a binary mask in pixels: twice the mean distance to the background
    along the strokes' ridge."""
    if not np.any(ink > 0):
        return 0.0
    ridge = ridge_distances(ink)
    return float(2.0 * ridge.mean()) if ridge.size else 1.0


def to_mnist(ink: np.ndarray, fix_stroke: bool = True) -> np.ndarray:
    """Normalize one digit to MNIST's format.

    Args:
        ink: 2-D array, ink bright (>0) on 0 background; float in [0, 1] or uint8. Only the ink's
            bounding box matters; surrounding empty space is ignored.
        fix_stroke: thicken strokes too thin for MNIST and thin ones too thick, judged at the
            20-pixel scale the digit will be drawn at.

    Returns:
        float32 (28, 28) in [0, 1], zeros if there is no ink.
    """
    img = np.asarray(ink, dtype=np.float32)
    if img.dtype != np.float32 or img.max(initial=0) > 1.0:
        img = img / 255.0 if img.max(initial=0) > 1.0 else img
    out = np.zeros((SIZE, SIZE), np.float32)
    ys, xs = np.nonzero(img > 0.05)
    if len(ys) == 0:
        return out
    img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = img.shape
    if max(h, w) > PRESHRINK:
        # big crops (a digit filling a 12 MP photo) are first reduced: the result is the same at
        # 20 pixels, and stroke fixing with huge kernels would cost tens of milliseconds
        f = PRESHRINK / max(h, w)
        img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        h, w = img.shape
    scale = BOX / max(h, w)
    if fix_stroke:
        img = _fix_stroke(img, scale)
        # thickening pads the crop: frame the ink again so the digit, not the padding, fills the
        # 20-pixel box (the model is trained on tight boxes and misreads a shrunken digit)
        ys, xs = np.nonzero(img > 0.05)
        img = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        h, w = img.shape
        scale = BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(img, (nw, nh), interpolation=interp)
    small = np.clip(small, 0, 1)
    total = small.sum()
    if total <= 0:
        return out
    cy = (small.sum(1) * np.arange(nh)).sum() / total
    cx = (small.sum(0) * np.arange(nw)).sum() / total
    shift = np.float32([[1, 0, SIZE / 2 - 0.5 - cx], [0, 1, SIZE / 2 - 0.5 - cy]])
    canvas = np.zeros((SIZE, SIZE), np.float32)
    out = cv2.warpAffine(small, shift, (SIZE, SIZE), dst=canvas, flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(out, 0, 1).astype(np.float32)


def _fix_stroke(img: np.ndarray, scale: float) -> np.ndarray:
    """Dilate or erode so the stroke will be MNIST-wide after scaling by ``scale``."""
    binary = (img > 0.5).astype(np.uint8)
    width = stroke_width(binary) * scale
    if width <= 0:
        return img
    if width < MIN_STROKE:
        radius = int(round((TARGET_STROKE - width) / scale / 2))
        # a loop drawn small (the head of a long-tailed 9, the eye of a 6) must stay open: a
        # thick pen that fills it makes a dot and the model sees a "1" or no digit at all
        min_hole = 0.5 / (scale * scale)  # half an output pixel
        holes = _holes(binary, min_hole)
        padded = np.pad(img, radius + 1)
        while radius >= 1:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            thicker = cv2.dilate(padded, k)
            if holes == 0 or _holes((thicker > 0.5).astype(np.uint8), min_hole) >= holes:
                return thicker
            radius -= 1
    elif width > MAX_STROKE:
        radius = int(round((width - MAX_STROKE) / scale / 2))
        if radius >= 1:
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
            thinner = cv2.erode(img, k)
            # never erode a stroke away: keep the original where erosion empties a component
            if (thinner > 0.5).sum() > 0.3 * (img > 0.5).sum():
                img = thinner
    return img


def _holes(binary: np.ndarray, min_area: float) -> int:
    """How many enclosed background regions (loops) of at least ``min_area`` pixels."""
    bg = (np.pad(binary, 1) == 0).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bg, connectivity=4)
    outside = labels[0, 0]
    return int(sum(1 for i in range(1, n) if i != outside and stats[i, cv2.CC_STAT_AREA] >= min_area))


def variants(crop: np.ndarray) -> np.ndarray:
    """``crop`` (28x28 float) and 12 small changes of it the model learned not to mind (turned by
    4 and 8 degrees either way, scaled by 0.9 and 1.1, moved a pixel each way, the strokes
    thickened and thinned): (13, 28, 28). Where the model wavers between two digits, its answer
    on one crop is as much the normalization's accident (the exact angle, the exact stroke width)
    as the digit's; over all of them, it is the digit's (see modelio.WAVERING)."""
    centre = (SIZE / 2, SIZE / 2)
    out = [crop]
    for angle, scale in ((-8, 1.0), (-4, 1.0), (4, 1.0), (8, 1.0), (0, 0.9), (0, 1.1)):
        m = cv2.getRotationMatrix2D(centre, angle, scale)
        out.append(cv2.warpAffine(crop, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR))
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out.append(cv2.warpAffine(crop, m, (SIZE, SIZE), flags=cv2.INTER_LINEAR))
    square = np.ones((2, 2), np.uint8)
    out += [cv2.dilate(crop, square), cv2.erode(crop, square)]
    return np.stack(out).astype(np.float32)
