"""Kill a real ``mydigits teach`` with SIGKILL at random moments; nothing may be lost.

    python benchmarks/kill_teach.py [--trials 100] [--seed 0] [--max-minutes 20] [--json]

Everything happens in a temporary ``MYDIGITS_HOME`` (the MNIST cache is used read-only). Two sample
folders of 30 crops each are written from MNIST test digits; a first, uninterrupted teach of the
first folder makes version ``mine-1`` (active). Then each trial starts
``mydigits teach SECOND --preprocessed`` (the real command line, in a child process, with teaching's
settings made tiny so that a run takes seconds) and kills it with SIGKILL:

* odd trials at a uniformly random moment of the whole run (start-up, reading samples, training,
  measuring, writing);
* even trials at a random moment of the write phase itself: from the appearance of the new version's
  hidden temporary folder until the process would have ended (model, samples, curve, the rename, the
  ``ACTIVE`` file).

After each kill: the active model must be ``mine-1`` or the new version, and load (weights, checksum,
shapes); every version the store lists must load; no half-written version may be listed; both sample
folders and ``mine-1``'s folder must be byte-identical to before; and ``store.clean_stale`` must
remove what the killed process left. A run that finished before its kill is checked the same way
and then rolled back (``models use mine-1``, ``models remove``) for the next trial.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import functools, sys
from mydigits import cli, teaching
teaching.Settings = functools.partial(teaching.Settings, epochs=1, steps_per_epoch=3, batch_size=64,
                                      replay_pool=500, negatives=50, mnist_eval=200, monitor=0, threads=1)
sys.exit(cli.main(["teach", *sys.argv[1:], "--preprocessed", "--quiet"]))
"""


def folder_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def write_samples(folder: Path, images: np.ndarray, labels: np.ndarray) -> None:
    import cv2

    folder.mkdir(parents=True)
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        ok, png = cv2.imencode(".png", img)
        assert ok
        (folder / f"s{i:03d}_{label}.png").write_bytes(png.tobytes())


def check(active_allowed: set[str], versions_allowed: set[str], before: dict[str, dict[str, str]],
          folders: dict[str, Path]) -> tuple[str, list[str]]:
    """The store after a kill: returns the active name and the problems found."""
    from mydigits import modelio, store
    from mydigits.errors import MydigitsError

    problems = []
    active = store.active()
    if active not in active_allowed:
        problems.append(f"active model is {active!r}, expected one of {sorted(active_allowed)}")
    try:
        modelio.load(modelio.default_model_path())
        modelio.Classifier.load()
    except MydigitsError as exc:
        problems.append(f"active model does not load: {exc}")
    for name in store.names():
        try:
            modelio.load(store.model_path(name))
        except MydigitsError as exc:
            problems.append(f"listed version {name} does not load: {exc}")
        if name not in versions_allowed:
            problems.append(f"unexpected version {name}")
    for key, folder in folders.items():
        if folder_hashes(folder) != before[key]:
            problems.append(f"{key} changed")
    return active, problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=20.0, help="stop starting trials after this")
    p.add_argument("--data-dir", default=None, help="MNIST cache (default: the usual one)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    from mydigits import paths
    from mydigits.mnist import MNIST

    data_dir = paths.data_dir(args.data_dir).resolve()
    test = MNIST(data_dir, progress=False).load("test")
    rng = random.Random(args.seed)
    say = (lambda *_a, **_k: None) if args.json else print
    with tempfile.TemporaryDirectory(prefix="mydigits-kill-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        os.environ["MYDIGITS_HOME"] = str(home)  # for this process's checks, like the children's
        os.environ["MYDIGITS_DATA"] = str(data_dir)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        first, second = Path(tmp) / "first", Path(tmp) / "second"
        write_samples(first, test.images[:30], test.labels[:30])
        write_samples(second, test.images[30:60], test.labels[30:60])
        models_dir = paths.models_dir()

        def teach(folder: Path) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, "-c", CHILD, str(folder)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        t0 = time.perf_counter()
        proc = teach(first)
        _, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"the first teach failed: {err.decode(errors='replace')}")
        say(f"first teach (mine-1): {time.perf_counter() - t0:.1f} s")

        from mydigits import store

        folders = {"first samples": first, "second samples": second, "mine-1 folder": models_dir / "mine-1"}
        before = {k: folder_hashes(v) for k, v in folders.items()}

        # one uninterrupted run of the second folder: how long a run takes, and its write phase (from
        # the new version's temporary folder appearing to ACTIVE naming it)
        t0 = time.perf_counter()
        proc, write_start, write_end = teach(second), None, None
        active_file = models_dir / "ACTIVE"
        while proc.poll() is None:
            now = time.perf_counter()
            if write_start is None and any(x.name.startswith(".tmp-") for x in models_dir.iterdir()):
                write_start = now
            if write_start is not None and write_end is None and active_file.is_file() \
                    and active_file.read_text().strip() == "mine-2":
                write_end = now
            time.sleep(0.002)
        full = time.perf_counter() - t0
        write = (write_end or time.perf_counter()) - (write_start or time.perf_counter())
        if proc.returncode != 0:
            raise SystemExit(f"the calibration teach failed: {proc.stderr.read().decode(errors='replace')}")
        _, problems = check({"mine-2"}, {"mine-1", "mine-2"}, before, folders)
        assert not problems, problems
        store.set_active("mine-1")
        store.remove("mine-2")
        say(f"an uninterrupted run: {full:.1f} s; writing the new version and activating it: "
            f"{write * 1000:.0f} ms")

        began = time.monotonic()
        rows, deadline = [], began + args.max_minutes * 60
        current: list[subprocess.Popen | None] = [None]
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally below runs
        counts = {"survived": 0, "failed": 0, "killed while writing": 0, "finished before the kill": 0}
        try:
            for trial in range(1, args.trials + 1):
                if time.monotonic() > deadline:
                    say(f"time cap of {args.max_minutes} minutes reached")
                    break
                in_write = trial % 2 == 0
                proc = current[0] = teach(second)
                start = time.perf_counter()
                if in_write:
                    delay = rng.uniform(0, max(write, 0.01) * 1.2)
                    seen = None
                    while proc.poll() is None and time.perf_counter() - start < full * 4:
                        if seen is None and any(x.name.startswith(".tmp-") for x in models_dir.iterdir()):
                            seen = time.perf_counter()
                        if seen is not None and time.perf_counter() - seen >= delay:
                            break
                        time.sleep(0.005)
                else:
                    delay = rng.uniform(0, full * 1.1)
                    while proc.poll() is None and time.perf_counter() - start < delay:
                        time.sleep(0.005)
                at = time.perf_counter() - start
                finished = proc.poll() is not None
                if not finished:
                    proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=60)
                tmp_left = sorted(x.name for x in models_dir.iterdir() if x.name.startswith("."))
                versions = set(store.names())
                new = sorted(versions - {"mine-1"})
                allowed = {"mine-1", *new[:1]}
                active, problems = check(allowed, allowed, before, folders)
                if len(new) > 1:
                    problems.append(f"more than one new version: {new}")
                if finished and proc.returncode != 0:
                    problems.append(f"the run failed by itself (exit {proc.returncode})")
                store.clean_stale()
                left = [x.name for x in models_dir.iterdir() if x.is_dir() and x.name.startswith(".")]
                if left:
                    problems.append(f"clean_stale left {left}")
                for name in new:  # roll back for the next trial
                    if store.active() == name:
                        store.set_active("mine-1")
                    store.remove(name)
                for f in models_dir.glob(".ACTIVE.*.tmp"):  # a kill inside the atomic write of ACTIVE
                    f.unlink()
                ok = not problems
                counts["survived" if ok else "failed"] += 1
                if finished:
                    counts["finished before the kill"] += 1
                elif new or any(n.startswith((".tmp-", ".ACTIVE.")) for n in tmp_left):
                    counts["killed while writing"] += 1  # the new version had begun to appear
                rows.append({"trial": trial, "mode": "write phase" if in_write else "anywhere",
                             "kill_at_s": round(at, 3),
                             "finished": finished, "active_after": active, "new_version": new[0] if new else None,
                             "leftovers": tmp_left, "problems": problems})
                say(f"trial {trial:3d} [{rows[-1]['mode']:<11}] kill at {at:6.2f} s: "
                    + ("finished first" if finished else "killed") + f", active {active}"
                    + (f", new version {new[0]} (complete)" if new else "")
                    + (f", left {', '.join(tmp_left)}" if tmp_left else "")
                    + (" OK" if ok else f"  FAILED: {'; '.join(problems)}"), flush=True)
        finally:  # never leave a teach running behind
            if current[0] is not None and current[0].poll() is None:
                current[0].kill()
        summary = {"trials": len(rows), **counts, "seconds": round(time.monotonic() - began),
                   "uninterrupted_run_s": round(full, 2),
                   "write_phase_ms": round(write * 1000), "seed": args.seed}
        if args.json:
            print(json.dumps({"summary": summary, "trials": rows}, indent=2))
        else:
            print(f"trials: {len(rows)}, survived: {counts['survived']}, failed: {counts['failed']} "
                  f"(killed while writing: {counts['killed while writing']}, finished before the kill: "
                  f"{counts['finished before the kill']}) in {summary['seconds']} s")
        return 0 if counts["failed"] == 0 and rows else 1


if __name__ == "__main__":
    sys.exit(main())
