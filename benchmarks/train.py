"""Training and inference figures, side by side in one run on this machine.

    python benchmarks/train.py [--json] [--retrain-net] [--threads 2]

Trains the seed baselines (softmax, mlp, cnn2) and the fastest recipe (``fast``) from scratch with
the same recipes ``mydigits train`` uses, scores them on the MNIST test set, and measures the
classifier's inference speed (batches of 28x28 crops, and batch-1 latency) in the precision the
reader uses (``modelio.inference_dtype``). The shipped default model is scored as committed, in that
precision and in float32 beside it; ``--retrain-net`` also trains one run of its recipe (about 45
minutes on 2 cores; the shipped model also learned from such runs, see the README). ``--compare M``
scores another saved model (say the previous default) the same way, beside it. A saved model is
scored both as the model alone and as the reader classifies (``modelio.WAVERING``: the digits it
wavers on weighed over their variants); speeds are the model's alone. Beside the speeds: each
model's arithmetic per digit and this machine's speed at matrix products in the same run, since
this VM's speed changes from hour to hour and a small CNN runs near that ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from mydigits import modelio, paths, training
from mydigits.mnist import MNIST


def inference_speed(clf: modelio.Classifier, images: np.ndarray) -> dict[str, float]:
    """The classifier's own speed: every crop through the model once (no variants, see WAVERING)."""
    crops = images.astype(np.float32) / 255.0
    clf.predict_proba(crops[:2048], wavering=0.0)  # warm up
    start = time.perf_counter()
    reps = 0
    while time.perf_counter() - start < 3.0:
        clf.predict_proba(crops[:4096], wavering=0.0)
        reps += 1
    per_s = reps * 4096 / (time.perf_counter() - start)
    lat = []
    for i in range(200):
        t = time.perf_counter()
        clf.predict_proba(crops[i : i + 1], wavering=0.0)
        lat.append((time.perf_counter() - t) * 1000)
    return {"digits_per_s": per_s, "batch1_ms_p50": statistics.median(lat)}


def flops_per_digit(model: torch.nn.Module) -> float:
    """Multiply-adds (x2) of the convolutions and linear layers for one 28x28 crop: what bounds
    a small CNN's speed on a CPU, where the rest (ReLUs, copies) is a few percent."""
    total = 0.0

    def count(layer: torch.nn.Module, _inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(layer, torch.nn.Conv2d):
            k = layer.weight[0].numel()  # in-channels/groups x kernel area
            total += 2.0 * k * out.numel()
        elif isinstance(layer, torch.nn.Linear):
            total += 2.0 * layer.in_features * out.numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.inference_mode():
        model(torch.zeros(1, 1, 28, 28).contiguous(memory_format=torch.channels_last))
    for h in hooks:
        h.remove()
    return total


def peak_gflops(dtype: torch.dtype, seconds: float = 2.0) -> float:
    """This machine's arithmetic speed right now: a 1024x1024 matrix product in ``dtype`` (the
    kind of work oneDNN turns convolutions into). The VM's speed changes from hour to hour; a
    classifier's digits/s divided by this says whether the code or the machine changed."""
    a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    for _ in range(3):
        a @ b
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
    return 2 * 1024**3 * n / (time.perf_counter() - start) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--retrain-net", action="store_true")
    ap.add_argument("--archs", default="softmax,mlp,cnn2,fast")
    ap.add_argument("--compare", action="append", default=[], metavar="MODEL",
                    help="also score this saved model as committed (repeatable)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = MNIST(progress=not args.json)
    test = data.load("test")
    rows = []
    archs = args.archs.split(",") + (["net"] if args.retrain_net else [])
    for arch in archs:
        t0 = time.perf_counter()
        res = training.train(arch, data=data, progress=False, threads=args.threads)
        wall = time.perf_counter() - t0
        model = modelio.for_inference(res.model).to(memory_format=torch.channels_last)
        clf = modelio.Classifier(model, res.meta)
        speed = inference_speed(clf, test.images)
        rows.append({
            "model": arch,
            "epochs": len(res.history),
            "mnist_test_accuracy": res.history[-1]["test_accuracy"],
            "train_seconds": res.history[-1]["seconds"],
            "wall_seconds_incl_data_and_eval": wall,
            "mflops_per_digit": flops_per_digit(model) / 1e6,
            **speed,
        })
        if not args.json:
            print(json.dumps(rows[-1]), flush=True)
    shipped = paths.shipped_weights_dir() / modelio.DEFAULT_NAME
    loaded = modelio.Classifier.load(shipped)
    crops = test.images.astype(np.float32) / 255.0
    for label, path in [("net (shipped)", shipped)] + [(m, m) for m in args.compare]:
        saved = loaded if path == shipped else modelio.Classifier.load(path)
        mflops = flops_per_digit(saved.model) / 1e6
        # as the reader runs it (bfloat16 where the CPU computes it, with its gate if it has one),
        # and alone and in float32 beside it
        runs = [(saved.dtype, saved.gate), (saved.dtype, None), (torch.float32, None)]
        for dtype, gate in dict.fromkeys(runs):
            clf = modelio.Classifier(saved.model, saved.meta, saved.temperature, dtype, gate, saved.gate_temperature)
            probs = clf.predict_proba(crops, wavering=0.0)
            weighed = clf.predict_proba(crops)
            rows.append({
                "model": f"{label}{', with its gate' if gate is not None else ''}, {str(dtype).removeprefix('torch.')}",
                "epochs": len(clf.meta.get("history", [])) or clf.meta.get("recipe", {}).get("epochs"),
                "mnist_test_accuracy": float((probs[:, :10].argmax(1) == test.labels).mean()),
                # as the reader classifies: the digits it wavers on weighed over their variants
                "mnist_test_accuracy_as_read": float((weighed[:, :10].argmax(1) == test.labels).mean()),
                "train_seconds": clf.meta.get("train_seconds"),
                "wall_seconds_incl_data_and_eval": None,
                "mflops_per_digit": mflops,
                **inference_speed(clf, test.images),
            })
            if gate is not None:
                rows[-1]["gate_answers"] = clf.gate_share(crops)
    fast = next((r for r in rows if r["model"] == "fast"), None)
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, torch {torch.__version__}, {args.threads} threads, "
                   f"inference in {str(loaded.dtype).removeprefix('torch.')}",
        # measured after the rows, so that it is the speed the last rows ran at
        "peak_gflops": {str(d).removeprefix("torch."): peak_gflops(d)
                        for d in dict.fromkeys([loaded.dtype, torch.float32])},
        "rows": rows,
        "time_to_99_seconds": fast["train_seconds"] if fast and fast["mnist_test_accuracy"] >= 0.99 else None,
    }
    if args.json:
        print(json.dumps(out))
        return
    print()
    print(f"machine: {out['machine']}")
    peaks = ", ".join(f"{d} {g:,.0f} GFLOPS" for d, g in out["peak_gflops"].items())
    print(f"this machine's 1024x1024 matrix products: {peaks}")
    print("| model | epochs | MNIST test accuracy (as read) | train time (s) | MFLOP/digit | digits/s (batches) "
          "| batch-1 latency (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        t = "" if r["train_seconds"] is None else f"{r['train_seconds']:.1f}"
        read = f" ({r['mnist_test_accuracy_as_read']:.2%})" if "mnist_test_accuracy_as_read" in r else ""
        print(f"| {r['model']} | {r['epochs']} | {r['mnist_test_accuracy']:.2%}{read} | {t} | "
              f"{r['mflops_per_digit']:.3g} | {r['digits_per_s']:,.0f} | {r['batch1_ms_p50']:.2f} |")
    print(f"time to 99% with the fastest recipe: {out['time_to_99_seconds']} s")


if __name__ == "__main__":
    main()
