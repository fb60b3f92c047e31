"""Benchmark the reader on a folder of real labelled pictures.

The folder holds ``labels.csv`` with columns ``file,label,kind[,writer]``: ``label`` lists the digits
in reading order (rows separated by spaces), ``kind`` groups the results (photo, canvas, multi...).
Whitespace is ignored when scoring. Per kind it prints:

* digit accuracy: 1 - (sum of edit distances) / (sum of label lengths), a "?" counting as wrong;
* exact match: the fraction of pictures read entirely right;
* time per picture.

Optionally (``--tesseract``) the same for Tesseract in digits-only mode, if it is installed.
``--turn 90`` (or 180, 270) reads every picture turned by that many degrees anticlockwise, as if
photographed with the page on its side: the reader has to find the way up itself.

    python benchmarks/realworld.py [/path/to/realworld] [--model M] [--json] [--failures] [--turn D]

The folder defaults to ``../shared/realworld`` beside the project.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from mydigits import loading
from mydigits.errors import MydigitsError
from mydigits.reading import Reader

# the project keeps its shared data beside the repository: <root>/main and <root>/shared
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "realworld"


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def squash(text: str) -> str:
    return "".join(text.split())


def tesseract_read(path: Path) -> str | None:
    try:
        out = subprocess.run(
            ["tesseract", str(path), "stdout", "--psm", "6", "-c",
             "tessedit_char_whitelist=0123456789"],
            capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout


def score(rows: list[dict], predictions: dict[str, str], seconds: dict[str, float]) -> dict:
    by_kind: dict[str, dict] = defaultdict(lambda: {"n": 0, "exact": 0, "errors": 0, "chars": 0,
                                                    "seconds": 0.0})
    for r in rows:
        for kind in (r["kind"], "all"):
            k = by_kind[kind]
            truth, pred = squash(r["label"]), squash(predictions.get(r["file"], ""))
            k["n"] += 1
            k["exact"] += truth == pred
            k["errors"] += edit_distance(truth, pred)
            k["chars"] += len(truth)
            k["seconds"] += seconds.get(r["file"], 0.0)
    return {
        kind: {
            "images": k["n"],
            "digit_accuracy": round(1 - k["errors"] / max(1, k["chars"]), 4),
            "exact": round(k["exact"] / max(1, k["n"]), 4),
            "ms_per_image": round(1000 * k["seconds"] / max(1, k["n"]), 1),
        }
        for kind, k in sorted(by_kind.items())
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=DEFAULT_DATA)
    p.add_argument("--model", default=None)
    p.add_argument("--kind", default=None, help="only this kind")
    p.add_argument("--json", action="store_true")
    p.add_argument("--failures", action="store_true", help="list every picture read wrong")
    p.add_argument("--tesseract", action="store_true", help="also score tesseract if installed")
    p.add_argument("--turn", type=int, default=0, choices=(0, 90, 180, 270),
                   help="read every picture turned by this many degrees anticlockwise")
    args = p.parse_args(argv)
    if args.turn and args.tesseract:
        p.error("--turn reads turned pictures with the reader only; leave out --tesseract")

    folder = Path(args.folder)
    labels = folder / "labels.csv"
    if not labels.is_file():
        print(f"realworld: {labels} not found", file=sys.stderr)
        return 2
    with labels.open(newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not args.kind or r["kind"] == args.kind]

    reader = Reader(args.model)
    predictions, seconds, failures = {}, {}, []
    for r in rows:
        t = time.perf_counter()
        try:
            if args.turn:
                turned = np.rot90(loading.load_image(folder / r["file"]), args.turn // 90)
                text = reader.read(np.ascontiguousarray(turned), name=r["file"]).text
            else:
                text = reader.read(folder / r["file"], name=r["file"]).text
        except MydigitsError as exc:
            text = ""
            print(f"realworld: {exc}", file=sys.stderr)
        seconds[r["file"]] = time.perf_counter() - t
        predictions[r["file"]] = text
        if squash(text) != squash(r["label"]):
            failures.append((r["file"], r["label"], text.replace("\n", " / ")))
    report = {"model": str(args.model or "default"), "turn": args.turn,
              "reader": score(rows, predictions, seconds)}

    if args.tesseract:
        if shutil.which("tesseract") is None:
            report["tesseract"] = "not installed"
        else:
            tp, ts = {}, {}
            for r in rows:
                t = time.perf_counter()
                tp[r["file"]] = tesseract_read(folder / r["file"]) or ""
                ts[r["file"]] = time.perf_counter() - t
            report["tesseract"] = score(rows, tp, ts)

    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name in ("reader", "tesseract"):
            if name not in report:
                continue
            if isinstance(report[name], str):
                print(f"{name}: {report[name]}")
                continue
            print(f"{name}:")
            for kind, k in report[name].items():
                print(f"  {kind:8s} {k['images']:4d} images  digits {k['digit_accuracy']:.2%}  "
                      f"exact {k['exact']:.2%}  {k['ms_per_image']:.0f} ms/image")
    if args.failures:
        for file, truth, got in failures:
            print(f"FAIL {file}: want {truth!r} got {got!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
