"""Teaching a model its user's handwriting, and the store of taught models.

A generated "writer" stands in for a user: MNIST digits all drawn with one strong slant, tilt and
width that the base model has never seen (it misreads most of them). No network (MNIST comes from
the local cache that CI fills) and no dependency on ../shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mydigits import modelio, paths, store, teaching
from mydigits.errors import MydigitsError
from mydigits.mnist import MNIST
from mydigits.normalizing import to_mnist
from mydigits.training import predict

# the writer's style: tilted 35 degrees, slanted back, drawn wide
STYLE = {"rot": 35.0, "shear": -0.5, "sx": 1.4}
QUICK = teaching.Settings(
    epochs=4, steps_per_epoch=20, replay_pool=4000, negatives=400, mnist_eval=2000, monitor=300
)


def stylize(img: np.ndarray, rot: float = 0.0, shear: float = 0.0, sx: float = 1.0) -> np.ndarray:
    """One MNIST digit (uint8 28x28) redrawn in a fixed style, normalized like a real crop."""
    big = np.pad(cv2.resize(img, (112, 112), interpolation=cv2.INTER_LINEAR), 56)
    t = np.deg2rad(rot)
    m = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.array(
        [[1.0, shear], [0.0, 1.0]]
    ) @ np.diag([sx, 1.0])
    c = np.array([big.shape[1] / 2, big.shape[0] / 2])
    affine = np.hstack([m, (c - m @ c)[:, None]])
    return to_mnist(cv2.warpAffine(big, affine, big.shape[::-1]))


def _png(crop: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.rint(np.clip(crop, 0, 1) * 255).astype(np.uint8))
    assert ok
    return buf.tobytes()


def folder_hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def mnist_dir() -> Path:
    d = paths.data_dir()
    MNIST(d, progress=False).load("test")  # CI has it cached; downloads otherwise
    return d


@pytest.fixture(scope="module")
def base_model() -> Path:
    """The shipped default model: what a user teaches from."""
    return paths.shipped_weights_dir() / modelio.DEFAULT_NAME


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mnist_dir: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    (h / "data").symlink_to(mnist_dir.resolve(), target_is_directory=True)
    monkeypatch.setenv("MYDIGITS_HOME", str(h))
    return h


@pytest.fixture(scope="module")
def writer(mnist_dir: Path) -> dict[str, np.ndarray]:
    """50 samples (5 per digit) to teach from and 300 more of the same writer to test on."""
    test = MNIST(mnist_dir, progress=False).load("test")
    teach_idx = np.concatenate([np.nonzero(test.labels[5000:] == d)[0][:5] + 5000 for d in range(10)])
    held_idx = np.arange(300)
    return {
        "x": np.stack([stylize(test.images[i], **STYLE) for i in teach_idx]),
        "y": test.labels[teach_idx].astype(np.int64),
        "held_x": np.stack([stylize(test.images[i], **STYLE) for i in held_idx]),
        "held_y": test.labels[held_idx].astype(np.int64),
    }


def write_samples(folder: Path, x: np.ndarray, y: np.ndarray, prefix: str = "s") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (crop, label) in enumerate(zip(x, y, strict=True)):
        (folder / f"{prefix}{i:03d}_{label}.png").write_bytes(_png(crop))
    return folder


def accuracy(model_path: Path, x: np.ndarray, y: np.ndarray) -> float:
    model, _ = modelio.load(model_path)
    return float((predict(model, x).argmax(1).numpy() == y).mean())


# ---------------------------------------------------------------- teaching


def test_teach_learns_a_writer_and_keeps_mnist(
    home: Path, tmp_path: Path, base_model: Path, writer: dict[str, np.ndarray], mnist_dir: Path
) -> None:
    samples = write_samples(tmp_path / "mine", writer["x"], writer["y"])
    before_files = folder_hashes(samples)
    out = teaching.teach(
        [samples], base=base_model, settings=QUICK, preprocessed=True, data_dir=mnist_dir
    )
    assert folder_hashes(samples) == before_files  # the user's folder is never touched

    base_acc = accuracy(base_model, writer["held_x"], writer["held_y"])
    taught_acc = accuracy(modelio.default_model_path(), writer["held_x"], writer["held_y"])
    assert base_acc < 0.6, f"the generated writer should fool the base model ({base_acc:.1%})"
    assert taught_acc >= base_acc + 0.25, (base_acc, taught_acc)

    # MNIST guard (on a 2,000-digit subset in this quick setting)
    m = out.report.mnist
    assert m["n"] == 2000
    assert m["after"] >= m["before"] - 0.006, m  # no forgetting beyond noise + this odd style

    # held-out part of the user's samples (50 >= 20), before/after stored in the metadata
    assert out.report.validation is not None and out.report.validation["n"] > 0
    assert out.report.validation["after"] > out.report.validation["before"]

    # the store: a complete version, active, with its samples and curve
    assert out.name == "mine-1" and store.active() == "mine-1"
    folder = paths.models_dir() / "mine-1"
    assert modelio.default_model_path() == folder / "model"
    meta = json.loads((folder / "model.json").read_text())
    t = meta["teach"]
    assert t["base"] == str(base_model.resolve())
    assert t["samples_new"] == 50 and len(t["samples"]) == 50
    assert {s["sha256"] for s in t["samples"]} == set(before_files.values())
    assert t["report"]["mnist"]["after"] == m["after"]
    rows = (folder / "samples" / "labels.csv").read_text().splitlines()
    assert len(rows) == 51
    curve = cv2.imread(str(folder / "curve.png"))
    assert curve is not None and curve.shape[0] > 100

    # teaching again continues from the active model: the earlier samples are replayed, not redone
    more = write_samples(tmp_path / "more", writer["held_x"][:20], writer["held_y"][:20], "m")
    again = teaching.teach(
        [samples, more], settings=QUICK, preprocessed=True, data_dir=mnist_dir
    )
    assert again.name == "mine-2" and again.already == 50 and len(again.samples) == 20
    t2 = json.loads((paths.models_dir() / "mine-2" / "model.json").read_text())["teach"]
    assert t2["base"] == "mine-1" and t2["samples_replayed"] == 50 and t2["samples_total"] == 70
    assert store.active() == "mine-2"

    with pytest.raises(MydigitsError, match="already taught"):
        teaching.teach([samples], settings=QUICK, preprocessed=True, data_dir=mnist_dir)


def _bad_samples(folder: Path, good: np.ndarray) -> None:
    folder.mkdir()
    (folder / "ok_3.png").write_bytes(_png(good))
    (folder / "copy_3.png").write_bytes(_png(good))  # the same file twice
    (folder / "letter_x.png").write_bytes(_png(good))  # label is not a digit
    (folder / "broken_4.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")  # unreadable
    (folder / "empty_5.png").write_bytes(b"")
    (folder / "blank_6.png").write_bytes(_png(np.zeros((28, 28), np.float32)))
    (folder / "big_7.png").write_bytes(_png(np.zeros((40, 40), np.float32) + 0.0))
    (folder / "inverted_8.png").write_bytes(_png(1.0 - good))
    (folder / "pair_12.png").write_bytes(_png(np.roll(good, 3, 1)))  # two digits in one crop?
    (folder / "notes.txt").write_text("not an image")


def test_bad_samples_are_listed_and_skipped(tmp_path: Path, writer: dict[str, np.ndarray]) -> None:
    folder = tmp_path / "bad"
    _bad_samples(folder, writer["x"][0])
    samples, rejected = teaching.collect([folder, tmp_path / "missing"], preprocessed=True)
    assert [Path(s.source).name for s in samples] in (["copy_3.png"], ["ok_3.png"])
    reasons = {Path(r.source).name: r.reason for r in rejected}
    assert "same file" in reasons["ok_3.png"] or "same file" in reasons["copy_3.png"]
    assert "no digit label" in reasons["letter_x.png"]
    assert "not a readable image" in reasons["broken_4.png"]
    assert "not a readable image" in reasons["empty_5.png"]
    assert "blank" in reasons["blank_6.png"]
    assert "28x28" in reasons["big_7.png"]
    assert "white digits on black" in reasons["inverted_8.png"]
    assert "not one digit" in reasons["pair_12.png"]
    assert "no such file" in reasons["missing"]
    assert "notes.txt" not in reasons


def test_labels_csv_bad_rows(tmp_path: Path, writer: dict[str, np.ndarray]) -> None:
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / "a.png").write_bytes(_png(writer["x"][0]))
    (folder / "b.png").write_bytes(_png(writer["x"][1]))
    (folder / "labels.csv").write_text(
        f"file,label\na.png,{writer['y'][0]}\nb.png,seven\ngone.png,1\n../outside.png,2\n"
    )
    samples, rejected = teaching.collect([folder], preprocessed=True)
    assert [s.label for s in samples] == [int(writer["y"][0])]
    reasons = " | ".join(r.reason for r in rejected)
    assert "not digits" in reasons and "not found" in reasons and "outside" in reasons


def test_digit_subfolders(tmp_path: Path, writer: dict[str, np.ndarray]) -> None:
    for i in range(3):
        d = tmp_path / "sub" / str(writer["y"][i])
        d.mkdir(parents=True, exist_ok=True)
        (d / f"photo{i}.png").write_bytes(_png(writer["x"][i]))
    samples, rejected = teaching.collect([tmp_path / "sub"], preprocessed=True)
    assert sorted(s.label for s in samples) == sorted(int(v) for v in writer["y"][:3])
    assert not rejected


def test_raw_photos_bad_paths(tmp_path: Path, base_model: Path) -> None:
    folder = tmp_path / "raw"
    folder.mkdir()
    white = np.full((200, 300), 255, np.uint8)
    cv2.imwrite(str(folder / "blank_4.png"), white)  # no digit
    two = white.copy()
    cv2.putText(two, "27", (40, 150), cv2.FONT_HERSHEY_SIMPLEX, 4, 0, 12)
    cv2.imwrite(str(folder / "two_5.png"), two)  # label has one digit, the image two
    (folder / "junk_1.jpg").write_bytes(b"\xff\xd8\xff garbage")
    samples, rejected = teaching.collect([folder], reader_model=base_model)
    reasons = {Path(r.source).name: r.reason for r in rejected}
    assert not samples
    assert "no digit found" in reasons["blank_4.png"]
    assert "found 2" in reasons["two_5.png"]
    assert "unreadable" in reasons["junk_1.jpg"]


def test_no_usable_sample_is_one_clear_error(
    home: Path, tmp_path: Path, base_model: Path, writer: dict[str, np.ndarray], capsys
) -> None:
    from mydigits import cli

    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "letter_x.png").write_bytes(_png(writer["x"][0]))
    (folder / "broken_4.png").write_bytes(b"nope")
    code = cli.main(["teach", str(folder), "--preprocessed", "--model", str(base_model)])
    err = capsys.readouterr().err
    assert code == 1
    assert "skipped" in err and "broken_4.png" in err
    assert err.strip().splitlines()[-1].startswith("mydigits: no usable new sample")
    assert not (home / "models").exists() or not store.names()


def test_failed_write_leaves_the_active_model(
    home: Path, tmp_path: Path, base_model: Path, writer: dict[str, np.ndarray], monkeypatch
) -> None:
    _fake_version("first", base_model)
    store.set_active("first")

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(store, "save_samples", boom)
    samples = write_samples(tmp_path / "mine", writer["x"][:10], writer["y"][:10])
    settings = teaching.Settings(epochs=1, steps_per_epoch=2, replay_pool=500, negatives=50,
                                 mnist_eval=200, monitor=0)
    with pytest.raises(OSError):
        teaching.teach([samples], settings=settings, preprocessed=True, name="second")
    assert store.active() == "first" and store.names() == ["first"]
    assert not [p for p in paths.models_dir().iterdir() if p.name.startswith(".tmp")]
    modelio.load(modelio.default_model_path())


_CHILD = """
import sys
from mydigits import teaching
s = teaching.Settings(epochs=1, steps_per_epoch=8, replay_pool=2000, negatives=200,
                      mnist_eval=500, monitor=0)
teaching.teach([sys.argv[1]], base=sys.argv[2] if len(sys.argv) > 2 else None, settings=s,
               preprocessed=True)
"""


def test_killed_teach_leaves_a_loadable_model(
    home: Path, tmp_path: Path, base_model: Path, writer: dict[str, np.ndarray]
) -> None:
    samples = write_samples(tmp_path / "mine", writer["x"][:30], writer["y"][:30])
    more = write_samples(tmp_path / "more", writer["held_x"][:30], writer["held_y"][:30], "m")
    hashes = folder_hashes(samples), folder_hashes(more)
    env = {**os.environ, "MYDIGITS_HOME": str(home), "OMP_NUM_THREADS": "1"}

    t0 = time.perf_counter()
    first = subprocess.run(
        [sys.executable, "-c", _CHILD, str(samples), str(base_model)], env=env, capture_output=True,
        text=True, timeout=300,
    )
    full = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr
    assert store.active() == "mine-1"

    # at fixed delays, and once at the very moment the new version's files are being written
    for frac in (0.5, 0.9, None):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(more)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        if frac is None:
            deadline = time.perf_counter() + 3 * full
            while proc.poll() is None and time.perf_counter() < deadline:
                if any(p.name.startswith(".tmp-") for p in paths.models_dir().iterdir()):
                    break
                time.sleep(0.002)
        else:
            time.sleep(full * frac)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        active = store.active()
        assert active in ("mine-1", "mine-2")
        modelio.load(modelio.default_model_path())
        for name in store.names():
            modelio.load(store.model_path(name))
        assert (folder_hashes(samples), folder_hashes(more)) == hashes
        if active == "mine-2":  # finished before the kill: start over from mine-1
            store.set_active("mine-1")
            store.remove("mine-2")
    store.clean_stale()
    assert not [p for p in paths.models_dir().iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------- the store


def _fake_version(name: str, base_model: Path, base: str = "default") -> None:
    model, meta = modelio.load(base_model)
    meta = {**meta, "teach": {"base": base, "samples_new": 0}}

    def write(folder: Path) -> None:
        modelio.save(model, folder / "model", meta)

    store.create_version(name, write, activate=False)


def test_models_list_use_remove(home: Path, base_model: Path, capsys) -> None:
    from mydigits import cli

    shipped = folder_hashes(paths.shipped_weights_dir())
    _fake_version("a", base_model)
    _fake_version("b", base_model, base="a")
    assert store.names() == ["a", "b"] and store.active() == "default"

    assert cli.main(["models", "use", "b"]) == 0
    assert modelio.default_model_path() == paths.models_dir() / "b" / "model"
    assert cli.main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "* b" in out and "  a" in out and "default" in out
    assert cli.main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows if r["active"]] == ["b"]

    # removing the active model falls back to its base, then to the shipped default
    assert cli.main(["models", "remove", "b"]) == 0
    assert store.active() == "a" and not (paths.models_dir() / "b").exists()
    assert cli.main(["models", "remove", "a"]) == 0
    assert store.active() == "default"
    assert modelio.default_model_path() == paths.shipped_weights_dir() / "default"

    _fake_version("c", base_model)
    store.set_active("c")
    assert cli.main(["models", "use", "default"]) == 0
    assert store.active() == "default" and store.names() == ["c"]
    assert cli.main(["models", "use", "nope"]) == 1
    assert cli.main(["models", "remove", "default"]) == 1
    assert folder_hashes(paths.shipped_weights_dir()) == shipped


@pytest.mark.parametrize(
    "name",
    ["..", "../evil", "a/b", "a\\b", "/etc/passwd", ".hidden", "", "x" * 65, "a..b", "ACTIVE",
     "default", "é", "a b", "~"],
)
def test_unsafe_names_are_refused(home: Path, name: str) -> None:
    from mydigits import cli

    outside = home / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    with pytest.raises(MydigitsError):
        store.validate_name(name)
    if name != "default":
        assert cli.main(["models", "use", name]) == 1
    assert cli.main(["models", "remove", name]) != 0
    assert (outside / "keep.txt").read_text() == "x"
    with pytest.raises(MydigitsError):
        teaching.teach([home], name=name, save=True)


def test_broken_active_file_falls_back(home: Path) -> None:
    paths.models_dir().mkdir(parents=True)
    (paths.models_dir() / "ACTIVE").write_text("../../etc\n")
    assert store.active() == "default"
    assert modelio.default_model_path() == paths.shipped_weights_dir() / "default"
