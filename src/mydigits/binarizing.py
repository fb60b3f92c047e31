"""Step 2 of reading: find the ink. Pixels in, an "ink" image out (ink bright on black).

Photos of paper are unevenly lit, pens come in colours, canvases may be light-on-dark, and forms and
notebooks carry printed lines. So, in order:

1. decide the polarity from the picture itself (are the marks that stand out from their
   surroundings brighter or darker than them?);
2. make one gray channel in which any coloured ink is dark: the darkest channel for dark ink
   (blue ink is dark in red), the brightest for light ink;
3. if the ink's edges are soft (a photo out of focus, seen on a first threshold), sharpen the
   picture by deconvolution;
4. estimate the paper's brightness everywhere (a morphological closing, at low resolution, removes
   strokes and keeps shadows and gradients; where a shadow is narrower than that closing, a
   closing of a few stroke widths follows it) and divide by it, so ink strength is relative to the
   paper under it;
5. threshold with Otsu on the ink strength, but never below a minimum contrast (so blank paper
   gives nothing), with hysteresis so faint parts of a stroke stay attached to the strong parts;
6. remove long thin straight lines (ruled paper, grids, the boxes of forms), restoring the pixels
   where a digit's stroke crosses them; lines askew (a page photographed at a slant) are looked
   for again with the page turned level. (Specks are left to segmentation.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mydigits import loading
from mydigits.normalizing import ridge_distances

# Balanced (see ink_gray), a channel is scaled by at most PAPER_GAIN: one with under a quarter of
# the light of the paper's brightest is mostly noise, and scaling it up further would make the grain ink.
PAPER_GAIN = 4.0
# Ink must be at least this much darker than the paper around it (fraction of paper brightness).
MIN_CONTRAST = 0.16
MAX_THRESHOLD = 0.45
# A line is straight, at least this long relative to the image side, and this many times longer
# than it is thick.
LINE_MIN_FRACTION = 0.4
LINE_MIN_ASPECT = 12.0
# A lone upright stroke that spans the picture is a printed line (a margin rule, a fold) when it
# runs off the picture or is thinner than DRAWN_STROKE of its length; one that starts and ends on
# the paper, as thick as a pen's stroke on a digit that size, is a 1 filling its picture (a canvas
# drawing, a tight crop of a number).
DRAWN_STROKE = 0.02
# The lines are found by long horizontal and vertical openings, which break a line tilted by
# more than a few degrees into pieces too short to count (the example form's from 7 degrees): the
# boxes of a form photographed askew stayed, and its digits were read as one mark with them. When
# the longest straight runs of ink (line_tilt: the strongest LINE_TILT_LINES of a Hough transform,
# two of them at least LINE_TILT_APART of the picture's short side apart) slope by LINE_TILT_MIN
# to LINE_TILT_MAX degrees, the lines are searched for again with the mask turned level. Below
# LINE_TILT_MIN the upright search finds them, and a slightly slanted 1 beside a 0 (parallel
# "lines") is judged as drawn, not turned a pixel off by the levelling.
LINE_TILT_MIN = 3.0
LINE_TILT_MAX = 40.0
LINE_TILT_LINES = 20
LINE_TILT_APART = 0.05
# ... measured on the mask shrunk to this long side: a bold digit filling a canvas spans the
# picture too, and its every pixel voted for 360 angles (25 ms of a 900-pixel canvas)
LINE_TILT_SIDE = 400
# Resolution of the background estimate (long side, pixels) and its closing size (fraction).
BG_SIDE = 320
BG_KERNEL_FRACTION = 0.2
# ...but a closing that wide also fills the narrow parts of a shadow (the tip of a hand's shadow, a
# sliver along the sheet's edge) with the paper's brightness, and they come out as ink. A closing
# BG_KERNEL_STROKES stroke widths wide (of the ink found first) still removes every stroke and
# follows the shadow; where the wide estimate is more than SHADOW_STEP brighter than it, the paper
# is in shadow and the narrow estimate is used. Elsewhere the wide one stays (it is smoother), and
# so does the threshold. Strokes bolder than a fifth of the closing (a digit filling its canvas)
# are not removed by it, and the closing is widened to BG_KERNEL_STROKES strokes instead.
BG_KERNEL_STROKES = 5.0
SHADOW_STEP = 0.08
# A shadow fades in over its penumbra; a dark object on the paper (a garment, a bag) has a sharp
# edge and stays what the wide closing makes of it: a filled shape. A region counts as shadow when
# its darkening, divided by the steepest brightness gradient along its border, spans at least this
# many pixels (measured on generated pictures: shadows 9-12, a dress 5, a shirt 1).
SOFT_EDGE_PX = 8.0
# The gradient is measured after a closing this many stroke widths wide: digits, ruled lines and
# specks that touch the region's border have edges as steep as a garment's, and made the shadow
# a number was written across look sharp-edged (it was kept as a dark shape, with the digits it
# touched).
EDGE_CLOSING_STROKES = 2.0
# ...and a shadow leaves at least this fraction of the light, about equally in every channel
# (the largest channel's fraction at most SHADOW_TINT times the smallest's).
SHADOW_LIGHT = 0.3
SHADOW_TINT = 1.25
# Contrast is measured relative to the paper's brightness, but never to less than this fraction of
# the brightest paper in the picture (shadows would otherwise amplify noise into "ink").
BG_FLOOR = 0.5
# The neighbourhood against which a pixel counts as brighter or darker than its paper, when the
# polarity is decided (a fraction of the picture's side; wider than strokes, narrower than shadows).
POLARITY_WINDOW = 0.125
# Light ink is written on a dark surface (a canvas, a board): it is at least this many times as
# bright as its surroundings. A bright line on paper (a fold catching the light, a glare) is not.
LIGHT_INK_RATIO = 1.4
# Line search runs at most at this resolution (long side).
LINE_SIDE = 1000
# Pixel noise (see noise_level) above this fraction of the paper's brightness is grain that a
# per-pixel threshold turns into specks of ink: a dark or high-ISO photo, a number on carpet. Clean
# photos and scans measure under 0.012 (the dev set), generated photos of paper under 0.026, paper
# with grain of 0.06 of its brightness 0.035-0.052 (read as well as without smoothing). A noisier
# picture is first smoothed by a Gaussian of DENOISE_SIGMA pixels (at the working resolution).
# Numbers on paper with grain of 0.1 / 0.15 (benchmarks/grainy.py) were read whole 48 / 17 times
# in 100, smoothed 87 / 79; a wider Gaussian (1.5) filled the small loops of bold digits, a median
# left more of the grain, and non-local means made strokes of a woven fabric's threads
# (EXPERIMENTS.md, 2026-12-07).
NOISY = 0.05
DENOISE_SIGMA = 1.0
# A photo out of focus spreads every stroke over a Gaussian (its sigma: blur_sigma). Past BLURRED
# pixels of the photo's own, and BLUR_STROKE of the strokes' width, the threshold closed the loops
# and openings of small digits (3 -> 8, 9 -> 1) and joined digits into blobs. Such a picture is
# sharpened first, by DEBLUR_ITERATIONS steps of Richardson-Lucy deconvolution with DEBLUR_SHARE
# of the measured blur: the measure runs high by about a fifth (its contrast is the strongest
# ink's), and deconvolving by more than the blur breaks strokes into rings and specks. Sharp
# photos measure at most 1.3 px (the dev set), numbers on generated paper at most 1.8, bold
# strokes (a canvas) well under BLUR_STROKE of their width. Numbers on paper blurred by 0.8% of
# its short side (a twelfth of a digit's height) were read whole 38 times in 100, deblurred 67.
# A small picture enlarged (an MNIST digit at 280x280) is as soft, with strokes far wider: its
# blur is 0.11-0.18 of their width (10th-90th percentile), a blurred number's 0.24-0.47, and at
# 0.15 a third of such digits were sharpened and a few of them lost (4 in 1,000).
BLURRED = 2.0
BLUR_STROKE = 0.2
DEBLUR_ITERATIONS = 30
DEBLUR_SHARE = 0.8


@dataclass
class Ink:
    """Result of binarization, all arrays at the working resolution."""

    soft: np.ndarray  # float32 [0, 1], ink bright: anti-aliased strength, zero off the mask
    mask: np.ndarray  # uint8 {0, 1}: ink pixels after line and speck removal
    lines: np.ndarray  # uint8 {0, 1}: pixels removed as ruled/grid/box lines
    inverted: bool  # True if the picture had light ink on a dark background
    threshold: float


def polarity_is_light_ink(pixels: np.ndarray) -> bool:
    """True when the minority of clearly different pixels is brighter than what surrounds them.

    A pixel counts as clearly brighter (darker) when it is so against the median of its
    neighbourhood (POLARITY_WINDOW of the picture's side) and brighter (darker) than the picture's
    median too; a brighter one, light ink being written on a dark surface, is also LIGHT_INK_RATIO
    times as bright as its neighbourhood. Against the picture's median alone, a shadow over half
    of a sheet, or a sheet covering half of a dark desk, put that median between paper and the
    rest, and the lit paper, the brighter "minority", was taken for the ink. A median keeps the
    edge of a shadow or a sheet where it is, so neither side of it stands out from its
    neighbourhood. The picture's median keeps out the canvas inside the loops of broad light
    strokes, where the strokes are the neighbourhood's majority."""
    step = max(1, max(pixels.shape[:2]) // 400)
    small = _luminance(np.ascontiguousarray(pixels[::step, ::step]))  # statistics: sampling is enough
    med = float(np.median(small))
    local = cv2.medianBlur(small, max(7, int(POLARITY_WINDOW * max(small.shape)) | 1)).astype(np.float32)
    spread = np.maximum(30.0, 0.2 * local)
    brighter = int(((small > local + spread) & (small > med) & (small > LIGHT_INK_RATIO * local)).sum())
    darker = int(((small < local - spread) & (small < med)).sum())
    return brighter > 1.5 * darker and brighter > 0.0005 * small.size


def paper_gain(pixels: np.ndarray) -> np.ndarray:
    """The three factors (1 or more, at most PAPER_GAIN) that make the paper's colour, the
    picture's median, a gray as bright as its brightest channel; all 1 for a gray picture."""
    if pixels.ndim == 2:
        return np.ones(3, np.float32)
    step = max(1, max(pixels.shape[:2]) // 200)  # a sample is enough
    paper = np.median(pixels[::step, ::step].reshape(-1, 3), axis=0).astype(np.float32)
    return np.minimum(paper.max() / np.maximum(paper, 1.0), PAPER_GAIN)


def ink_gray(pixels: np.ndarray, light_ink: bool, balance: bool = False) -> np.ndarray:
    """One channel, paper bright and ink dark, keeping coloured ink dark.

    Dark ink is the darkest channel, so that blue or red ink is as dark as black on white paper.
    On green, purple or orange card the darkest channel is dark paper too, and black ink stands out
    from it by a fraction of its contrast: ``balance`` first scales each channel by
    :func:`paper_gain`. It is not the default because a picture with more contrast shows more
    of its texture: bricks' mortar became strokes of 1s (see EXPERIMENTS.md, 2026-12-08)."""
    if pixels.ndim == 2:
        gray = pixels
    elif light_ink:
        r, g, b = cv2.split(pixels)
        gray = cv2.max(cv2.max(r, g), b)
    else:
        channels = cv2.split(pixels)
        if balance:
            channels = [cv2.convertScaleAbs(c, alpha=float(k))
                        for c, k in zip(channels, paper_gain(pixels), strict=True)]
        gray = cv2.min(cv2.min(channels[0], channels[1]), channels[2])
    return cv2.bitwise_not(gray) if light_ink else gray


def noise_level(gray: np.ndarray) -> float:
    """The pixel noise of ``gray``, relative to the paper's brightness (its 90th percentile): the
    robust spread (1.4826 times the median absolute deviation) of every pixel from the median of
    its 3x3 neighbourhood. Strokes and edges are a minority of the pixels, so they do not count."""
    dev = cv2.absdiff(gray, cv2.medianBlur(gray, 3))
    return 1.4826 * _quantile(dev, 0.5) / max(1.0, _quantile(gray, 0.9))


def _quantile(u8: np.ndarray, q: float) -> float:
    """The ``q`` quantile of a uint8 array, from its histogram (NumPy's median and percentile of a
    megapixel take milliseconds, and a picture is read in tens of them)."""
    count = np.cumsum(cv2.calcHist([u8], [0], None, [256], [0, 256]).ravel())
    return float(np.searchsorted(count, q * count[-1]))


def denoised(gray: np.ndarray) -> np.ndarray:
    """``gray`` smoothed when it is noisy (over NOISY), else as it is."""
    return cv2.GaussianBlur(gray, (0, 0), DENOISE_SIGMA) if noise_level(gray) > NOISY else gray


def blur_sigma(strength: np.ndarray, mask: np.ndarray, stroke: float | None = None) -> float:
    """How out of focus the ink is: the width (sigma, in pixels) of the Gaussian that softens an
    ideal edge of the strokes' contrast (the 99th percentile of ``strength`` on ``mask``) to their
    steepest edges (the 90th percentile of the slope along the border of ``mask``, within a
    stroke width of ink at least half that contrast: the soft edges of shadows and the specks
    of grain do not count). Sharp photos and scans measure 0.9-1.3 px (the dev set). ``stroke``:
    the strokes' width (``_stroke_width`` of ``mask`` unless given)."""
    if not mask.any():
        return 0.0
    contrast = float(np.percentile(strength[mask > 0], 99))
    k = 2 * int(_stroke_width(mask) if stroke is None else stroke) + 3
    # within k/2 of strong ink, by the distance to it: a dilation by a disc that wide took 60 ms
    # of a bold canvas (strokes 25 pixels wide), the distance transform takes the same time for all
    weak = (strength < 0.5 * contrast).astype(np.uint8)
    near = cv2.distanceTransform(weak, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= k // 2
    border = (mask > 0) & (cv2.erode(mask, np.ones((3, 3), np.uint8)) == 0) & near
    if not border.any():
        return 0.0
    grad = cv2.magnitude(cv2.Sobel(strength, cv2.CV_32F, 1, 0, ksize=3),
                         cv2.Sobel(strength, cv2.CV_32F, 0, 1, ksize=3)) / 8
    return contrast / (np.sqrt(2 * np.pi) * max(float(np.percentile(grad[border], 90)), 1e-6))


def deblurred(gray: np.ndarray, sigma: float, iterations: int = DEBLUR_ITERATIONS) -> np.ndarray:
    """``gray`` (uint8, ink dark) sharpened by Richardson-Lucy deconvolution with a Gaussian of
    ``sigma`` pixels: unlike an unsharp mask it restores the thin strokes' contrast without
    a halo. It works on the ink bright, since it keeps what it restores positive."""
    d = 256.0 - gray.astype(np.float32)
    u = d.copy()
    for _ in range(iterations):
        u *= cv2.GaussianBlur(d / np.maximum(cv2.GaussianBlur(u, (0, 0), sigma), 1e-3), (0, 0), sigma)
    return np.clip(256.0 - u, 0, 255).astype(np.uint8)


def background(gray: np.ndarray, kernel: float | None = None) -> np.ndarray:
    """Paper brightness under every pixel: strokes closed away at low resolution. ``kernel`` is
    the closing's width in pixels of ``gray`` (default: BG_KERNEL_FRACTION of its long side)."""
    h, w = gray.shape
    small = _shrink(gray, BG_SIDE)
    if kernel is None:
        k = max(5, int(max(small.shape) * BG_KERNEL_FRACTION) | 1)
    else:
        k = max(5, int(kernel / _factor(gray.shape, BG_SIDE)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    pad = k
    padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, kernel)[pad:-pad, pad:-pad]
    # a mild opening-free smoothing: median removes the blockiness of the elliptic closing
    closed = cv2.medianBlur(closed, 5)
    return _grow(closed, (h, w), _factor(gray.shape, BG_SIDE), cv2.INTER_LINEAR)


def binarize(pixels: np.ndarray, remove_lines: bool = True, scale: float = 1.0, balance: bool = False) -> Ink:
    """Find the ink in uint8 gray or RGB pixels. ``scale``: the photo's own pixels per pixel of
    ``pixels`` (below 1 for a small picture enlarged, whose enlargement softens every edge);
    ``balance``: dark ink against the paper's colour (see :func:`ink_gray`)."""
    light = polarity_is_light_ink(pixels)
    raw = ink_gray(pixels, light, balance)
    gray = denoised(raw)
    ink, strength, stroke = _find_ink(gray, pixels, light, remove_lines)
    # measured without the printed lines: a grid's thin lines have no steep edge to measure. A
    # grainy picture, smoothed, is not sharpened again: deconvolution brings the grain back.
    blur = blur_sigma(strength, ink.mask, stroke)
    if gray is raw and blur * min(1.0, scale) > BLURRED and blur > BLUR_STROKE * stroke:
        # deconvolved where there is ink: it takes 60 Gaussian blurs of what it covers
        x, y, w, h = cv2.boundingRect(ink.mask | ink.lines)
        pad = int(4 * blur) + 1
        y0, x0 = max(0, y - pad), max(0, x - pad)
        y1, x1 = min(gray.shape[0], y + h + pad), min(gray.shape[1], x + w + pad)
        gray = gray.copy()
        gray[y0:y1, x0:x1] = deblurred(gray[y0:y1, x0:x1], DEBLUR_SHARE * blur)
        ink = _find_ink(gray, pixels, light, remove_lines)[0]
    return ink


def _find_ink(gray: np.ndarray, pixels: np.ndarray, light: bool,
              remove_lines: bool) -> tuple[Ink, np.ndarray, float]:
    """Steps 4-6 on ``gray``: (the ink, the ink strength, the strokes' width before the lines were
    removed)."""
    bg = background(gray)
    strength, t, mask = _ink(gray, bg)
    stroke = _stroke_width(mask) if mask.any() else 0.0
    if BG_KERNEL_STROKES * stroke > BG_KERNEL_FRACTION * max(gray.shape):
        # strokes so bold for the picture (a digit filling its canvas, an enlarged MNIST digit)
        # that the closing keeps their cores and a filled loop as paper: closed wider, if what
        # that finds is ink. A shadow as broad (a hand's, a phone's) leaves more than
        # SHADOW_LIGHT of the light; the paper under most of the ink got less.
        bg_wide = background(gray, BG_KERNEL_STROKES * stroke)
        wide = _ink(gray, bg_wide)
        if wide[2].any() and np.median(wide[0][wide[2] > 0]) >= 1 - SHADOW_LIGHT:
            bg, (strength, t, mask) = bg_wide, wide
    elif 0 < BG_KERNEL_STROKES * stroke < 0.5 * BG_KERNEL_FRACTION * max(gray.shape):
        bg_narrow = background(gray, BG_KERNEL_STROKES * stroke)
        shadow = (bg.astype(np.float32) > (1 + SHADOW_STEP) * bg_narrow).astype(np.uint8)
        if shadow.any():
            # a shadow is broad: what an opening of three stroke widths removes is a stroke the
            # closing kept (an opening by a disc, from distances: large discs are slow as kernels)
            r = max(1.0, 1.5 * stroke)
            inner = (cv2.distanceTransform(shadow, cv2.DIST_L2, 3) > r).astype(np.uint8)
            shadow = (cv2.distanceTransform(1 - inner, cv2.DIST_L2, 3) <= r).astype(np.uint8) & shadow
            shadow = _soft_edged(shadow, gray, bg, bg_narrow, pixels, stroke)
        if shadow.any():
            # the same threshold: the ink outside the shadow stays as it was
            strength, t, mask = _ink(gray, np.where(shadow > 0, bg_narrow, bg), t)
    lines = np.zeros_like(mask)
    if remove_lines and mask.any():
        mask, lines = _remove_lines(mask)
    soft = np.clip(strength / (1.6 * t), 0.0, 1.0)
    soft *= mask
    return Ink(soft.astype(np.float32), mask, lines, light, float(t)), strength, stroke


def _soft_edged(shadow: np.ndarray, gray: np.ndarray, bg: np.ndarray, bg_narrow: np.ndarray,
                pixels: np.ndarray, stroke: float) -> np.ndarray:
    """The regions of ``shadow`` (uint8 mask) that look like shadows: their border is soft (their
    mean darkening divided by the steepest brightness gradient along it, its 90th percentile per
    pixel, strokes of width ``stroke`` closed away, is at least SOFT_EDGE_PX; a shadow that half
    covers a garment keeps the garment's sharp edge), and they dim what borders them the way less
    light does: every colour channel by about the same factor, to no less than SHADOW_LIGHT of it
    (coloured ink, a garment, the core of a bold stroke the narrow closing kept do not)."""
    n, lab = cv2.connectedComponents(shadow, connectivity=8)
    if n <= 1:
        return shadow
    # strokes closed away; a square keeps the straight edges of shadows and garments as they are
    k = int(EDGE_CLOSING_STROKES * stroke) | 1
    g = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    g = cv2.GaussianBlur(g.astype(np.float32), (0, 0), 1.0)
    grad = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8
    ring_lab = cv2.dilate(lab.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
    ring = (shadow == 0) & (ring_lab > 0)
    step = np.bincount(lab.ravel(), (bg.astype(np.float32) - bg_narrow).ravel(), n) / \
        np.maximum(np.bincount(lab.ravel(), None, n), 1)
    rl, rg = ring_lab[ring], grad[ring]
    order = np.lexsort((rg, rl))  # by region, then by gradient
    rl, rg = rl[order], rg[order]
    first = np.searchsorted(rl, np.arange(n))
    count = np.bincount(rl, None, n).astype(np.int64)
    steep = np.zeros(n, np.float32)
    has = count > 0
    steep[has] = rg[first[has] + (0.9 * (count[has] - 1)).astype(np.int64)]
    soft = has & (step >= SOFT_EDGE_PX * np.maximum(steep, 1e-3))
    px = pixels.reshape(pixels.shape[0], pixels.shape[1], -1).astype(np.float32)
    inside = np.stack([np.bincount(lab.ravel(), px[..., c].ravel(), n) for c in range(px.shape[2])], 1)
    inside /= np.maximum(np.bincount(lab.ravel(), None, n), 1)[:, None]
    around = np.stack([np.bincount(ring_lab[ring], px[..., c][ring], n) for c in range(px.shape[2])], 1)
    around /= np.maximum(count, 1)[:, None]
    light = inside / np.maximum(around, 1.0)
    soft &= (light.min(1) >= SHADOW_LIGHT) & (light.max(1) <= 1 - SHADOW_STEP / 2) & \
        (light.max(1) <= SHADOW_TINT * light.min(1))
    soft[0] = False
    return soft[lab].astype(np.uint8)


def _ink(gray: np.ndarray, bg: np.ndarray, t: float | None = None) -> tuple[np.ndarray, float, np.ndarray]:
    """(ink strength relative to the paper, threshold, ink mask) of ``gray`` over paper ``bg``;
    the threshold ``t`` is Otsu's unless given."""
    # relative to the paper, but deep shadows do not turn sensor noise into ink
    step = max(1, max(bg.shape) // 200)
    floor = max(1.0, BG_FLOOR * float(np.percentile(bg[::step, ::step], 95)))
    diff = cv2.subtract(bg, gray).astype(np.float32)
    strength = diff / np.maximum(bg.astype(np.float32), floor)
    np.clip(strength, 0.0, 1.0, out=strength)
    t = _threshold(strength) if t is None else t
    high = (strength >= t).astype(np.uint8)
    low = (strength >= 0.6 * t).astype(np.uint8)
    return strength, t, _hysteresis(low, high)


def _stroke_width(mask: np.ndarray) -> float:
    """The width of the thinner strokes in an ink mask: twice the lower quartile of the distance to
    the paper along their ridges. A quartile, because the blob a shadow made of the ink has a long
    ridge of every width from zero to its own. Measured on the mask smoothed by a 3x3 median:
    the ragged edge of such a blob (a shadow's tip at the threshold) is all one-pixel spurs, each
    a "ridge" of width 1, which made the strokes 2 pixels wide and the closing that follows a
    shadow too narrow to remove them."""
    smooth = cv2.medianBlur(mask, 3)
    ridge = ridge_distances(smooth if smooth.any() else mask)
    return float(2.0 * np.percentile(ridge, 25)) if ridge.size else 0.0


def _threshold(strength: np.ndarray) -> float:
    """Otsu between paper and ink on the strength image, within [MIN_CONTRAST, MAX_THRESHOLD]."""
    step = max(1, max(strength.shape) // 800)
    small = strength[::step, ::step]
    cand = small[small > 0.5 * MIN_CONTRAST]
    if cand.size < 20:
        return MIN_CONTRAST
    u8 = np.clip(cand * 255.0, 0, 255).astype(np.uint8).reshape(-1, 1)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(np.clip(t / 255.0 * 0.8, MIN_CONTRAST, MAX_THRESHOLD))


def _hysteresis(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    n, labels = cv2.connectedComponents(low, connectivity=8)
    if n <= 1:
        return low
    keep = np.zeros(n, np.uint8)
    keep[labels[high > 0]] = 1
    keep[0] = 0
    return keep[labels]


Segment = tuple[int, int, np.ndarray]  # y0, x0 and a boolean mask of the line's pixels there


def _room(mask: np.ndarray, inside: np.ndarray | None, horizontal: bool) -> np.ndarray:
    """How long a line across the picture is, per row (``horizontal``) or column: the picture's
    side, or where the picture was turned level (``inside``: its pixels on the new canvas) the
    run of the picture there, at least half the longest (the corners' runs are short)."""
    h, w = mask.shape
    if inside is None:
        return np.full(h if horizontal else w, w if horizontal else h, np.float64)
    room = inside.sum(1 if horizontal else 0).astype(np.float64)
    return np.maximum(room, 0.5 * room.max())


def _line_segments(mask: np.ndarray, horizontal: bool, room: np.ndarray) -> tuple[list[Segment], np.ndarray]:
    """Long thin straight runs in one direction: (candidate lines, the opened mask with every
    shorter run too). ``room``: a line's length across the picture, per row or column (_room)."""
    run = max(15, int(room.max()) // 25)
    kernel = np.ones((1, run) if horizontal else (run, 1), np.uint8)
    opened = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    found: list[Segment] = []
    if not opened.any():
        return found, opened
    # join the staggered pieces of a slightly tilted line
    join = np.ones((3, run // 2) if horizontal else (run // 2, 3), np.uint8)
    joined = cv2.dilate(opened, join)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    counts = np.bincount(labels[opened > 0], minlength=n)
    for i in range(1, n):
        length = stats[i, cv2.CC_STAT_WIDTH if horizontal else cv2.CC_STAT_HEIGHT]
        x0, y0, bw, bh = stats[i, :4]
        if length < LINE_MIN_FRACTION * room[y0 + bh // 2 if horizontal else x0 + bw // 2]:
            continue
        thickness = counts[i] / max(length, 1)
        if length < LINE_MIN_ASPECT * max(thickness, 1.0):
            continue
        sub = (labels[y0 : y0 + bh, x0 : x0 + bw] == i) & (opened[y0 : y0 + bh, x0 : x0 + bw] > 0)
        band = _straight_band(sub, horizontal)
        if band is not None:
            found.append((int(y0), int(x0), band))
    return found, opened


def _straight_band(sub: np.ndarray, horizontal: bool) -> np.ndarray | None:
    """The pixels of ``sub`` on one thin straight line, or None if there is no such line along
    most of it. Handwriting touching or running beside a printed line stays out of the band; a
    curved stroke (the side of a 0) does not fit a straight band."""
    a_img = sub.T if horizontal else sub  # one row per position along the line
    cnt = a_img.sum(1)
    valid = cnt > 0
    if valid.sum() < 2:
        return None
    cols = np.arange(a_img.shape[1], dtype=np.float64)
    pos = (a_img * cols[None, :]).sum(1) / np.maximum(cnt, 1)
    t = float(np.median(cnt[valid]))
    idx = np.arange(len(cnt), dtype=np.float64)
    use = valid & (cnt <= t + 1)  # positions where only the line is there
    for _ in range(3):
        if use.sum() < 2 or np.ptp(idx[use]) == 0:
            return None
        u, v = idx[use], pos[use]
        du = u - u.mean()
        slope = float((du * (v - v.mean())).sum() / (du * du).sum())
        icpt = float(v.mean() - slope * u.mean())
        use = valid & (cnt <= t + 1) & (np.abs(pos - (slope * idx + icpt)) <= 1.5)
    centre = slope * idx + icpt
    band = np.abs(cols[None, :] - centre[:, None]) <= t / 2 + 1.0
    band &= a_img
    rows = band.any(1)
    if rows.sum() < 0.8 * valid.sum() or use.sum() < 0.5 * valid.sum():
        return None
    # where the line is thicker than itself, a stroke runs along or over it: leave those pixels
    # (better a bit of line on a digit than a digit with a missing stroke)
    wide = np.abs(cols[None, :] - centre[:, None]) <= t / 2 + 4.0
    busy = (a_img & wide).sum(1) > t + 2
    busy = np.convolve(busy.astype(float), np.ones(5), mode="same") > 0
    band[busy] = False
    return band.T if horizontal else band


def _box_separators(opened_v: np.ndarray, hlines: np.ndarray) -> np.ndarray:
    """Short vertical lines joining two horizontal lines at both ends (walls of form boxes)."""
    out = np.zeros_like(opened_v)
    if not hlines.any() or not opened_v.any():
        return out
    near_h = cv2.dilate(hlines, np.ones((7, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened_v, connectivity=8)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if h < LINE_MIN_ASPECT * max(area / max(h, 1), 1.0) * 0.6:
            continue
        top = near_h[y : y + 2, x : x + w].any()
        bottom = near_h[y + h - 2 : y + h, x : x + w].any()
        if top and bottom:
            band = _straight_band(labels[y : y + h, x : x + w] == i, horizontal=False)
            if band is not None:
                out[y : y + h, x : x + w] |= band.astype(np.uint8)
    return out


def _find_lines(mask: np.ndarray, inside: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ruled, grid and box lines: (horizontal, vertical) pixel masks. ``inside``: the picture's
    pixels, when ``mask`` is the picture turned level on a larger canvas (see _room).

    Long straight strokes are also parts of digits (the bar of a 7, the stem of a 4 or a 1 drawn
    big), so a candidate only counts as a printed line if it spans nearly the whole picture, or is
    much longer than the ink it touches is tall, or (vertical) belongs to a grid with horizontal
    lines or crosses them. A lone vertical stroke is never removed unless it spans the picture:
    it may be a 1.
    """
    h = mask.shape[0]
    hroom, vroom = _room(mask, inside, True), _room(mask, inside, False)
    hcands, _ = _line_segments(mask, True, hroom)
    vcands, opened_v = _line_segments(mask, False, vroom)
    hl = np.zeros_like(mask)
    vl = np.zeros_like(mask)
    if not hcands and not vcands:
        return hl, vl
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]

    def comps_of(seg: Segment) -> np.ndarray:
        y0, x0, band = seg
        sub = labels[y0 : y0 + band.shape[0], x0 : x0 + band.shape[1]]
        return np.bincount(sub[band], minlength=n)

    def paint(out: np.ndarray, seg: Segment) -> None:
        y0, x0, band = seg
        out[y0 : y0 + band.shape[0], x0 : x0 + band.shape[1]] |= band.astype(np.uint8)

    hcomps = [comps_of(c) for c in hcands]
    vcomps = [comps_of(c) for c in vcands]
    on_lines = np.sum(hcomps + vcomps, axis=0)
    # where each horizontal candidate sits in its component: boxes and grids have lines at both
    # the top and the bottom of the component, a 7 or a 4 has one bar
    hcomp = [int(np.argmax(np.where(np.arange(n) == 0, 0, comps))) for comps in hcomps]
    at_top: set[int] = set()
    at_bottom: set[int] = set()
    for c, comp in zip(hcands, hcomp, strict=True):
        y0, _, band = c
        cy = y0 + np.nonzero(band)[0].mean()
        top, ch = stats[comp, cv2.CC_STAT_TOP], stats[comp, cv2.CC_STAT_HEIGHT]
        if cy <= top + 0.15 * ch:
            at_top.add(comp)
        if cy >= top + 0.85 * ch:
            at_bottom.add(comp)
    grid_comps: set[int] = set()
    for c, comp in zip(hcands, hcomp, strict=True):
        length = c[2].shape[1]
        comp_h = stats[comp, cv2.CC_STAT_HEIGHT]
        boxed = comp in at_top and comp in at_bottom and on_lines[comp] >= 0.6 * area[comp]
        across = length >= 0.9 * hroom[c[0] + c[2].shape[0] // 2]
        if across or boxed or length >= 2.5 * comp_h:
            paint(hl, c)
            grid_comps.add(comp)
    for c, comps in zip(vcands, vcomps, strict=True):
        comps[0] = 0
        comp = int(np.argmax(comps))
        length = c[2].shape[0]
        y0, x0, band = c
        crossed = hl[y0 : y0 + band.shape[0], x0 : x0 + band.shape[1]] & band
        crossings = cv2.connectedComponents(crossed.astype(np.uint8))[0] - 1
        across = length >= 0.9 * vroom[x0 + band.shape[1] // 2]
        if (across and not _drawn(c, h)) or comp in grid_comps or crossings >= 2:
            paint(vl, c)
    vl |= _box_separators(opened_v, hl)
    return hl, vl


def _drawn(seg: Segment, h: int) -> bool:
    """True when the upright stroke ``seg`` in a picture ``h`` pixels tall ends on the paper at
    both ends and is at least DRAWN_STROKE of its length thick: a pen's stroke, not a printed line."""
    y0, _, band = seg
    rows = np.flatnonzero(band.any(1))
    if rows.size == 0:
        return False
    top, bottom = y0 + rows[0], y0 + rows[-1]
    thickness = band.sum() / len(rows)
    return top > 0 and bottom < h - 1 and thickness >= DRAWN_STROKE * len(rows)


def line_tilt(mask: np.ndarray) -> float:
    """The angle (degrees, counter-clockwise) that levels the printed lines of a page photographed
    askew, or 0 when there are none or they are level to within LINE_TILT_MIN.

    The lines are the straightest long runs of ink (a Hough transform of the marks that span
    LINE_MIN_FRACTION of the picture), horizontal and vertical ones alike; it takes two of them,
    apart and parallel or at right angles, to call it a page's lines and not a digit's stroke."""
    mask = (_shrink(mask * 255, LINE_TILT_SIDE) > 0).astype(np.uint8)
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    spans = (stats[:, cv2.CC_STAT_WIDTH] >= LINE_MIN_FRACTION * w) | \
            (stats[:, cv2.CC_STAT_HEIGHT] >= LINE_MIN_FRACTION * h)
    spans[0] = False
    if not spans.any():
        return 0.0
    side = min(h, w)
    found = cv2.HoughLines(spans[labels].astype(np.uint8), 1, np.pi / 360, int(LINE_MIN_FRACTION * side))
    if found is None or not len(found):
        return 0.0
    rho, theta = found[:LINE_TILT_LINES, 0, 0], np.degrees(found[:LINE_TILT_LINES, 0, 1])
    angle = (theta + 45) % 90 - 45  # a vertical line's tilt is a horizontal one's
    family = np.round((theta - angle) / 90) % 2  # 1: horizontal lines, 0: vertical ones
    same = np.abs(angle - angle[0]) <= 1.0
    apart = (family != family[0]) | (np.abs(rho - rho[0]) > LINE_TILT_APART * side)
    if not (same & apart).any() or not LINE_TILT_MIN <= abs(angle[0]) <= LINE_TILT_MAX:
        return 0.0
    return float(np.mean(angle[same]))


def _remove_lines(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = mask.shape
    small = mask
    if max(h, w) > LINE_SIDE * 1.2:
        small = (_shrink(mask * 255, LINE_SIDE) >= 96).astype(np.uint8)
    hl, vl = _find_lines(small)
    tilt = line_tilt(small)
    if tilt:
        # searched again with the page levelled, what is found turned back; the upright search
        # stays, for a page's own lines beside a tilted sheet or form on it
        level, back = loading.tilted(small, tilt, cv2.INTER_NEAREST)
        inside = loading.tilted(np.ones_like(small), tilt, cv2.INTER_NEAREST)[0]
        for found, levelled in zip((hl, vl), _find_lines(level, inside), strict=True):
            found |= cv2.warpAffine(levelled, back, found.shape[::-1], flags=cv2.INTER_NEAREST)
    if small is not mask:
        f = _factor(mask.shape, LINE_SIDE)
        hl = _grow(hl, (h, w), f, cv2.INTER_NEAREST)
        vl = _grow(vl, (h, w), f, cv2.INTER_NEAREST)
    lines = hl | vl
    if not lines.any():
        return mask, lines
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8)) & mask
    rest = mask & (1 - lines)
    # put back the pixels where a stroke crosses a line: ink continues on both sides of it
    thick = 9
    across_h = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((thick, 1), np.uint8))
    across_v = cv2.morphologyEx(rest, cv2.MORPH_CLOSE, np.ones((1, thick), np.uint8))
    hmask = cv2.dilate(hl, np.ones((3, 3), np.uint8))
    vmask = cv2.dilate(vl, np.ones((3, 3), np.uint8))
    restored = (across_h & hmask) | (across_v & vmask)
    rest |= restored & lines
    return rest, lines & (1 - rest)


def _luminance(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)


def _factor(shape: tuple[int, ...], side: int) -> int:
    return max(1, -(-max(shape[:2]) // side))


def _shrink(img: np.ndarray, side: int) -> np.ndarray:
    """Reduce by a whole factor so the long side is at most about ``side`` (OpenCV's area
    resampling is several times faster for whole factors); the last few rows and columns that
    do not fill a block are dropped."""
    f = _factor(img.shape, side)
    if f == 1:
        return img
    hh, ww = img.shape[0] // f, img.shape[1] // f
    return cv2.resize(img[: hh * f, : ww * f], (ww, hh), interpolation=cv2.INTER_AREA)


def _grow(small: np.ndarray, shape: tuple[int, int], f: int, interpolation: int) -> np.ndarray:
    """Undo ``_shrink`` by factor ``f``: back to ``shape`` (h, w), edge rows/columns repeated."""
    if f == 1:
        return small
    h, w = shape
    big = cv2.resize(small, (small.shape[1] * f, small.shape[0] * f), interpolation=interpolation)
    return cv2.copyMakeBorder(big, 0, h - big.shape[0], 0, w - big.shape[1], cv2.BORDER_REPLICATE)
