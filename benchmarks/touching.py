"""Touching digits: how many pairs of real handwritten digits, pushed together until their ink
joins, the reader reads right.

Writers join digits all the time (a 1 leaning on a 0, the tail of a 9 on the next digit), and every
rule that keeps letters or drawings from being cut into digit-like strokes risks cutting real pairs
less. This benchmark is the other side of ``not_digits.py``: it prices such rules.

Each pair is two MNIST test digits (other writers than the training set's), each cropped to its ink
and scaled to 90 pixels high, moved together column by column until they form one connected blob,
and printed dark on white paper with a margin. ``--with-one`` makes one of the two a 1 (the digit
that touches its neighbours most easily and that looks most like a letter's stem). A pair counts as
read right when the text, spaces removed, is the two digits. Needs the MNIST cache.

    python benchmarks/touching.py [--pairs 400] [--with-one] [--seed 7] [--model M] [--json]
"""

from __future__ import annotations

import argparse
import json

import cv2
import numpy as np

from mydigits import mnist, paths
from mydigits.reading import Reader

HEIGHT = 90


def glyph(image: np.ndarray) -> np.ndarray:
    """One MNIST digit cropped to its ink and scaled to HEIGHT pixels (white on black)."""
    ys, xs = np.nonzero(image > 40)
    g = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    width = max(2, round(g.shape[1] * HEIGHT / g.shape[0]))
    return cv2.resize(g, (width, HEIGHT), interpolation=cv2.INTER_CUBIC)


def touching(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``a`` and ``b`` side by side with the least overlap that joins their ink into one blob, as
    dark ink on white paper with a 60-pixel margin; None if they never join."""
    for overlap in range(min(40, a.shape[1] - 1, b.shape[1] - 1)):
        pair = np.zeros((HEIGHT, a.shape[1] + b.shape[1] - overlap), np.uint8)
        pair[:, : a.shape[1]] = a
        right = pair[:, a.shape[1] - overlap :]
        np.maximum(right, b, out=right)
        n, _ = cv2.connectedComponents((pair > 100).astype(np.uint8))
        if n == 2:  # the background and one blob
            return np.pad(255 - pair, 60, constant_values=255)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--with-one", action="store_true", help="one digit of every pair is a 1")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--model", default=None)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    test = mnist.MNIST(paths.data_dir(args.data_dir), download=False).load("test")
    rng = np.random.default_rng(args.seed)
    ones = np.flatnonzero(test.labels == 1)
    reader = Reader(args.model)
    right, read, wrong = 0, 0, []
    for _ in range(args.pairs):
        i, j = (int(v) for v in rng.integers(len(test.labels), size=2))
        if args.with_one:
            if rng.random() < 0.5:
                i = int(rng.choice(ones))
            else:
                j = int(rng.choice(ones))
        pic = touching(glyph(test.images[i]), glyph(test.images[j]))
        if pic is None:
            continue
        want = f"{test.labels[i]}{test.labels[j]}"
        got = reader.read(pic).text.replace(" ", "").replace("\n", "")
        read += 1
        right += got == want
        if got != want:
            wrong.append(f"{want}->{got or '(nothing)'}")
    out = {"pairs": read, "read_right": round(right / max(1, read), 4), "with_one": args.with_one,
           "mistakes": wrong[:30]}
    if args.json:
        print(json.dumps(out))
        return
    kind = "pairs with a 1" if args.with_one else "pairs"
    print(f"touching {kind}: {right} of {read} read right ({right / max(1, read):.1%})")
    print("mistakes (want->got):", " ".join(wrong[:30]))


if __name__ == "__main__":
    main()
