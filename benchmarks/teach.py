"""Does teaching help real writers, and does it cost MNIST accuracy?

    python benchmarks/teach.py [--model M] [--json] [--data DIR] [--no-timing]

Writer by writer on ``../shared/realworld`` (labels.csv: file,label,kind,writer): for every writer
whose pictures show several different digits, the pictures are split in two halves (alternately
within each label, so both halves have the same mix), the base model is taught the first half (raw
pictures through the reader, exactly as ``mydigits teach`` does, with the default settings) and both
models read the second half. Per writer:

* digit error rate: (sum of edit distances between what was read and the label) / (label digits);
* relative error reduction: (base error - taught error) / base error, for writers the base model
  got wrong at least once; the headline figure is its mean over those writers;
* MNIST test accuracy (all 10,000 digits) before and after; the headline is the mean drop in points.

A separate timing run teaches 50 single-digit pictures (the first 50 photos/drawings in file order,
mixing writers) and reports its wall time, which the target keeps under a minute on two cores.
Nothing is written to the model store.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from mydigits import modelio, paths, teaching
from mydigits.errors import MydigitsError
from mydigits.evaluating import digits_only, edit_distance
from mydigits.labelling import Labelled, clean_label
from mydigits.reading import Reader

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared/realworld"


def load_rows(folder: Path) -> list[Labelled]:
    rows = []
    with open(folder / "labels.csv", encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            label = clean_label(r["label"])
            if label is None:
                continue
            rows.append(Labelled(folder / r["file"], label, r.get("kind", ""), r.get("writer", "")))
    return rows


def split_half(items: list[Labelled]) -> tuple[list[Labelled], list[Labelled]]:
    """Alternate within each label (in file order), continuing the alternation across labels."""
    by_label: dict[str, list[Labelled]] = defaultdict(list)
    for it in sorted(items, key=lambda i: str(i.path)):
        by_label[it.label].append(it)
    teach, test = [], []
    toggle = 0
    for label in sorted(by_label):
        for it in by_label[label]:
            (teach if toggle % 2 == 0 else test).append(it)
            toggle += 1
    return teach, test


def error_rate(reader: Reader, items: list[Labelled]) -> tuple[int, int, list[dict]]:
    errors = chars = 0
    detail = []
    for it in items:
        truth = digits_only(it.label)
        try:
            read = digits_only(reader.read(it.path).text)
        except MydigitsError:
            read = ""
        e = edit_distance(read, truth)
        errors += e
        chars += len(truth)
        detail.append({"file": it.path.name, "label": it.label, "read": read, "errors": e})
    return errors, chars, detail


def run(data: Path, base: Path, timing: bool = True, log=print) -> dict:
    rows = load_rows(data)
    writers: dict[str, list[Labelled]] = defaultdict(list)
    for r in rows:
        writers[r.writer].append(r)
    base_reader = Reader(base)
    results = []
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for writer in sorted(writers):
            items = writers[writer]
            if len({c for it in items for c in digits_only(it.label)}) < 3 or len(items) < 2:
                continue
            teach_items, test_items = split_half(items)
            t = time.perf_counter()
            try:
                out = teaching.teach(teach_items, base=base, save=False)
            except MydigitsError as exc:
                log(f"{writer}: not taught ({exc})")
                continue
            seconds.append(time.perf_counter() - t)
            taught_path = Path(tmp) / writer
            modelio.save(out.model, taught_path, out.meta)
            eb, n, detail_b = error_rate(base_reader, test_items)
            et, _, detail_t = error_rate(Reader(taught_path), test_items)
            m = out.report.mnist
            row = {
                "writer": writer,
                "teach_images": len(teach_items),
                "teach_digits": len(out.samples),
                "skipped": len(out.rejected),
                "test_images": len(test_items),
                "test_digits": n,
                "base_error": eb / max(n, 1),
                "taught_error": et / max(n, 1),
                "relative_error_reduction": (eb - et) / eb if eb else None,
                "mnist_before": m["before"],
                "mnist_after": m["after"],
                "mnist_drop_pp": 100 * (m["before"] - m["after"]),
                "seconds": round(seconds[-1], 1),
                "reads": [
                    {**b, "taught_read": tr["read"], "taught_errors": tr["errors"]}
                    for b, tr in zip(detail_b, detail_t, strict=True)
                ],
            }
            results.append(row)
            log(
                f"{writer:<10} taught {row['teach_digits']:3d} digits ({row['skipped']} skipped) "
                f"in {row['seconds']:5.1f} s; error on {n:3d} test digits "
                f"{row['base_error']:6.1%} -> {row['taught_error']:6.1%}; "
                f"MNIST {m['before']:.2%} -> {m['after']:.2%}"
            )
    reductions = [r["relative_error_reduction"] for r in results if r["base_error"] > 0]
    report = {
        "base_model": str(base),
        "writers": len(results),
        "writers_with_errors": len(reductions),
        "relative_error_reduction": statistics.fmean(reductions) if reductions else None,
        "base_error": _pooled(results, "base_error"),
        "taught_error": _pooled(results, "taught_error"),
        "mnist_drop_pp": statistics.fmean(r["mnist_drop_pp"] for r in results) if results else None,
        "mnist_drop_pp_max": max((r["mnist_drop_pp"] for r in results), default=None),
        "seconds_per_run": statistics.fmean(seconds) if seconds else None,
        "per_writer": results,
    }
    if timing:
        singles = [r for r in rows if len(r.label) == 1][:50]
        t = time.perf_counter()
        out = teaching.teach(singles, base=base, save=False)
        report["timing_50"] = {
            "images": len(singles),
            "digits": len(out.samples),
            "seconds": round(time.perf_counter() - t, 1),
        }
        log(f"timing: {len(singles)} pictures taught in {report['timing_50']['seconds']} s")
    return report


def _pooled(results: list[dict], key: str) -> float | None:
    n = sum(r["test_digits"] for r in results)
    return sum(r[key] * r["test_digits"] for r in results) / n if n else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", type=Path, default=paths.shipped_weights_dir() / "default",
                    help="base model (default: the shipped one)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-timing", action="store_true", help="skip the 50-picture timing run")
    args = ap.parse_args()
    if not (args.data / "labels.csv").is_file():
        print(f"teach benchmark: {args.data}/labels.csv not found", file=sys.stderr)
        return 1

    def log(msg: str) -> None:
        print(msg, file=sys.stderr if args.json else sys.stdout, flush=True)

    report = run(args.data, args.model, timing=not args.no_timing, log=log)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"relative error reduction {report['relative_error_reduction']:.1%} "
            f"(mean over {report['writers_with_errors']} writers the base model got wrong); "
            f"pooled error {report['base_error']:.1%} -> {report['taught_error']:.1%}; "
            f"MNIST drop {report['mnist_drop_pp']:.3f} pp (max {report['mnist_drop_pp_max']:.3f}); "
            f"{report['seconds_per_run']:.0f} s per teach run"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
