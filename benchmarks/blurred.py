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

import cv2
import not_digits
import numpy as np


def blurred(pic: np.ndarray, blur: float) -> np.ndarray:
    """``pic`` out of focus: a Gaussian of ``blur`` times its short side."""
    return cv2.GaussianBlur(pic, (0, 0), blur * min(pic.shape[:2])) if blur > 0 else pic


def main() -> None:
    not_digits.numbers_through(__doc__.splitlines()[0], "blur", "0,0.004,0.008,0.012",
                               lambda pic, b, i, seed: blurred(pic, b), "blur {}")


if __name__ == "__main__":
    main()
