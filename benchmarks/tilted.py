"""Does the reader read a number on a page photographed askew?

A sheet on a desk is rarely square to the phone: the line of digits slopes, and every digit leans
with it, past the 12 degrees of rotation the model learned once the page is 15 degrees off. This
benchmark writes a number of 3-8 MNIST test digits (writers the model never saw) on each of
``--n`` generated photos of blank paper (``not_digits.number_on_paper``, the pictures of
``benchmarks/turned.py``), turns each picture by every angle of ``--degrees`` (counter-clockwise,
on a canvas that holds all of it, the corners filled with the paper at its edges), and prints the
share of pictures whose number comes out whole per angle. The row for 0 is the same pictures
square, the price the levelling may cost.

    python benchmarks/tilted.py [--n 100] [--seed 7] [--degrees 0,8,-8,15,-15,25] [--model M] [--json]

Needs the MNIST cache (``$MYDIGITS_DATA`` or ``--data-dir``); nothing is downloaded.
"""

from __future__ import annotations

import cv2
import not_digits
import numpy as np

from mydigits import loading


def tilted(pic: np.ndarray, degrees: float) -> np.ndarray:
    """``pic`` turned counter-clockwise by ``degrees``, the corners filled with its edges' paper."""
    return loading.tilted(pic, degrees, border=cv2.BORDER_REPLICATE)[0] if degrees else pic


def main() -> None:
    not_digits.numbers_through(__doc__.splitlines()[0], "degrees", "0,8,-8,15,-15,25",
                               lambda pic, d, i, seed: tilted(pic, d), "tilted {:>5} degrees")


if __name__ == "__main__":
    main()
