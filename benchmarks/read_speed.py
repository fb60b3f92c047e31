"""Reading speed, side by side in one run: a 12-megapixel phone JPEG, and a folder of 1,000 pictures.

    python benchmarks/read_speed.py [--json] [--images 1000]

* 12 MP: the time to just decode the JPEG at full size (Pillow, what any program that opens the
  photo pays) next to the time ``Reader.read`` takes end to end on the same file (median of runs).
  The reader may decode big JPEGs at reduced size (JPEG draft mode), which is why it can be close.
* A folder of N small photos read the way ``mydigits read FOLDER`` reads it (``Reader.read_many``,
  two worker threads): pictures per second, and how busy the cores were (process CPU time over
  wall time, divided by the number of cores), next to one worker.

The pictures are made from ``examples/`` (scaled, turned a little, noised, re-encoded), so the
benchmark needs nothing outside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mydigits.reading import Reader

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_phone_jpeg(path: Path, size: tuple[int, int] = (4000, 3000)) -> None:
    """A 12 MP JPEG like a phone's: an example photo at full sensor size with sensor noise."""
    img = cv2.imread(str(EXAMPLES / "photo_blue_grid.jpg"))
    big = cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(0).normal(0, 4, big.shape)
    big = np.clip(big + noise, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 92])


def make_folder(folder: Path, n: int) -> list[Path]:
    """``n`` photos of about 0.3-1 megapixel, each an example scaled, turned and noised."""
    rng = np.random.default_rng(1)
    sources = [cv2.imread(str(p)) for p in sorted(EXAMPLES.glob("*")) if p.suffix in (".png", ".jpg")]
    out = []
    for i in range(n):
        img = sources[i % len(sources)]
        scale = rng.uniform(0.6, 1.4)
        h, w = img.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-4, 4), scale)
        m[:, 2] += ((scale - 1) * w / 2, (scale - 1) * h / 2)
        warped = cv2.warpAffine(img, m, (round(w * scale), round(h * scale)), borderMode=cv2.BORDER_REPLICATE)
        warped = np.clip(warped + rng.normal(0, 3, warped.shape), 0, 255).astype(np.uint8)
        path = folder / f"photo_{i:04d}.jpg"
        cv2.imwrite(str(path), warped, [cv2.IMWRITE_JPEG_QUALITY, 90])
        out.append(path)
    return out


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def read_folder(reader: Reader, paths: list[Path], workers: int) -> dict[str, float]:
    cpu, t = cpu_seconds(), time.perf_counter()
    errors = sum(isinstance(r, Exception) for _, r in reader.read_many(paths, workers=workers))
    wall = time.perf_counter() - t
    cores = os.cpu_count() or 1
    return {
        "workers": workers,
        "seconds": round(wall, 2),
        "pictures_per_s": round(len(paths) / wall, 1),
        "cores_busy_pct": round(100 * (cpu_seconds() - cpu) / wall / cores, 1),
        "errors": errors,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    reader = Reader()
    with tempfile.TemporaryDirectory() as tmp:
        jpeg = Path(tmp) / "phone_12mp.jpg"
        make_phone_jpeg(jpeg)
        text = reader.read(jpeg).text  # warm up, and show that it reads
        decode_ms = median_ms(lambda: decode(jpeg), args.runs)
        read_ms = median_ms(lambda: reader.read(jpeg), args.runs)
        folder = Path(tmp) / "folder"
        folder.mkdir()
        paths = make_folder(folder, args.images)
        one = read_folder(reader, paths, workers=1)
        two = read_folder(reader, paths, workers=2)

    report = {
        "cpu_count": os.cpu_count(),
        "phone_jpeg": {"pixels": 4000 * 3000, "decode_ms": round(decode_ms, 1), "read_ms": round(read_ms, 1),
                       "ratio": round(read_ms / decode_ms, 2), "text": text},
        "folder": {"images": args.images, "one_worker": one, "two_workers": two},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    pj = report["phone_jpeg"]
    print(f"12 MP JPEG: decode {pj['decode_ms']:.1f} ms, read end to end {pj['read_ms']:.1f} ms "
          f"({pj['ratio']:.2f}x), read {pj['text']!r}")
    for r in (one, two):
        print(f"{args.images} pictures, {r['workers']} worker(s): {r['seconds']:.1f} s, {r['pictures_per_s']:.1f}/s, "
              f"cores busy {r['cores_busy_pct']:.0f}%, errors {r['errors']}")


if __name__ == "__main__":
    main()
