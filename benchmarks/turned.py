"""Does the reader find the way up of a page photographed turned?

The dev set has nine sheets of numbers, too few to judge a rule that decides a page's way up, so
this benchmark writes its own: a number of 3-8 MNIST test digits (writers the model never saw) on
each of ``--n`` generated photos of blank paper (``not_digits.blank``: tinted, unevenly lit,
sometimes shadowed or ruled), then reads every picture as it is and turned by 90, 180 and 270
degrees. Per turn it prints the share of pictures whose number comes out whole, so the upright
column is the price the turned ones may cost.

    python benchmarks/turned.py [--n 200] [--seed 5] [--model M] [--json]

Needs the MNIST cache (``$MYDIGITS_DATA`` or ``--data-dir``); nothing is downloaded.
"""

from __future__ import annotations

import argparse

import not_digits
import numpy as np

from mydigits import mnist, paths
from mydigits.reading import Reader

TURNS = (0, 90, 180, 270)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="pictures")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--model", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    test = mnist.MNIST(paths.data_dir(args.data_dir), download=False).load("test")
    rng = np.random.default_rng(args.seed)
    pictures = (not_digits.number_on_paper(rng, test.images, test.labels) for _ in range(args.n))
    turns = {t: lambda pic, i, k=t // 90: np.ascontiguousarray(np.rot90(pic, k)) for t in TURNS}
    out = not_digits.numbers_read(Reader(args.model), pictures, turns, args)
    not_digits.print_numbers_read(out, args.json, "turned {:>3} degrees")


if __name__ == "__main__":
    main()
