"""Does the reader still read a number through a dark photo's sensor grain?

A photo taken in poor light is grainy: every pixel varies around its true value. This benchmark
writes a number of 3-8 MNIST test digits (writers the model never saw) on each of ``--n``
generated photos of blank paper (``not_digits.number_on_paper``, the pictures of
``benchmarks/turned.py``), then multiplies every pixel by 1 + g * N(0, 1) for each grain g of
``--grain`` (a fraction of its brightness; the reader smooths a picture whose grain it measures
over ``binarizing.NOISY``), and prints the share of pictures whose number comes out whole per
grain. The row for 0 is the same pictures without grain.

    python benchmarks/grainy.py [--n 100] [--seed 7] [--grain 0,0.06,0.1,0.15] [--model M] [--json]

Needs the MNIST cache (``$MYDIGITS_DATA`` or ``--data-dir``); nothing is downloaded.
"""

from __future__ import annotations

import not_digits
import numpy as np


def grainy(pic: np.ndarray, grain: float, rng: np.random.Generator) -> np.ndarray:
    """``pic`` (uint8 RGB) with every pixel's brightness varied by ``grain`` of itself (the same
    factor for its three channels, as a sensor's luminance noise)."""
    factor = 1 + grain * rng.standard_normal(pic.shape[:2]).astype(np.float32)
    return np.clip(pic.astype(np.float32) * factor[..., None], 0, 255).astype(np.uint8)


def main() -> None:
    not_digits.numbers_through(__doc__.splitlines()[0], "grain", "0,0.06,0.1,0.15",
                               lambda pic, g, i, seed: grainy(pic, g, np.random.default_rng([seed, i])),
                               "grain {}")


if __name__ == "__main__":
    main()
