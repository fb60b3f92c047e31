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
import json

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
    reader = Reader(args.model)
    read = dict.fromkeys(TURNS, 0)
    lost: dict[int, list[str]] = {t: [] for t in TURNS}
    for i in range(args.n):
        number, pic = not_digits.number_on_paper(rng, test.images, test.labels)
        for turn in TURNS:
            text = reader.read(np.ascontiguousarray(np.rot90(pic, turn // 90))).text
            if not_digits.number_read(text, number):
                read[turn] += 1
            else:
                lost[turn].append(f"{i:03d}: {number}->{text!r}"[:60])
    out = {"pictures": args.n, "seed": args.seed, "model": str(args.model or "default"),
           "read_whole": {str(t): round(read[t] / args.n, 4) for t in TURNS},
           "lost": {str(t): lost[t][:20] for t in TURNS}}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{args.n} numbers of 3-8 MNIST test digits on generated paper, read whole:")
    for t in TURNS:
        print(f"  turned {t:3d} degrees: {read[t] / args.n:.1%}")


if __name__ == "__main__":
    main()
