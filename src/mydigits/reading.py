"""Reading digits and numbers in pictures: the :class:`Reader` API.

Data flows one way, one module per step::

    loading (pixels) -> binarizing (ink) -> segmenting (regions, crops, lines) -> model -> numbers

``Reader(model)`` loads a model once; ``Reader.read(source)`` returns a :class:`ReadResult` with the
text, every digit's box, confidence, probabilities and 28x28 crop, the rejected regions with the
reason, and the time each step took.

The model is, in order: the ``model`` argument, the ``MYDIGITS_MODEL`` environment variable, the
active taught model, the shipped default (see :func:`mydigits.modelio.default_model_path`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from mydigits import annotating, binarizing, loading, modelio, segmenting
from mydigits.errors import MydigitsError

# A mark this much wider than tall is tried as touching digits even when the model did not call it
# that, unless it is sure of one digit (a model with a "digits touching" output; see
# Reader._may_be_several). Two digits side by side are about 1.4 times as wide as tall.
WIDE = 1.2
SURE_WHOLE = 0.98
# A digit whose best probability is below this is shown as "?" (digit None, "not sure").
# Measured on the dev photos with the 11-class default model: 0.5 -> 98.4% digit accuracy, 0.6 ->
# 98.2%, 0.7 -> 97.9% (a "?" counts as an error there, so lower is not automatically better).
NOT_SURE = 0.5
# Digits shorter than this (working pixels) in a reduced picture: read it again at full work size.
MIN_DIGIT_PX = 40
# ...unless the ink found there covers more than this many times the share of the picture it did.
RELOAD_INK_RATIO = 4.0
# On coloured paper (a channel under 1 / COLOURED_PAPER of the paper's brightest: green, purple or
# orange card; white paper under warm light keeps more) dark ink is looked for a second time in the
# channels balanced to the paper's colour (binarizing.ink_gray), and that reading is taken if it
# reads a number (as _reads_a_number) at least as plausibly and with more digits. Not always: with
# more contrast, a picture shows more of its texture too (bricks' mortar read as 1s).
COLOURED_PAPER = 1.5
# Try the picture turned by 90/180/270 degrees when fewer than this fraction of digits are sure
# (of the digits and the refused marks, when those lie on their side: see Reader._looks_turned).
ROTATE_BELOW = 0.5
# ...and take a turned reading only if it scores this much better (6 and 9 read either way up).
ROTATE_MARGIN = 0.15
# A picture in which the model found no digit is tried turned only if at least this many marks
# stand like a number on its side, and the turned reading is taken only if it finds at least this
# many digits, more than it rejects (a single mark on its side is as likely a letter as a digit).
SIDEWAYS_MARKS = 3
# Upside down, digits stand as tall as upright and many still read surely (0, 1 and 8 are the same
# turned, a 6 becomes a 9), so nothing above asks for a turn. A picture of at least SIDEWAYS_MARKS
# marks (candidates shown to the model) is therefore read turned by 180 degrees too, unless it
# reads so surely that no reading could beat it by the margin, and that reading is taken when it
# scores UPSIDE_DOWN_MARGIN better than the picture as given and at least UPSIDE_DOWN_SURE on its
# own: a page the right way up reads as surely as a page of digits, while letters or scribbles
# turned give a few digits among doubts. Measured on 120 numbers of 3-8 MNIST test digits on
# generated paper (benchmarks/turned.py's pictures, another seed) and on the letter and scribble
# pictures of not_digits (seed 11): no number upright was turned, 93 of the 116 upside down were
# (96 without the floor); a picture of letters with a number was turned 5 times in 94 without the
# floor, never with it.
# When no upside-down reading is taken, the picture is read on either side by the same test. On
# its side a number is often cut into marks nothing above recognises as a number lying down (a
# digit in two pieces, two digits in one mark, a speck on a line of its own), so the rules of
# _looks_turned let it pass: of turned.py's numbers read whole upright and lost on their side, 65
# of 75 had never been tried turned. Upside down is tried first (a number upside down, turned by
# 90 degrees, is a column of strokes that read as sure 1s), and a reading on either side must not
# look turned itself nor be mostly 1s (Reader._upright_on_its_side). turned.py read whole at 90 /
# 270 degrees: 75.5 / 75% -> 82.5 / 82.5%; of 100 letter and 100 scribble pictures, without that
# last test, one more of each was read as digits.
UPSIDE_DOWN_MARGIN = 0.1
UPSIDE_DOWN_SURE = 0.8
# A page photographed askew tilts every digit with its line, past what the model learned (12
# degrees) and the line grouping's tolerance. When the marks' lines (segmenting.estimate_skew,
# from at least TILT_MARKS marks) slope by at least TILT_MIN degrees, the ink is turned level and
# read again, and that reading is taken if it scores better (Reader._orientation_score) and, where
# the picture as given read no digit, reads a number (_reads_a_number: a texture or a scribble
# levelled may show a stroke or two that pass for digits).
TILT_MIN = 4.0
TILT_MARKS = 3
# A model's probabilities hold for pictures in which marks are "not one digit" as often as in its
# training; a picture says how many are there (see picture_prior). A model records that share in
# its metadata ("not_a_digit_share"); for one that does not (net-v1, trained on 22% negatives
# that were easier than the marks of real pictures) this is used. Measured with net-v1 on the 600
# not-a-digit pictures: 0.22 with 4 or 1 pseudo marks -> 79.8% or 80.3% rejected, 0.1 with 2 ->
# 82.7% (77.8% without the prior); the dev set read the same. The default net, trained on 35%
# real-looking negatives, reads the dev set best at its own share (99.54% of digits; 0.2 and 0.1:
# 99.08%, a lone loopy 8 refused) and rejects 96% of those pictures there.
NEUTRAL_NOT_DIGIT_SHARE = 0.1
# ...weighed as if this many more marks at that share had been seen in the picture, so that one or
# two marks say little and a page of them says a lot (0: the probabilities are left as they are).
PRIOR_PSEUDO_MARKS = 2.0

Box = list[int]


@dataclass
class Digit:
    digit: int | None
    confidence: float
    box: Box
    probabilities: list[float]
    crop: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((28, 28), np.float32))

    def to_json(self) -> dict:
        return {"digit": self.digit, "confidence": round(self.confidence, 4), "box": self.box,
                "probabilities": [round(p, 4) for p in self.probabilities]}


@dataclass
class Line:
    text: str
    box: Box
    digits: list[Digit]

    def to_json(self) -> dict:
        return {"text": self.text, "box": self.box, "digits": [d.to_json() for d in self.digits]}


@dataclass
class Rejected:
    box: Box
    reason: str
    crop: np.ndarray | None = field(repr=False, default=None)

    def to_json(self) -> dict:
        return {"box": self.box, "reason": self.reason}


@dataclass
class ReadResult:
    file: str
    text: str
    lines: list[Line]
    rejected: list[Rejected]
    timings_ms: dict[str, float]
    image: np.ndarray | None = field(repr=False, default=None)  # working pixels, for annotating
    scale: float = 1.0  # original pixels per working pixel

    @property
    def digits(self) -> list[Digit]:
        return [d for line in self.lines for d in line.digits]

    def to_json(self) -> dict:
        return {"file": self.file, "text": self.text, "lines": [ln.to_json() for ln in self.lines],
                "rejected": [r.to_json() for r in self.rejected],
                "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()}}

    def _stem(self) -> str:
        stem = Path(self.file).stem if self.file and not self.file.startswith("<") else ""
        return stem or "image"

    def save_annotated(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``<stem>_annotated.png``: the picture with every box, digit and confidence."""
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        img = self.image if self.image is not None else np.full((100, 100, 3), 255, np.uint8)
        s = 1.0 / self.scale

        def px(box: Box) -> segmenting.Box:  # original pixels -> working pixels
            x, y, w, h = (round(v * s) for v in box)
            return x, y, w, h

        img = annotating.draw(img, [(px(d.box), d.digit, d.confidence) for d in self.digits],
                              [px(r.box) for r in self.rejected])
        path = _unique(out_dir / f"{self._stem()}_annotated.png")
        _write_png(path, img)
        return path

    def save_crops(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write every digit's 28x28 crop as ``<stem>_<index>_<digit>.png`` (``x`` when not sure),
        never overwriting: an existing name gets a ``_2``, ``_3``... before the label."""
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for i, d in enumerate(self.digits):
            label = "x" if d.digit is None else str(d.digit)
            path = _unique(out_dir / f"{self._stem()}_{i}_{label}.png", label_last=True)
            _write_png(path, (np.clip(d.crop, 0, 1) * 255 + 0.5).astype(np.uint8))
            written.append(path)
        return written


def _unique(path: Path, label_last: bool = False) -> Path:
    """``path`` or, if taken, the same name with a counter (keeping the label character last)."""
    if not path.exists():
        return path
    stem, suffix = path.stem, path.suffix
    head, sep, label = stem.rpartition("_") if label_last else (stem, "", "")
    for k in range(2, 100000):
        name = f"{head}_{k}{sep}{label}{suffix}" if label_last else f"{stem}_{k}{suffix}"
        cand = path.with_name(name)
        if not cand.exists():
            return cand
    raise MydigitsError(f"{path}: too many files with this name")


def _write_png(path: Path, img: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(img).save(path, format="PNG")


def resolve_model(model: str | os.PathLike[str] | None) -> str | os.PathLike[str] | Path:
    if model is not None:
        return model
    env = os.environ.get("MYDIGITS_MODEL")
    return env if env else modelio.default_model_path()


class Reader:
    """Reads digits and numbers in photos, scans and drawings.

    Args:
        model: model path (``NAME``, ``NAME.safetensors`` or ``NAME.json``). None: the environment
            variable ``MYDIGITS_MODEL`` if set, else the active taught model or the shipped default.
    """

    def __init__(self, model: str | os.PathLike[str] | None = None):
        self.classifier = modelio.Classifier.load(resolve_model(model))
        share = self.classifier.meta.get("not_a_digit_share")
        valid = isinstance(share, float) and 0.01 <= share <= 0.9
        self.neutral_share = share if valid else NEUTRAL_NOT_DIGIT_SHARE

    # -- model helpers -------------------------------------------------------------------------
    def _classify_cuts(self, crops: np.ndarray) -> np.ndarray:
        """The parts of a mark's candidate cuts, whose best cut is the one whose parts the model is
        surest of: ranked on the model's own probabilities, not its gate's (modelio.GATE_SURE).
        Ranked on the gate's, 3 of 380 touching pairs more were cut wrong."""
        return self._predict(crops, gated=False)[0]

    def _predict(self, crops: np.ndarray, gated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(N, 11) probabilities (ten digits, "not one digit"), and the share of "not one digit"
        that is "digits touching"."""
        if len(crops) == 0:
            return np.zeros((0, 11), np.float32), np.zeros(0, np.float32)
        with _few_threads(len(crops)):
            return self.classifier.predict(np.asarray(crops, np.float32), gated=gated)

    def _may_be_several(self, c: segmenting.Candidate) -> bool:
        """Worth cutting apart: the model finds "digits touching" at least as likely as any one
        digit, or the mark is wide (two digits the model did not see as such) and no sure digit.
        Otherwise a mark it calls "not a digit" stays whole, or a flower gives an 8 and a 3 and a
        "u" two 1s; so does one digit, or an open 0 gives a 1 and a 7. A model without the touching
        output cannot tell: every mark is tried, as the splitter's own rules allow."""
        if not self.classifier.knows_touching:
            return True
        touching = float(c.probs[10]) * c.touching
        best = float(c.probs[:10].max())
        wide = c.box[2] >= WIDE * c.box[3] and best < SURE_WHOLE
        return touching >= best or (wide and touching >= float(c.probs[10]) - touching)

    @staticmethod
    def _score(probs: np.ndarray) -> np.ndarray:
        """How clearly each crop is one digit: best digit probability (0 if "not a digit" wins)."""
        best = probs[:, :10].max(1)
        return np.where(probs[:, 10] >= best, 0.0, best)

    # -- reading -------------------------------------------------------------------------------
    def read(self, source: loading.Source, name: str | None = None) -> ReadResult:
        """Read one picture (path, encoded bytes or numpy array). Raises MydigitsError."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        # big photos: first a quick look at reduced size; only small handwriting needs more pixels
        img = loading.load(source, name, work_side=loading.QUICK_SIDE)
        timings["load"] = _ms(t)
        t = time.perf_counter()
        ink = binarizing.binarize(img.pixels, scale=img.scale)
        timings["binarize"] = _ms(t)
        if img.scale > 1.2:
            quick = segmenting.find_candidates(ink.mask, ink.lines)
            if quick.candidates and quick.digit_height < MIN_DIGIT_PX:
                t = time.perf_counter()
                full = loading.load(source, name)
                full_ink = binarizing.binarize(full.pixels, scale=full.scale)
                # more pixels must find the same ink: at full size the paper's grain is no longer
                # averaged away, and with a shadow pushing the threshold down to its minimum, a
                # fifth of a sheet came out as "ink"
                if full_ink.mask.mean() <= RELOAD_INK_RATIO * ink.mask.mean():
                    img, ink = full, full_ink
                timings["reload"] = _ms(t)
        t = time.perf_counter()
        seg, digits_c, not_digits = self._recognize(ink)
        turn = 0
        timings["segment_classify"] = _ms(t)
        if not ink.inverted and binarizing.paper_gain(img.pixels).max() > COLOURED_PAPER:
            t = time.perf_counter()
            balanced = binarizing.binarize(img.pixels, scale=img.scale, balance=True)
            found = self._recognize(balanced)
            if len(found[1]) > len(digits_c) and _reads_a_number(found[1], found[2]) and \
                    self._orientation_score(found[1], found[2]) >= self._orientation_score(digits_c, not_digits):
                ink, (seg, digits_c, not_digits) = balanced, found
            timings["colour"] = _ms(t)
        if self._looks_turned(digits_c, not_digits, seg.digit_height):
            t = time.perf_counter()
            # the most plausible of the three turns, if it beats the picture as given by the margin
            # (each against the picture as given: a wrong turn that beats it must not raise the bar
            # for the right one)
            upright = self._orientation_score(digits_c, not_digits)
            score, k, best = self._likeliest_turn(ink, (1, 3, 2))
            if score > upright + ROTATE_MARGIN and (digits_c or _reads_a_number(best[1], best[2])):
                turn = k
                seg, digits_c, not_digits = best
            timings["orientation"] = _ms(t)
        elif len(seg.candidates) >= SIDEWAYS_MARKS and \
                (upright := self._orientation_score(digits_c, not_digits)) + UPSIDE_DOWN_MARGIN < 1.0:
            # (a score is at most 1: a picture read as surely as that cannot be beaten by the margin,
            # and is not read again)
            t = time.perf_counter()
            for ks in ((2,), (1, 3)):  # upside down, else the likelier side
                score, k, best = self._likeliest_turn(ink, ks)
                if score >= UPSIDE_DOWN_SURE and score > upright + UPSIDE_DOWN_MARGIN and \
                        _reads_a_number(best[1], best[2]) and \
                        (k == 2 or self._upright_on_its_side(best[0], best[1], best[2])):
                    turn = k
                    seg, digits_c, not_digits = best
                    break
            timings["orientation"] = _ms(t)
        tilt = None
        marks = digits_c + not_digits
        slope = segmenting.estimate_skew(marks, seg.digit_height) if len(marks) >= TILT_MARKS else 0.0
        if abs(np.degrees(np.arctan(slope))) >= TILT_MIN:
            t = time.perf_counter()
            level, back = _level_ink(_rotate_ink(ink, turn) if turn else ink, float(np.degrees(np.arctan(slope))))
            found = self._recognize(level)
            if self._orientation_score(found[1], found[2]) > self._orientation_score(digits_c, not_digits) \
                    and (digits_c or _reads_a_number(found[1], found[2])):
                (seg, digits_c, not_digits), tilt = found, back
            timings["tilt"] = _ms(t)
        t = time.perf_counter()
        result = self._assemble(img, seg, digits_c, not_digits, turn, tilt)
        timings["assemble"] = _ms(t)
        timings["total"] = sum(timings.values())
        result.timings_ms = timings
        return result

    def _looks_turned(self, digits_c: list, not_digits: list, ref: float) -> bool:
        """Worth trying the picture turned: digits wider than tall, "lines" of one or two digits
        stacked in a column (a number photographed sideways), or the model unsure about most.
        Refused marks count among the unsure when most stand wider than tall, as digits on their
        side do: on its side a number has most of its digits refused and one or two read surely
        (a 0, a 6 that is a 9), and counting the digits read alone, all were sure (numbers on
        generated paper turned 90 degrees read whole 56.5% -> 71.5%; beside words, where turned
        letters may read as digits, a number was lost a little more often).
        A picture with no digit at all is tried only when its marks stand like a number on its
        side, one per line and wider than tall: the model calls a digit on its side "not a
        digit", and turned, a page of letters or a drawing reads as digits far more often than
        a page of digits lies on its side (tried for every such picture on 2026-12-04: letter
        pictures 100% -> 36% rejected)."""
        if not digits_c:
            return _stand_sideways(not_digits, ref)
        sure = sum(self._score(_model_probs(c)[None])[0] >= NOT_SURE for c in digits_c)
        lines = segmenting.group_lines(list(digits_c), ref)
        column = len(lines) >= 3 and float(np.median([len(ln) for ln in lines])) <= 2
        lying = bool(not_digits) and _median_aspect(not_digits) > 1.0
        unsure_of = len(digits_c) + (len(not_digits) if lying else 0)
        return _median_aspect(digits_c) > 1.0 or column or sure < ROTATE_BELOW * unsure_of

    def _likeliest_turn(self, ink: binarizing.Ink, quarter_turns: tuple[int, ...]):
        """The picture read turned by each of ``quarter_turns`` (anticlockwise): the likeliest
        reading by _orientation_score, as (its score, its quarter turns, the reading); the first
        of equals."""
        scored = []
        for k in quarter_turns:
            found = self._recognize(_rotate_ink(ink, k))
            scored.append((self._orientation_score(found[1], found[2]), k, found))
        return max(scored, key=lambda s: s[0])

    def _upright_on_its_side(self, seg: segmenting.Segmentation, digits_c: list, not_digits: list) -> bool:
        """A reading of a picture turned on its side that does not itself look turned (lines of one
        or two digits in a column: see _looks_turned) nor is mostly 1s: turned the wrong way, the
        strokes of letters, scribbles or digits are bars, and a bar reads as a sure 1."""
        ones = sum(int(np.argmax(_model_probs(c)[:10])) == 1 for c in digits_c)
        return 2 * ones <= len(digits_c) and not self._looks_turned(digits_c, not_digits, seg.digit_height)

    def _orientation_score(self, digits_c: list, not_digits: list) -> float:
        """How plausible a reading is: the model's mean confidence (before the picture's prior,
        which lifts every digit of a page of digits, upside down too) over all the marks, those
        it calls "not a digit" counting 0 (on its side, most of a number is refused and a 0 or
        an 8 may still be read, surely), digits taller than wide."""
        if not digits_c:
            return 0.0
        conf = sum(float(self._score(_model_probs(c)[None])[0]) for c in digits_c)
        conf /= len(digits_c) + len(not_digits)
        return conf - 0.5 * max(0.0, _median_aspect(digits_c) - 0.9)

    def _recognize(self, ink: binarizing.Ink, refused: list | None = None):
        """Segment, classify and apply the rules against marks. ``refused``: candidates already
        found "not a digit" outside ``ink`` (see below); they count for the prior and the rules."""
        refused = refused or []
        seg = segmenting.find_candidates(ink.mask, ink.lines)
        cands = seg.candidates
        rejected_whole: set[tuple[int, ...]] = set()  # split parts keep their whole's ids
        if cands:
            crops = np.stack([segmenting.make_crop(ink.soft, seg.labels, c) for c in cands])
            probs, touching = self._predict(crops)
            for c, crop, p, t in zip(cands, crops, probs, touching, strict=True):
                c.crop, c.probs, c.touching = crop, p, float(t)
            rejected_whole = {tuple(c.ids) for c in cands if _not_a_digit(c.probs)}
            several = [c for c in cands if self._may_be_several(c)]
            tried = {id(c) for c in several}
            cands = [c for c in cands if id(c) not in tried] + segmenting.split_touching(
                several, ink.soft, seg.labels, self._classify_cuts, self._score, NOT_SURE)
            if PRIOR_PSEUDO_MARKS > 0:
                every = np.stack([c.probs for c in cands] + [_model_probs(m) for m in refused])
                prior = picture_prior(every, self.neutral_share, PRIOR_PSEUDO_MARKS)[: len(cands)]
                for c, p in zip(cands, prior, strict=True):
                    c.model_probs, c.probs = c.probs, p
        digits_c, not_digits = [], []
        for c in cands:
            (not_digits if _not_a_digit(c.probs) else digits_c).append(c)
        not_digits += refused
        digits_c, strays = segmenting.drop_strays(digits_c, seg.digit_height)
        seg.rejected.extend((c.box, "stray mark") for c in strays)
        doubtful = [c for c in digits_c if c.keep is not None and tuple(c.ids) in rejected_whole]
        digits_c, wordy = segmenting.text_lines(digits_c, not_digits, seg.digit_height, doubtful)
        seg.rejected.extend((c.box, "in a line of letters or marks") for c in wordy)
        clutter = [c.box for c in not_digits] + [b for b, why in seg.rejected if why == segmenting.FILLED_SHAPE]
        digits_c, cluttered = segmenting.in_clutter(digits_c, clutter, seg.digit_height)
        seg.rejected.extend((c.box, "in a pattern of marks") for c in cluttered)
        ones = [c for c in digits_c if int(np.argmax(c.probs[:10])) == 1]
        _, opposed = segmenting.opposed_strokes(ones, seg.digit_height)
        gone = {id(c) for c in opposed}
        digits_c = [c for c in digits_c if id(c) not in gone]
        seg.rejected.extend((c.box, "strokes leaning every way") for c in opposed)
        marks = (len(not_digits) + len(wordy) + len(cluttered) + len(opposed)
                 + sum(why == segmenting.FILLED_SHAPE for _, why in seg.rejected))
        digits_c, strokes = segmenting.lone_ones(digits_c, marks)
        seg.rejected.extend((c.box, segmenting.ONES_AMONG_MARKS) for c in strokes)
        digits_c, strokes = segmenting.stroke_rows(digits_c, seg.digit_height)
        seg.rejected.extend((c.box, segmenting.STROKE_ROW) for c in strokes)
        small = sum(why == segmenting.TOO_SMALL_MARK for _, why in seg.rejected)
        # marks the rules dropped (a face's outline read "0" in a line with its smile) were refused too
        dropped = wordy + cluttered + opposed
        if not refused and len(digits_c) < small and 0 < len(not_digits) + len(dropped) < small:
            # The digits' size may have been measured on a few marks the model refuses (a drawing
            # beside a small number, the pieces of a shadow) when the marks "too small" outnumber
            # them (in a texture the refused marks are many) and the digits found (a wide digit of
            # the number can pass): measured again without the refused marks, which still count as
            # marks, and taken if more digits come out.
            ids = [i for c in not_digits + dropped for i in c.ids]
            keep = (~np.isin(seg.labels, ids)).astype(np.uint8)
            again = self._recognize(replace(ink, soft=ink.soft * keep, mask=ink.mask * keep), not_digits + dropped)
            if len(again[1]) > len(digits_c):
                return again
        return seg, digits_c, not_digits

    def _assemble(self, img: loading.LoadedImage, seg: segmenting.Segmentation,
                  digits_c: list, not_digits: list, turn: int = 0,
                  tilt: np.ndarray | None = None) -> ReadResult:
        """The result, boxes in the original picture's pixels: found in the working picture turned
        by ``turn`` quarter turns, then levelled (``tilt``: the affine map back, see _level_ink)."""
        s = img.scale
        ow, oh = img.original_size
        shape = img.pixels.shape[:2]

        def box(b) -> Box:
            x, y, w, h = _unrotate(b if tilt is None else _unlevel(b, tilt), turn, shape)
            x0, y0 = max(0, round(x * s)), max(0, round(y * s))
            x1, y1 = min(ow, round((x + w) * s)), min(oh, round((y + h) * s))
            return [int(x0), int(y0), int(max(1, x1 - x0)), int(max(1, y1 - y0))]

        lines: list[Line] = []
        for group in segmenting.group_lines(digits_c, seg.digit_height):
            words, digits = [], []
            for number in segmenting.split_numbers(group, seg.digit_height):
                chars = ""
                for c in number:
                    conf = float(c.probs[:10].max())
                    d = int(np.argmax(c.probs[:10])) if conf >= NOT_SURE else None
                    chars += "?" if d is None else str(d)
                    digits.append(Digit(d, conf, box(c.box), [float(v) for v in c.probs[:10]],
                                        c.crop))
                words.append(chars)
            ub = group[0].box
            for c in group[1:]:
                ub = segmenting._union(ub, c.box)
            lines.append(Line(" ".join(words), box(ub), digits))
        rejected = [Rejected(box(b), reason) for b, reason in seg.rejected]
        rejected += [Rejected(box(c.box), "not a digit", c.crop) for c in not_digits]
        text = "\n".join(ln.text for ln in lines)
        return ReadResult(img.name, text, lines, rejected, {}, img.pixels, s)

    def read_many(self, sources: Iterable[loading.Source], workers: int | None = None):
        """Read several pictures on a thread pool (OpenCV and torch release the GIL, so two threads
        keep two cores busy). Yields ``(source, ReadResult or MydigitsError)`` in input order, with
        at most a few pictures in flight so that a folder of thousands of photos stays small in memory."""
        workers = workers or min(2, os.cpu_count() or 1)

        def one(src):
            try:
                return src, self.read(src)
            except MydigitsError as exc:
                return src, exc

        if workers <= 1:
            yield from map(one, sources)
            return
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()
            for src in sources:
                pending.append(pool.submit(one, src))
                if len(pending) > 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()


def picture_prior(probs: np.ndarray, neutral: float = NEUTRAL_NOT_DIGIT_SHARE,
                  pseudo: float = PRIOR_PSEUDO_MARKS, steps: int = 20) -> np.ndarray:
    """The (N, 11) probabilities of a picture's N candidates, re-weighted for how often marks are
    "not a digit" in this picture rather than in the model's training.

    A classifier's posterior carries its training prior; when the prior shifts, the posterior is
    the likelihood times the new prior (Saerens, Latinne and Decaestecker 2002, "Adjusting the
    outputs of a classifier to new a priori probabilities", whose EM estimates the new prior from the
    re-weighted posteriors themselves). A page of digits holds almost no non-digits, so a doubtful
    digit among 40 clear ones is a digit; in a picture of bricks, a drawing or a garment most marks
    are not digits, and the stroke that looks 70% like a 1 there is most likely one more mark,
    while a digit the model is sure of stays one. The share is estimated with ``pseudo`` marks at
    the ``neutral`` share added (a beta prior), so that one or two marks move it little."""
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0:
        return probs.astype(np.float32)
    share = neutral
    for _ in range(steps):
        w = np.full(probs.shape[1], (1 - share) / (1 - neutral))
        w[10] = share / neutral
        q = probs * w
        q /= q.sum(1, keepdims=True)
        new = (pseudo * neutral + q[:, 10].sum()) / (pseudo + len(q))
        if abs(new - share) < 1e-4:
            break
        share = new
    return q.astype(np.float32)


def _reads_a_number(digits: list, not_digits: list) -> bool:
    """A second reading (turned, or balanced on coloured paper) worth taking where the picture as
    given read no digit (or, upside down or coloured, any): at least SIDEWAYS_MARKS digits, more
    than it rejects."""
    return len(digits) >= SIDEWAYS_MARKS and len(digits) > len(not_digits)


def _stand_sideways(marks: list, ref: float) -> bool:
    """Marks that stand like a number lying on its side: at least ``SIDEWAYS_MARKS`` of them,
    wider than tall, each alone on its line."""
    if len(marks) < SIDEWAYS_MARKS:
        return False
    lines = segmenting.group_lines(list(marks), ref)
    return _median_aspect(marks) > 1.0 and len(lines) == len(marks)


def _median_aspect(marks: list) -> float:
    """The marks' median width / height (a number on its side: above 1)."""
    return float(np.median([c.box[2] / max(1, c.box[3]) for c in marks]))


def _model_probs(c: segmenting.Candidate) -> np.ndarray:
    return c.probs if c.model_probs is None else c.model_probs


def _not_a_digit(probs: np.ndarray) -> bool:
    """"Not one digit" (not a digit, or digits touching that stayed whole) wins."""
    return bool(probs[10] >= probs[:10].max())


_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


@contextlib.contextmanager
def _few_threads(batch: int):
    """Run small batches on one torch thread: a handful of 28x28 crops gains nothing from more,
    and waiting for busy cores can cost 50 times the work itself."""
    global _threads_users, _threads_saved
    if batch > 256:
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def _ms(t: float) -> float:
    return (time.perf_counter() - t) * 1000.0


def _rotate_ink(ink: binarizing.Ink, k: int) -> binarizing.Ink:
    """The ink turned counter-clockwise by ``k`` quarter turns."""
    return binarizing.Ink(np.ascontiguousarray(np.rot90(ink.soft, k)),
                          np.ascontiguousarray(np.rot90(ink.mask, k)),
                          np.ascontiguousarray(np.rot90(ink.lines, k)), ink.inverted, ink.threshold)


def _level_ink(ink: binarizing.Ink, degrees: float) -> tuple[binarizing.Ink, np.ndarray]:
    """The ink turned by ``degrees`` counter-clockwise (``loading.tilted``) and the map back."""
    mask, back = loading.tilted(ink.mask, degrees, cv2.INTER_NEAREST)
    soft = loading.tilted(ink.soft, degrees)[0] * mask
    lines = loading.tilted(ink.lines, degrees, cv2.INTER_NEAREST)[0]
    return binarizing.Ink(soft, mask, lines, ink.inverted, ink.threshold), back


def _unlevel(b: segmenting.Box, back: np.ndarray) -> segmenting.Box:
    """A box found in the levelled ink, in the ink before (the box around its four corners)."""
    x, y, w, h = b
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]], np.float64)
    p = corners @ back[:, :2].T + back[:, 2]
    x0, y0 = np.floor(p.min(0)).astype(int)
    x1, y1 = np.ceil(p.max(0)).astype(int)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def _unrotate(b: segmenting.Box, k: int, shape: tuple[int, int]) -> segmenting.Box:
    """A box found in the picture turned by ``k`` counter-clockwise quarter turns (``np.rot90``),
    in the upright picture of ``shape`` (h, w)."""
    h, w = shape
    x, y, bw, bh = b
    if k == 1:
        return (w - (y + bh), x, bh, bw)
    if k == 2:
        return (w - (x + bw), h - (y + bh), bw, bh)
    if k == 3:
        return (y, h - (x + bw), bh, bw)
    return b
