"""Does the reader still read a number in a photo out of focus?

A phone focuses on the wrong thing, or the hand shakes: every stroke is spread over a few pixels,
thin strokes fade, and the small loops of a 9, a 6 or a 4 fill in. This benchmark writes a number
of 3-8 MNIST test digits (writers the model never saw) on each of ``--n`` generated photos of blank
paper (``not_digits.number_on_paper``, the pictures of ``benchmarks/turned.py`` and
``benchmarks/grainy.py``; the digits are 6-14% of the picture's short side tall), blurs the picture
by a Gaussian of sigma = b times its short side for each b of ``--blur``, and prints the share of
pictures whose number comes out whole per blur. The row for 0 is the same pictures in focus. A
sigma of 0.008 of the short side is about a twelfth of a digit's height: a human still reads it.

    python benchmarks/blurred.py [--n 100] [--seed 7] [--blur 0,0.004,0.008,0.012] [--model M] [--json]

Needs the MNIST cache (``$MYDIGITS_DATA`` or ``--data-dir``); nothing is downloaded.
"""

from __future__ import annotations

import argparse

import cv2
import not_digits
import numpy as np

from mydigits import mnist, paths
from mydigits.reading import Reader


def blurred(pic: np.ndarray, blur: float) -> np.ndarray:
    """``pic`` out of focus: a Gaussian of ``blur`` times its short side."""
    return cv2.GaussianBlur(pic, (0, 0), blur * min(pic.shape[:2])) if blur > 0 else pic


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="pictures per blur")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--blur", default="0,0.004,0.008,0.012", help="comma-separated blurs (of the short side)")
    ap.add_argument("--model", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    blurs = [float(b) for b in args.blur.split(",")]
    test = mnist.MNIST(paths.data_dir(args.data_dir), download=False).load("test")
    rng = np.random.default_rng(args.seed)
    pictures = (not_digits.number_on_paper(rng, test.images, test.labels) for _ in range(args.n))
    variants = {b: lambda pic, i, b=b: blurred(pic, b) for b in blurs}
    out = not_digits.numbers_read(Reader(args.model), pictures, variants, args)
    not_digits.print_numbers_read(out, args.json, "blur {}")


if __name__ == "__main__":
    main()
