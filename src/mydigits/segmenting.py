"""Step 3 of reading: from the ink image to digit candidates, their 28x28 crops, and text lines.

* Connected components of the ink are the starting candidates; specks are dropped silently.
* The typical digit height of the picture is the median height of the substantial components;
  every size rule below is relative to it, so the same rules work for a 40-pixel crop and for a
  page of small numbers.
* Pieces of one digit are merged: strokes broken by a light pen, the detached top bar of a 5 (they
  overlap strongly in x and are close vertically), small bits inside a bigger digit's box.
* Candidates that cannot be a digit are rejected with a reason (too small, a dash or line, a blob far
  bigger than the digits); the model later rejects more ("not a digit").
* Touching digits are split where the model is much more sure about the parts than the whole:
  cuts are tried at minima of the column projection.
* Candidates are chained into text lines left to right (following a tilted line), lines are ordered
  top to bottom, and a gap wider than ``NUMBER_GAP`` digit heights separates two numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from mydigits.normalizing import to_mnist

# Components smaller than this fraction of the image (or 4 pixels) are specks: dropped silently.
SPECK_FRACTION = 2e-5
# Size rules, as multiples of the typical digit height.
TOO_SMALL = 0.35  # the bigger side of a digit is at least this
TOO_BIG = 2.6  # a digit is at most this tall
MERGE_GAP = 0.3  # vertical gap between two pieces of one digit
MERGE_HEIGHT = 1.4  # two merged pieces are at most this tall together
NUMBER_GAP = 1.0  # a horizontal gap wider than this separates two numbers
# A candidate at least this wide (times its height) is tried as touching digits.
SPLIT_ASPECT = 0.8

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass
class Candidate:
    """One region that may be a digit, in working pixels."""

    box: Box
    ids: list[int]  # connected-component labels that make it up
    keep: np.ndarray | None = None  # after a split: which pixels of the box belong to this part
    crop: np.ndarray | None = None
    probs: np.ndarray | None = None

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
    ref = typical_height(st[:, cv2.CC_STAT_HEIGHT].astype(float), st[:, cv2.CC_STAT_WIDTH].astype(float))
    cands = [Candidate(tuple(int(v) for v in stats[i, :4]), [i]) for i in keep]
    cands = _merge_pieces(cands, ref)
    ih, iw = mask.shape
    near_lines = None
    if lines is not None and lines.any():
        near_lines = cv2.dilate(lines, np.ones((5, 5), np.uint8)) > 0
    good, rejected = [], []
    for c in cands:
        x, y, w, h = c.box
        reason = None
        if max(w, h) < TOO_SMALL * ref:
            reason = "too small"
        elif h > TOO_BIG * ref or w > 6 * ref:
            reason = "too big"
        elif w > 3.0 * h and h < 0.5 * ref:
            reason = "line or dash"
        elif (h >= 2.5 * w and min(x + w / 2, iw - x - w / 2) < 0.05 * iw) or (
                w >= 2.5 * h and min(y + h / 2, ih - y - h / 2) < 0.05 * ih):
            reason = "edge of the page or photo"
        elif w * h > 0.25 * iw * ih and sum(stats[i, cv2.CC_STAT_AREA] for i in c.ids) > 0.5 * w * h:
            reason = "blob"
        elif near_lines is not None and min(w, h) < 0.25 * ref:
            own = np.isin(labels[y : y + h, x : x + w], c.ids)
            if near_lines[y : y + h, x : x + w][own].mean() > 0.8:
                reason = "part of a printed line"
        if reason:
            rejected.append((c.box, reason))
        else:
            good.append(c)
    # the typical height again, now from accepted candidates only
    if good:
        ref = float(np.median([c.box[3] for c in good]))
    return Segmentation(labels, good, rejected, ref)


def _merge_pieces(cands: list[Candidate], ref: float) -> list[Candidate]:
    """Join pieces of one digit: x-overlapping and vertically close, or inside another's box."""
    changed = True
    while changed:
        changed = False
        cands.sort(key=lambda c: -c.box[2] * c.box[3])
        for i in range(len(cands)):
            a = cands[i]
            ax, ay, aw, ah = a.box
            for j in range(i + 1, len(cands)):
                b = cands[j]
                bx, by, bw, bh = b.box
                u = _union(a.box, b.box)
                if u[3] > MERGE_HEIGHT * ref or u[2] > 1.2 * ref:
                    continue
                xo = _overlap(ax, ax + aw, bx, bx + bw)
                gap = max(by - (ay + ah), ay - (by + bh), 0)
                inside = xo * _overlap(ay, ay + ah, by, by + bh) >= 0.6 * bw * bh
                stacked = xo >= 0.5 * min(aw, bw) and gap <= MERGE_GAP * ref
                if inside or stacked:
                    a.box, a.ids = u, a.ids + b.ids
                    ax, ay, aw, ah = a.box
                    del cands[j]
                    changed = True
                    break
            if changed:
                break
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


def _cut_columns(ink: np.ndarray, tries: int = 4) -> list[int]:
    """Up to ``tries`` cut columns at low points of the column projection, well apart."""
    w = ink.shape[1]
    cols = (ink > 0).sum(0).astype(np.float32).reshape(1, -1)
    proj = cv2.GaussianBlur(cols, (0, 0), 1.0)[0]
    lo, hi = int(0.2 * w), int(0.8 * w)
    chosen: list[int] = []
    for xcut in np.argsort(proj[lo:hi], kind="stable") + lo:
        if all(abs(int(xcut) - c) > max(2, w // 12) for c in chosen):
            chosen.append(int(xcut))
        if len(chosen) >= tries:
            break
    return chosen


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
    """
    out: list[Candidate] = []
    todo = [(c, 0) for c in cands]
    while todo:
        c, depth = todo.pop()
        x, y, w, h = c.box
        whole = float(score(c.probs[None])[0])
        if depth >= max_depth or w < SPLIT_ASPECT * h or (whole >= 0.98 and w < 1.1 * h):
            out.append(c)
            continue
        ink = crop_ink(soft, labels, c)
        trials: list[tuple[Candidate, Candidate]] = []
        for xc in _cut_columns(ink, 2):
            left, right = ink.copy(), ink.copy()
            left[:, xc:] = 0
            right[:, :xc] = 0
            lc, rc = _part(c, left), _part(c, right)
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


def split_numbers(line: list[Candidate], ref: float) -> list[list[Candidate]]:
    """Split one line into numbers at gaps wider than NUMBER_GAP typical digit heights."""
    if not line:
        return []
    h = float(np.median([c.box[3] for c in line])) or ref
    numbers = [[line[0]]]
    for prev, c in zip(line, line[1:], strict=False):
        gap = c.box[0] - (prev.box[0] + prev.box[2])
        if gap > NUMBER_GAP * h:
            numbers.append([c])
        else:
            numbers[-1].append(c)
    return numbers
