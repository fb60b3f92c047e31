"""Step 3 of reading: from the ink image to digit candidates, their 28x28 crops, and text lines.

* Connected components of the ink are the starting candidates; specks are dropped silently.
* The typical digit height of the picture is the median height of the substantial components;
  every size rule below is relative to it, so the same rules work for a 40-pixel crop and for a
  page of small numbers.
* Pieces of one digit are merged: strokes broken by a light pen, the detached top bar of a 5 (they
  overlap strongly in x and are close vertically), small bits inside a bigger digit's box.
* Candidates that cannot be a digit are rejected with a reason (too small, a dash or line, a mark far
  bigger than the digits, a filled shape); the model later rejects more ("not a digit"). A mark
  that fills much of the picture is not refused for that: one digit uploaded alone fills its own.
* Touching digits are split where the model is much more sure about the parts than the whole:
  cuts are tried at minima of the column projection, straight and along the writing's slant.
* After the model: a small mark alone far from the digits is a stray, and a line whose members the
  model mostly calls "not a digit" is writing or a pattern: its words' digit-like members are
  letters too (a number standing apart from the words stays); so is a digit surrounded by such
  marks (bricks, foliage, fabric).
* Candidates are chained into text lines left to right (following a tilted line), lines are ordered
  top to bottom, and a gap wider than ``NUMBER_GAP`` digit heights, or clearly wider than the line's
  gaps inside numbers, separates two numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from mydigits.normalizing import stroke_width, to_mnist

# Components smaller than this fraction of the image (or 4 pixels) are specks: dropped silently.
SPECK_FRACTION = 2e-5
# Size rules, as multiples of the typical digit height.
TOO_SMALL = 0.35  # the bigger side of a digit is at least this
TOO_BIG = 2.6  # a digit is at most this tall
MERGE_GAP = 0.3  # vertical gap between two pieces of one digit
MERGE_HEIGHT = 1.4  # two merged pieces are at most this tall together
STRAY_SIZE = 0.5  # a mark smaller than this with no digit within STRAY_GAP is not a digit
STRAY_GAP = 1.5
# A candidate whose strokes are wider than this fraction of its size is a filled shape (a bag, a
# shoe, a stone in a texture), not a digit: the boldest marker digits of the dev set stay below 0.27.
# In a row of digits (see BESIDE_GAP) it goes to the model instead: a bold 4 or 6 whose triangle or
# loop the marker filled is as solid, and the model has "not a digit" for real solid shapes.
FILLED = 0.33
BAR_ASPECT = 2.2  # ...but an upright bar is its own stroke (see _filled)
FILLED_SHAPE = "filled shape"  # its rejection reason: such shapes also count as clutter (reading)
# A thin mark along the picture's edge (within EDGE_BAND of its width or height) is the edge of a
# page or of the photo, unless it stands in a row of digits: then it is a 1 at the end of a number
# written or cropped close to the edge (a page's edge is a margin away from the writing).
EDGE_BAND = 0.05
EDGE_OF_PAGE = "edge of the page or photo"
# "In a row of digits": beside a digit candidate of about its size (at most BESIDE_SIZE times
# bigger or smaller) that shares most of its rows, at most BESIDE_GAP digit heights from it (the
# spacing of the digits of one number).
BESIDE_GAP = 0.5
BESIDE_SIZE = 1.5
TOO_SMALL_MARK = "too small"  # the reason for marks under TOO_SMALL: more of them than digits
# found make the reader measure the digits' size again without the refused marks (reading)
# A line of candidates in which at least this fraction are "not a digit" is writing or a pattern
# (letters, a drawing, a texture): its digit-like members are letters and marks too.
TEXT_LINE_FRACTION = 0.4
# ...and in such a line a digit stands apart from a word (as in "vex 63") when the gap between them
# is at least WORD_GAP digit heights: a word space, where the letters of a word and the digits of a
# number are written closer (NUMBER_GAP, which separates two numbers, is a wider space).
WORD_GAP = 0.5
# A digit with at least CLUTTER_MIN marks within CLUTTER_RADIUS digit heights, CLUTTER_FRACTION of
# them not digits, is part of a pattern (see in_clutter).
CLUTTER_RADIUS = 2.0
CLUTTER_MIN = 3
CLUTTER_FRACTION = 0.6
# A hand leans one way: 1s within OPPOSED_RADIUS digit heights of each other, among them two that
# lean opposite ways by at least OPPOSED_LEAN degrees each, are strokes of a drawing or a letter (the
# two sides of a roof, the rays of a sun, the arms of a "V"), not digits. A writer's slant holds
# across a page; the radius only keeps apart numbers written by two hands on one form. The 1s of the
# dev set's one writer with many of them spread 23 degrees, all leaning the same way.
OPPOSED_RADIUS = 5.0
OPPOSED_LEAN = 20.0
# The reason given for 1s dropped by :func:`lone_ones`.
ONES_AMONG_MARKS = "a stroke among marks that are not digits"
# This many 1s side by side in a line, and more, are hatching, stripes, a fence or a tally: a
# number with five 1s in a row is rarer than any of those.
STROKE_RUN = 5
STROKE_ROW = "a row of strokes (hatching, stripes, a tally)"
NUMBER_GAP = 1.0  # a horizontal gap wider than this separates two numbers
MIN_CLOSE_GAP = 0.6  # ...and, in a line whose gaps form two clear groups, the larger group from this
MIN_GROUP_JUMP = 0.25  # ...when it is at least this much wider than the smaller
GROUP_RATIO = 4.0  # ...and its gaps are on average this many times wider
# A candidate at least this wide (times its height) is tried as touching digits; one the model
# rejects or doubts already from this width (two slanted digits with long tails are narrow).
SPLIT_ASPECT = 0.8
SPLIT_ASPECT_UNSURE = 0.55
# Cuts follow the writing's slant up to this many pixels sideways per pixel down.
MAX_SLANT = 0.6
# A mark the model calls "digits touching" (its most likely answer) is cut near this many
# columns, the lowest of its ink a twelfth of its width apart, each straight down, along the
# slant, and along the path through the least ink (:func:`_path_cuts`); the model picks. Two
# digits pushed together overlap, so their join is seldom the lowest column nor a straight line:
# of 380 touching MNIST pairs (`benchmarks/touching.py`) 2 straight cuts read 77% right, 8 92%
# (12 or 16 no more), 8 with paths 96%. Any other mark tried (wide, no sure digit) gets
# NARROW_CUTS straight and slanted cuts: searched as widely, letters and scribbles came apart
# into sure digits (letter pictures rejected 99 -> 96 of 100), most of them marks the model had
# called "not a digit".
CUTS = 8
NARROW_CUTS = 2
# A path cut stays within this share of the mark's width either side of its column.
PATH_REACH = 1 / 6
# ...and pays this much (in pixels of ink crossed) for every pixel it strays from the column.
PATH_STRAY = 0.02

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass
class Candidate:
    """One region that may be a digit, in working pixels."""

    box: Box
    ids: list[int]  # connected-component labels that make it up
    keep: np.ndarray | None = None  # after a split: which pixels of the box belong to this part
    crop: np.ndarray | None = None
    probs: np.ndarray | None = None
    model_probs: np.ndarray | None = None  # the model's own, before the picture's prior (reading)
    touching: float = 0.0  # of "not one digit", the share the model calls "digits touching"

    @property
    def cx(self) -> float:
        return self.box[0] + self.box[2] / 2

    @property
    def cy(self) -> float:
        return self.box[1] + self.box[3] / 2


@dataclass
class Segmentation:
    labels: np.ndarray  # int32 component labels of the ink mask
    candidates: list[Candidate]
    rejected: list[tuple[Box, str]]
    digit_height: float


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def typical_height(heights: np.ndarray, widths: np.ndarray) -> float:
    """Median height of the substantial components (ignoring specks, dots and detached bars)."""
    if len(heights) == 0:
        return 0.0
    size = np.maximum(heights, widths)
    big = heights[size >= 0.4 * np.percentile(size, 90)]
    return float(np.median(big)) if len(big) else float(np.median(heights))


def find_candidates(mask: np.ndarray, lines: np.ndarray | None = None) -> Segmentation:
    """Components of the ink mask -> merged digit candidates and rejected regions. ``lines``
    (pixels removed as printed lines) lets leftover bits of those lines be rejected."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = max(4, int(SPECK_FRACTION * mask.size))
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area]
    if not keep:
        return Segmentation(labels, [], [], 0.0)
    st = stats[keep]
    heights, widths = st[:, cv2.CC_STAT_HEIGHT].astype(float), st[:, cv2.CC_STAT_WIDTH].astype(float)
    # a solid shape (a garment, a bag, a filled drawing) is no digit and does not say how big the
    # digits are: one beside a small number made its digits "too small"
    cands = [Candidate(tuple(int(v) for v in stats[i, :4]), [i]) for i in keep]
    size = np.maximum(heights, widths)
    big = np.flatnonzero(size >= 0.4 * np.percentile(size, 90))
    solid = [k for k in big if _filled(labels, cands[k])]
    if 0 < len(solid) < len(heights):
        heights, widths = np.delete(heights, solid), np.delete(widths, solid)
    ref = typical_height(heights, widths)
    cands = _merge_pieces(cands, ref)
    ih, iw = mask.shape
    near_lines = None
    if lines is not None and lines.any():
        near_lines = cv2.dilate(lines, np.ones((5, 5), np.uint8)) > 0
    good, rejected, in_row_only = [], [], []
    for c in cands:
        x, y, w, h = c.box
        reason = None
        if max(w, h) < TOO_SMALL * ref:
            reason = TOO_SMALL_MARK
        elif h > TOO_BIG * ref or w > 6 * ref:
            reason = "too big"
        elif w > 3.0 * h and h < 0.5 * ref:
            reason = "line or dash"
        elif (h >= 2.5 * w and min(x + w / 2, iw - x - w / 2) < EDGE_BAND * iw) or (
                w >= 2.5 * h and min(y + h / 2, ih - y - h / 2) < EDGE_BAND * ih):
            reason = EDGE_OF_PAGE
        elif _filled(labels, c):
            reason = FILLED_SHAPE
        elif near_lines is not None and min(w, h) < 0.25 * ref:
            own = np.isin(labels[y : y + h, x : x + w], c.ids)
            if near_lines[y : y + h, x : x + w][own].mean() > 0.8:
                reason = "part of a printed line"
        if reason in (EDGE_OF_PAGE, FILLED_SHAPE):
            in_row_only.append((c, reason))
        elif reason:
            rejected.append((c.box, reason))
        else:
            good.append(c)
    for c, reason in in_row_only:
        if _in_a_row_of(c, good, ref):
            good.append(c)
        else:
            rejected.append((c.box, reason))
    # the typical height again, now from accepted candidates only
    if good:
        ref = float(np.median([c.box[3] for c in good]))
    return Segmentation(labels, good, rejected, ref)


def _in_a_row_of(c: Candidate, digits: list[Candidate], ref: float) -> bool:
    """True when ``c`` stands in a row with one of ``digits`` (see BESIDE_GAP): side by side, or,
    for a mark wider than tall (a 1 of a page turned sideways), one above the other. (Both ways
    for every mark was measured too: a texture lost at one seed and won at another, a turned
    number lost at 90 and at 270 degrees.)"""
    x, y, w, h = c.box
    upright = h >= w
    for d in digits:
        dx, dy, dw, dh = d.box
        if upright:
            shared, gap, a, b = _overlap(y, y + h, dy, dy + dh), max(dx - x - w, x - dx - dw), h, dh
        else:
            shared, gap, a, b = _overlap(x, x + w, dx, dx + dw), max(dy - y - h, y - dy - dh), w, dw
        if shared >= 0.5 * min(a, b) and gap <= BESIDE_GAP * ref and max(a, b) <= BESIDE_SIZE * min(a, b):
            return True
    return False


def _filled(labels: np.ndarray, c: Candidate) -> bool:
    """True when the candidate's strokes are as wide as a good part of the candidate itself. An
    upright bar (BAR_ASPECT times as tall as wide) is its own stroke: a bold 1, for the model to
    judge (bold MNIST 1s written large came out "filled", at 0.33-0.34)."""
    x, y, w, h = c.box
    if h >= BAR_ASPECT * w:
        return False
    own = np.isin(labels[y : y + h, x : x + w], c.ids).astype(np.uint8)
    f = min(1.0, 64 / max(w, h))  # the ratio does not need full resolution
    if f < 1.0:
        own = (cv2.resize(own * 255, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
               >= 128).astype(np.uint8)
    return stroke_width(own) > FILLED * max(own.shape)


def text_lines(digits: list[Candidate], others: list[Candidate], ref: float,
               doubtful: Sequence[Candidate] = ()) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, dropped) digits: a line (digits and ``others``, the model's "not a digit" candidates,
    grouped together) in which the others are at least TEXT_LINE_FRACTION of the members holds
    words or a pattern, and the digit-like members of its words ("l", "o", a ray of a drawn sun)
    are not digits. On the dev photos no line of real digits holds more than one such candidate
    in 27.

    Such a line is judged word by word (its members split at the gaps that separate numbers): a
    number written beside a word ("Total 250", "19 vex") stands apart from it and stays, unless
    it is itself wordy (TEXT_LINE_FRACTION others), holds doubtful parts, or is a single mark. A
    lone digit-like mark between words is as likely an "I", an "o" or a stroke of a pattern
    (keeping lone marks let textures through: 86-89% of generated textures rejected, not 94-96%).

    ``doubtful`` digits (parts cut from a candidate the model rejected whole: an "M" cut into "1"
    and "4") count as others, so that a word is not saved by the splitter; a number of touching
    digits, which the model also rejects whole, stays when nothing else in its line is an other."""
    if not digits or not others:
        return digits, []
    other_ids = {id(c) for c in others}
    doubtful_ids = {id(c) for c in doubtful}

    def wordy(group: list[Candidate]) -> bool:
        k = sum(id(c) in other_ids for c in group)
        return k > 0 and k + sum(id(c) in doubtful_ids for c in group) >= TEXT_LINE_FRACTION * len(group)

    dropped: list[Candidate] = []
    for line in group_lines(digits + others, ref):
        if not wordy(line):
            continue
        for group in (g for n in split_numbers(line, ref) for g in _apart_from_words(n, other_ids, ref)):
            if len(group) == 1 or wordy(group) or any(id(c) in doubtful_ids for c in group):
                dropped += [c for c in group if id(c) not in other_ids]
    gone = {id(c) for c in dropped}
    return [c for c in digits if id(c) not in gone], dropped


def _apart_from_words(group: list[Candidate], other_ids: set[int], ref: float) -> list[list[Candidate]]:
    """``group`` (one number by the gaps alone, left to right) split wherever a digit and a "not a
    digit" candidate (``other_ids``) are at least WORD_GAP digit heights apart: a word and the
    number written after it a word space away are two groups, not one wordy number."""
    h, gaps = _height_and_gaps(group, ref)
    return _split_before(group, [(id(prev) in other_ids) != (id(c) in other_ids) and gap >= WORD_GAP * h
                                 for prev, c, gap in zip(group, group[1:], gaps, strict=False)])


def in_clutter(digits: list[Candidate], others: list[Box], ref: float) -> tuple[list[Candidate],
                                                                               list[Candidate]]:
    """(kept, dropped) digits: a digit whose neighbourhood (centres within CLUTTER_RADIUS digit
    heights) holds at least CLUTTER_MIN marks, most of them ``others`` (what the model calls "not a
    digit", filled shapes), stands in a pattern: bricks, foliage, fabric, a drawing. It is the
    two-dimensional twin of :func:`text_lines`: digits are written beside digits or on clean paper."""
    if not digits or len(others) < CLUTTER_MIN:
        return digits, []
    boxes = np.array([c.box for c in digits] + list(others), float)
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    is_other = np.arange(len(boxes)) >= len(digits)
    kept, dropped = [], []
    for i, c in enumerate(digits):
        near = np.hypot(cx - cx[i], cy - cy[i]) <= CLUTTER_RADIUS * ref
        near[i] = False
        n = int(near.sum())
        (dropped if n >= CLUTTER_MIN and is_other[near].sum() >= CLUTTER_FRACTION * n else kept).append(c)
    return kept, dropped


def lean(crop: np.ndarray) -> float:
    """Degrees the ink leans from upright (positive: its foot to the right of its head), from the
    second moments of a 28x28 crop. Meaningful for stroke-like digits such as 1s."""
    m = cv2.moments(np.asarray(crop, np.float32))
    if m["mu02"] <= 0:
        return 0.0
    return float(np.degrees(np.arctan(m["mu11"] / m["mu02"])))


def opposed_strokes(ones: list[Candidate], ref: float) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, dropped) among candidates read as 1: those whose neighbourhood (centres within
    OPPOSED_RADIUS digit heights, itself included) holds 1s leaning both ways by at least
    OPPOSED_LEAN degrees. Each needs its ``crop``. Writing has one slant; the strokes of a drawing
    point every way, and an upright ray of a sun goes with the slanted ones around it."""
    if len(ones) < 2:
        return ones, []
    leans = np.array([lean(c.crop) for c in ones])
    cx, cy = np.array([c.cx for c in ones]), np.array([c.cy for c in ones])
    dropped = set()
    for i in range(len(ones)):
        near = np.hypot(cx - cx[i], cy - cy[i]) <= OPPOSED_RADIUS * ref
        if (near & (leans >= OPPOSED_LEAN)).any() and (near & (leans <= -OPPOSED_LEAN)).any():
            dropped.add(i)
    return ([c for i, c in enumerate(ones) if i not in dropped],
            [c for i, c in enumerate(ones) if i in dropped])


def lone_ones(digits: list[Candidate], marks: int) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, dropped): when every digit of a picture reads as 1 and the picture also holds
    ``marks`` (candidates rejected as not digits: by the model, as filled shapes, as letters, as a
    pattern or a drawing), the 1s are strokes of those marks. A 1 is one straight stroke, the shape
    that the edge of a drawing, a letter's stem, a crease or a texture's seam makes, so on its own it
    is evidence of a number only on otherwise clean paper; beside any other digit it stays. On the
    dev set no picture whose digits are all 1s holds a single such mark; of 600 generated pictures
    of non-digits, 36 read as nothing but 1s beside such marks."""
    if marks > 0 and digits and all(int(np.argmax(c.probs[:10])) == 1 for c in digits):
        return [], digits
    return digits, []


def stroke_rows(digits: list[Candidate], ref: float) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, dropped): runs of at least STROKE_RUN 1s next to each other in a line of the
    picture (other digits before or after them stay). Each digit needs its ``probs``."""
    dropped: list[Candidate] = []
    for line in group_lines(list(digits), ref):
        run: list[Candidate] = []
        for c in [*line, None]:
            if c is not None and int(np.argmax(c.probs[:10])) == 1:
                run.append(c)
                continue
            if len(run) >= STROKE_RUN:
                dropped += run
            run = []
    gone = {id(c) for c in dropped}
    return [c for c in digits if id(c) not in gone], dropped


def _merge_pieces(cands: list[Candidate], ref: float) -> list[Candidate]:
    """Join pieces of one digit: x-overlapping and vertically close, or inside another's box.

    Bigger pieces take smaller ones first; passes repeat until nothing changes. Only pairs whose
    union could still be one digit are looked at, so a texture of thousands of specks stays fast."""
    changed = True
    while changed:
        changed = False
        cands.sort(key=lambda c: -c.box[2] * c.box[3])
        boxes = np.array([c.box for c in cands], dtype=np.int64).reshape(-1, 4)
        x0, y0 = boxes[:, 0], boxes[:, 1]
        x1, y1 = x0 + boxes[:, 2], y0 + boxes[:, 3]
        alive = np.ones(len(cands), bool)
        index = np.arange(len(cands))
        for i, a in enumerate(cands):
            if not alive[i]:
                continue
            ax, ay, aw, ah = a.box
            # a union too big now stays too big when ``a`` grows: this filter holds for the pass
            near = np.nonzero(alive & (index > i)
                              & (np.maximum(x1, ax + aw) - np.minimum(x0, ax) <= 1.2 * ref)
                              & (np.maximum(y1, ay + ah) - np.minimum(y0, ay) <= MERGE_HEIGHT * ref))[0]
            for j in near:
                bx, by, bw, bh = cands[j].box
                u = _union(a.box, cands[j].box)
                if u[3] > MERGE_HEIGHT * ref or u[2] > 1.2 * ref:
                    continue
                xo = _overlap(ax, ax + aw, bx, bx + bw)
                gap = max(by - (ay + ah), ay - (by + bh), 0)
                inside = xo * _overlap(ay, ay + ah, by, by + bh) >= 0.6 * bw * bh
                stacked = xo >= 0.5 * min(aw, bw) and gap <= MERGE_GAP * ref
                if inside or stacked:
                    a.box, a.ids = u, a.ids + cands[j].ids
                    ax, ay, aw, ah = a.box
                    alive[j] = False
                    changed = True
        cands = [c for c, keep in zip(cands, alive, strict=True) if keep]
    return cands


def crop_ink(soft: np.ndarray, labels: np.ndarray, c: Candidate) -> np.ndarray:
    """The candidate's own ink (no neighbours' strokes inside its box), float [0, 1]."""
    x, y, w, h = c.box
    own = np.isin(labels[y : y + h, x : x + w], c.ids)
    if c.keep is not None:
        own &= c.keep
    return np.where(own, soft[y : y + h, x : x + w], 0.0).astype(np.float32)


# The ink strength that counts as a fully dark stroke, as a quantile of the candidate's own ink:
# MNIST strokes are saturated and a faint or thin pen must look the same to the model (measured on
# the dev photos: 0.5 -> 0.1 took small handwriting from 94% to 98% digit accuracy, the model
# otherwise calls faint thin digits "not a digit").
SATURATE_QUANTILE = 0.1


def make_crop(soft: np.ndarray, labels: np.ndarray, c: Candidate) -> np.ndarray:
    """The candidate as a 28x28 MNIST-style image, its ink contrast normalized."""
    ink = crop_ink(soft, labels, c)
    on = ink[ink > 0]
    if on.size:
        ink = np.clip(ink / max(float(np.quantile(on, SATURATE_QUANTILE)), 1e-3), 0.0, 1.0)
    return to_mnist(ink)


def _part(c: Candidate, ink: np.ndarray) -> Candidate | None:
    """A split part: ``ink`` is the part's ink in the parent's box. Tighten the box to it and drop
    tiny slivers cut off the neighbour."""
    m = (ink > 0).astype(np.uint8)
    n, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return None
    biggest = st[1:, cv2.CC_STAT_AREA].max()
    small = [i for i in range(1, n) if st[i, cv2.CC_STAT_AREA] < 0.08 * biggest]
    if small:
        m[np.isin(lab, small)] = 0
    ys, xs = np.nonzero(m)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    x, y = c.box[0], c.box[1]
    box = (x + int(x0), y + int(y0), int(x1 - x0), int(y1 - y0))
    return Candidate(box, c.ids, keep=m[y0:y1, x0:x1] > 0)


def slant(ink: np.ndarray) -> float:
    """How far the strokes lean: x shift per pixel down (negative for the usual right-leaning
    hand), from the ink's second moments, within [-MAX_SLANT, MAX_SLANT]."""
    m = cv2.moments((ink > 0).astype(np.uint8), binaryImage=True)
    if m["mu02"] <= 0:
        return 0.0
    return float(np.clip(m["mu11"] / m["mu02"], -MAX_SLANT, MAX_SLANT))


def _cut_columns(ink: np.ndarray, tries: int = 4, lean: float = 0.0) -> list[int]:
    """Up to ``tries`` cuts at low points of the ink's column projection, well apart. With ``lean``
    the columns are those of the ink sheared upright: a cut ``xc`` is the slanted line
    ``x = xc + lean * (y - h / 2)`` (see :func:`_cut_masks`)."""
    h, w = ink.shape
    mask = (ink > 0).astype(np.float32)
    pad = int(np.ceil(abs(lean) * h / 2))
    if lean:
        shift = np.float32([[1, -lean, lean * h / 2 + pad], [0, 1, 0]])
        mask = cv2.warpAffine(mask, shift, (w + 2 * pad, h), flags=cv2.INTER_NEAREST)
    cols = mask.sum(0).astype(np.float32).reshape(1, -1)
    proj = cv2.GaussianBlur(cols, (0, 0), 1.0)[0]
    on = np.nonzero(proj > 0.05)[0]
    if len(on) == 0:
        return []
    x0, x1 = int(on[0]), int(on[-1]) + 1
    lo, hi = x0 + int(0.2 * (x1 - x0)), x0 + int(0.8 * (x1 - x0))
    chosen: list[int] = []
    for xcut in np.argsort(proj[lo:hi], kind="stable") + lo:
        if all(abs(int(xcut) - c) > max(2, (x1 - x0) // 12) for c in chosen):
            chosen.append(int(xcut))
        if len(chosen) >= tries:
            break
    return [c - pad for c in chosen]


def _cut_masks(shape: tuple[int, int], xc: int, lean: float) -> np.ndarray:
    """True left of the cut ``x = xc + lean * (y - h / 2)``."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    return xs - lean * (ys - h / 2) < xc


def _path_cuts(ink: np.ndarray, columns: list[int], reach: int) -> list[np.ndarray]:
    """For each column ``xc``: True left of the top-to-bottom path through the least ink near it.

    A path moves at most a pixel sideways per row and stays within ``reach`` of its column;
    crossing ink costs 1 a pixel (1.5 for full ink) and straying PATH_STRAY a pixel, so it threads
    the gap between two digits that overlap in x, where a straight cut would take a piece of one
    with the other (the foot of a 1 under the bowl of a 0). Dynamic programming over the rows,
    every column's path at once."""
    h, w = ink.shape
    if not columns:
        return []
    xs = np.arange(w)
    off = np.abs(xs - np.asarray(columns)[:, None])  # (n, w)
    stray = np.where(off > reach, np.inf, PATH_STRAY * off)
    ink_cost = (ink > 0) + 0.5 * ink.astype(np.float64)  # (h, w)
    total = ink_cost[0] + stray
    moves = np.zeros((len(columns), h, w), np.int8)  # -1, 0, 1: where each pixel's best path came from
    inf = np.full((len(columns), 1), np.inf)
    for y in range(1, h):
        steps = np.stack([np.hstack([inf, total[:, :-1]]), total, np.hstack([total[:, 1:], inf])])
        move = np.argmin(steps, 0)
        moves[:, y] = move - 1
        total = np.take_along_axis(steps, move[None], 0)[0] + (ink_cost[y] + stray)
    rows = np.arange(len(columns))
    path = np.zeros((len(columns), h), np.int64)
    path[:, -1] = np.argmin(total, 1)
    for y in range(h - 1, 0, -1):
        path[:, y - 1] = path[:, y] + moves[rows, y, path[:, y]]
    return list(xs[None, None, :] < path[:, :, None])


def split_touching(
    cands: list[Candidate],
    soft: np.ndarray,
    labels: np.ndarray,
    classify: Callable[[np.ndarray], np.ndarray],
    score: Callable[[np.ndarray], np.ndarray],
    min_score: float,
    max_depth: int = 3,
) -> list[Candidate]:
    """Split wide candidates the model is unsure about into parts it is sure about.

    ``classify`` maps (N, 28, 28) crops to (N, 11) probabilities; ``score`` maps those to a
    per-crop "this is one clear digit" score in [0, 1]. Candidates need ``crop``/``probs`` set.
    Cuts are straight down, for slanted writing along the slant (two leaning digits with long
    tails, a "99", overlap in x, so no straight cut separates them), and, for a mark the model
    calls "digits touching", along the path through the least ink (:func:`_path_cuts`): near CUTS
    columns each for such a mark, NARROW_CUTS for any other (parts cut off included).
    """
    out: list[Candidate] = []
    todo = [(c, 0) for c in cands]
    while todo:
        c, depth = todo.pop()
        x, y, w, h = c.box
        whole = float(score(c.probs[None])[0])
        # a candidate the model rejects or doubts may be two slanted digits in a narrow box
        min_aspect = SPLIT_ASPECT if whole >= min_score else SPLIT_ASPECT_UNSURE
        if depth >= max_depth or w < min_aspect * h or (whole >= 0.98 and w < 1.1 * h):
            out.append(c)
            continue
        ink = crop_ink(soft, labels, c)
        lean = slant(ink)
        leans = [0.0] + ([lean] if abs(lean) >= 0.1 else [])
        touching = float(c.probs[10]) * c.touching  # the model's most likely answer?
        broad = touching >= max(float(c.probs[:10].max()), float(c.probs[10]) - touching)
        columns = {k: _cut_columns(ink, CUTS if broad else NARROW_CUTS, k) for k in leans}
        cuts = [_cut_masks(ink.shape, xc, k) for k in leans for xc in columns[k]]
        if broad:
            cuts += _path_cuts(ink, columns[0.0], max(3, round(PATH_REACH * ink.shape[1])))
        trials: list[tuple[Candidate, Candidate]] = []
        seen: set[bytes] = set()  # cuts that part the ink alike (paths often meet in one gap)
        for left_of in cuts:
            key = np.packbits(left_of & (ink > 0)).tobytes()
            if key in seen:
                continue
            seen.add(key)
            lc, rc = _part(c, np.where(left_of, ink, 0.0)), _part(c, np.where(left_of, 0.0, ink))
            if lc is None or rc is None or min(lc.box[2], rc.box[2]) < 0.15 * h:
                continue
            trials.append((lc, rc))
        if not trials:
            out.append(c)
            continue
        crops = np.stack([make_crop(soft, labels, p) for t in trials for p in t])
        probs = classify(crops)
        s = score(probs).reshape(-1, 2)
        best = int(np.argmax(s.min(1)))
        if s[best].min() >= max(min_score, whole + 0.15):
            for k, part in enumerate(trials[best]):
                part.crop = crops[2 * best + k]
                part.probs = probs[2 * best + k]
                todo.append((part, depth + 1))
        else:
            out.append(c)
    return out


def estimate_skew(cands: list[Candidate], ref: float) -> float:
    """Slope (dy/dx) of the text lines: median direction from each candidate to its nearest
    neighbour on the right that has a similar height."""
    slopes = []
    for c in cands:
        best, best_dx = None, 3.0 * ref
        for d in cands:
            dx = d.cx - c.cx
            if 0 < dx < best_dx and abs(d.cy - c.cy) < 0.6 * dx + 0.3 * ref and \
                    0.5 < d.box[3] / max(1, c.box[3]) < 2:
                best, best_dx = d, dx
        if best is not None:
            slopes.append((best.cy - c.cy) / best_dx)
    return float(np.clip(np.median(slopes), -0.5, 0.5)) if len(slopes) >= 2 else 0.0


def group_lines(cands: list[Candidate], ref: float) -> list[list[Candidate]]:
    """Chain candidates into lines left to right (tolerating tilt and curved pages); lines are
    ordered top to bottom."""
    if not cands:
        return []
    skew = estimate_skew(cands, ref)

    def level(c: Candidate, x: float | None = None) -> float:
        """Vertical position with the page's tilt taken out."""
        return c.cy - skew * c.cx

    lines: list[list[Candidate]] = []
    for c in sorted(cands, key=lambda c: c.box[0]):
        y, h = level(c), c.box[3]
        best, best_cost = None, None
        for line in lines:
            last = line[-1]
            gap = c.box[0] - (last.box[0] + last.box[2])
            if gap > 8 * ref:
                continue
            # expected level: last member's, bent by the local trend of the line's last members
            ly = level(last)
            if len(line) >= 3:
                p = line[-3]
                dx = last.cx - p.cx
                if dx > 0:
                    trend = float(np.clip((level(last) - level(p)) / dx, -0.2, 0.2))
                    ly += trend * (c.cx - last.cx)
            dy = abs(y - ly)
            if dy > 0.5 * max(h, last.box[3]):
                continue
            cost = dy / ref + 0.05 * max(gap, 0) / ref
            if best_cost is None or cost < best_cost:
                best, best_cost = line, cost
        if best is not None:
            best.append(c)
        else:
            lines.append([c])
    # join fragments of one line (a gap or a bend broke the chain)
    merged = True
    while merged:
        merged = False
        lines.sort(key=lambda ln: ln[0].box[0])
        for i, a in enumerate(lines):
            for j, b in enumerate(lines):
                if i == j or b[0].box[0] <= a[-1].box[0] + a[-1].box[2] * 0.5:
                    continue
                if abs(level(b[0]) - level(a[-1])) < 0.5 * ref and \
                        b[0].box[0] - (a[-1].box[0] + a[-1].box[2]) < 12 * ref:
                    a.extend(b)
                    del lines[j]
                    merged = True
                    break
            if merged:
                break
    lines.sort(key=lambda ln: float(np.median([level(c) for c in ln])))
    return lines


def drop_strays(cands: list[Candidate], ref: float) -> tuple[list[Candidate], list[Candidate]]:
    """(kept, strays): a stray is a small mark on its own (far smaller than the digits, none of
    them near it) in a picture that has lines of several digits: a bit of texture at the photo's
    edge, the corner of a shadow, a fleck on the paper. Digits are written beside other digits; a
    lone mark a third of their size is not one of them."""
    if not any(len(ln) >= 2 for ln in group_lines(list(cands), ref)):
        return cands, []

    def alone(c: Candidate) -> bool:
        x, y, w, h = c.box
        for d in cands:
            if d is c:
                continue
            dx = max(d.box[0] - (x + w), x - (d.box[0] + d.box[2]), 0)
            dy = max(d.box[1] - (y + h), y - (d.box[1] + d.box[3]), 0)
            if max(dx, dy) <= STRAY_GAP * ref:
                return False
        return True

    strays = [c for c in cands if max(c.box[2:]) < STRAY_SIZE * ref and alone(c)]
    gone = {id(c) for c in strays}
    return [c for c in cands if id(c) not in gone], strays


def split_numbers(line: list[Candidate], ref: float) -> list[list[Candidate]]:
    """Split one line into numbers at gaps wider than NUMBER_GAP digit heights, or narrower ones
    where the line's own spacing says so (see :func:`number_gap`)."""
    if not line:
        return []
    h, gaps = _height_and_gaps(line, ref)
    limit = number_gap(np.asarray(gaps, float) / h) * h
    return _split_before(line, [gap > limit for gap in gaps])


def _height_and_gaps(line: list[Candidate], ref: float) -> tuple[float, list[int]]:
    """The median height of ``line``'s members (``ref`` if none has height) and the gaps between
    neighbours, left to right."""
    h = float(np.median([c.box[3] for c in line])) or ref
    return h, [c.box[0] - (prev.box[0] + prev.box[2]) for prev, c in zip(line, line[1:], strict=False)]


def _split_before(line: list[Candidate], cut: list[bool]) -> list[list[Candidate]]:
    """``line`` in parts, a new one starting at every member after a gap whose ``cut`` is True."""
    parts = [[line[0]]]
    for c, new in zip(line[1:], cut, strict=True):
        if new:
            parts.append([c])
        else:
            parts[-1].append(c)
    return parts


def number_gap(gaps: np.ndarray) -> float:
    """The gap (in digit heights) above which two digits of a line belong to different numbers.

    NUMBER_GAP, unless the line's gaps fall into two clearly separate groups, as on a page of
    numbers written close together ("27 28 29"): the digits of one number are written a similar
    small distance apart, the numbers a clearly larger one. Each group needs two members and the
    larger gaps must be on average GROUP_RATIO times the smaller ones, so one wide gap inside a
    single number is never taken for a separator.
    """
    if len(gaps) < 4:
        return NUMBER_GAP
    g = np.sort(gaps)
    jumps = np.diff(g)
    k = int(np.argmax(jumps[1:-1])) + 1 if len(jumps) > 2 else 0  # both sides keep two members
    low, high = g[: k + 1], g[k + 1 :]
    if len(low) < 2 or len(high) < 2:
        return NUMBER_GAP
    separate = high[0] - low[-1] >= MIN_GROUP_JUMP and high[0] >= MIN_CLOSE_GAP and \
        high.mean() >= GROUP_RATIO * max(low.mean(), 0.05)
    return min(NUMBER_GAP, float(low[-1] + high[0]) / 2) if separate else NUMBER_GAP
