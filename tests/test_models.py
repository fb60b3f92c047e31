"""Model files: round trip, and refusal of anything tampered, foreign or executable."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from mydigits import modelio, models, normalizing
from mydigits.errors import MydigitsError


def saved(tmp_path: Path, arch: str = "mlp") -> Path:
    torch.manual_seed(0)
    model = models.build(arch)
    modelio.save(model, tmp_path / "m", {"arch": arch, "note": "test"})
    return tmp_path / "m"


@pytest.mark.parametrize("arch", list(models.ARCHITECTURES))
def test_round_trip_gives_identical_outputs(tmp_path: Path, arch: str) -> None:
    torch.manual_seed(0)
    model = models.build(arch).eval()
    modelio.save(model, tmp_path / arch, {"arch": arch})
    loaded, meta = modelio.load(tmp_path / f"{arch}.safetensors")
    x = torch.rand(3, 1, 28, 28)
    with torch.inference_mode():
        assert torch.allclose(model(x), loaded(x))
    assert meta["arch"] == arch and meta["classes"] == models.n_classes(model)


def test_classifier_gives_eleven_probabilities(tmp_path: Path) -> None:
    clf = modelio.Classifier.load(saved(tmp_path, "mlp"))
    p = clf.predict_proba(np.random.default_rng(0).random((5, 28, 28), dtype=np.float32))
    assert p.shape == (5, 11)
    assert np.allclose(p.sum(1), 1, atol=1e-5) and np.all(p[:, 10] == 0)


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    path = saved(tmp_path)
    weights = path.with_suffix(".safetensors")
    blob = bytearray(weights.read_bytes())
    blob[-10] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(MydigitsError, match="do not match their metadata"):
        modelio.load(path)


def test_wrong_architecture_is_refused(tmp_path: Path) -> None:
    path = saved(tmp_path, "mlp")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["arch"] = "cnn2"  # metadata that lies about what the weights are
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(MydigitsError, match="do not belong to architecture 'cnn2'"):
        modelio.load(path)


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    state = {k: v.clone() for k, v in models.build("mlp").state_dict().items()}
    state["4.weight"] = torch.zeros(64, 128)  # the second hidden layer, made narrower
    save_file(state, tmp_path / "m.safetensors")
    import hashlib

    sha = hashlib.sha256((tmp_path / "m.safetensors").read_bytes()).hexdigest()
    meta = {"arch": "mlp", "weights_sha256": sha, "preprocessing_version": 1}
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(MydigitsError, match="has shape"):
        modelio.load(tmp_path / "m")


def test_pickle_is_never_loaded(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    (tmp_path / "m.safetensors").write_bytes(pickle.dumps(Boom()))
    (tmp_path / "m.json").write_text(json.dumps({"arch": "mlp", "preprocessing_version": 1,
                                                  "weights_sha256": "0" * 64}))
    with pytest.raises(MydigitsError):
        modelio.load(tmp_path / "m")
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    ("meta", "message"),
    [("not json", "not valid JSON"), ("{}", "no architecture"), ('{"arch": "resnet"}', "unknown architecture")],
)
def test_bad_metadata_is_refused(tmp_path: Path, meta: str, message: str) -> None:
    path = saved(tmp_path)
    path.with_suffix(".json").write_text(meta)
    with pytest.raises(MydigitsError, match=message):
        modelio.load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MydigitsError, match="model file not found"):
        modelio.load(tmp_path / "none.safetensors")


def test_shipped_default_model_loads_and_is_small() -> None:
    path = modelio.default_model_path()
    weights, _ = modelio.weights_and_meta(path)
    assert weights.stat().st_size <= 5 * 1024 * 1024
    model, meta = modelio.load(path)
    assert meta["mnist_test_accuracy"] >= 0.99
    assert models.n_classes(model) == 12  # ten digits, "not a digit", "digits touching"
    assert modelio.Classifier.load().knows_touching


def test_reading_model_is_simplified_and_gives_the_same_answers(mnist, monkeypatch) -> None:
    model, meta = modelio.load(modelio.default_model_path())
    model.eval()
    monkeypatch.setenv("MYDIGITS_PRECISION", "float32")
    loaded = modelio.Classifier.load()
    clf = modelio.Classifier(loaded.model, loaded.meta, loaded.temperature)  # without its gate
    assert clf.dtype == torch.float32
    assert not any(isinstance(m, torch.nn.BatchNorm2d | torch.nn.Dropout) for m in clf.model.modules())
    # the last convolution covers its whole 4x4 input: computed as a matrix product
    assert any(isinstance(m, modelio._WholeConv) for m in clf.model.modules())
    digits = mnist.load("test").images[:500].astype(np.float32) / 255.0
    labels = mnist.load("test").labels[:500]
    with torch.inference_mode():
        logits = model(torch.from_numpy(digits).unsqueeze(1)) / clf.temperature
    raw = torch.softmax(logits, 1).numpy()
    # the reader's view: ten digits, then "not one digit" (not a digit + digits touching)
    want = np.concatenate([raw[:, :10], raw[:, 10:].sum(1, keepdims=True)], 1)
    got = clf.predict_proba(digits, wavering=0.0)
    assert np.abs(got - want).max() < 1e-4
    assert (got[:, :10].argmax(1) == labels).mean() > 0.98
    # bfloat16 (the default where the CPU has it; emulated, slowly, elsewhere): within a few
    # hundredths of float32, the same answers but for a rare close call
    half = modelio.Classifier(clf.model, clf.meta, clf.temperature, torch.bfloat16)
    got16 = half.predict_proba(digits, wavering=0.0)
    assert np.abs(got16 - want).max() < 0.1
    assert (got16.argmax(1) != want.argmax(1)).sum() <= 2
    assert next(half.model.parameters()).dtype == torch.float32  # the model itself stays float32


def test_the_gate_answers_most_digits_and_as_the_model_would(mnist) -> None:
    """The shipped model's gate: the crops it is sure of (most MNIST digits) keep its answer, the
    rest are the model's own; the answers are the model's but for a rare close call."""
    test = mnist.load("test")
    crops = test.images[:1000].astype(np.float32) / 255.0
    clf = modelio.Classifier.load()
    assert clf.gate is not None
    alone = modelio.Classifier(clf.model, clf.meta, clf.temperature, clf.dtype)
    gated, model = clf.predict_proba(crops, wavering=0.0), alone.predict_proba(crops, wavering=0.0)
    share = clf.gate_share(crops)
    assert 0.7 < share < 1.0
    differ = np.abs(gated - model).max(1) > 1e-6
    assert 0.7 * share < differ.mean() <= share  # the gate's crops, and only those, moved
    assert (gated.argmax(1) != model.argmax(1)).sum() <= 1
    assert (gated[:, :10].argmax(1) == test.labels[:1000]).mean() > 0.99


def test_a_gate_taught_by_another_model_is_not_used(tmp_path: Path) -> None:
    shipped = modelio.default_model_path()
    model, meta = modelio.load(shipped)
    gate, gate_meta = modelio.load(modelio.gate_path(shipped))
    modelio.save(gate, tmp_path / "mine-gate", gate_meta)
    modelio.save(model, tmp_path / "mine", meta)
    assert modelio.Classifier.load(tmp_path / "mine").gate is not None
    with torch.no_grad():  # the model taught further: its gate no longer speaks for it
        model[-1].bias += 0.01
    modelio.save(model, tmp_path / "mine", meta)
    assert modelio.Classifier.load(tmp_path / "mine").gate is None
    (tmp_path / "mine-gate.safetensors").write_bytes(b"not a model")
    with pytest.raises(MydigitsError, match="mine-gate.safetensors: weights do not match"):
        modelio.Classifier.load(tmp_path / "mine")


def test_which_digit_a_wavering_crop_is_comes_from_its_variants(mnist) -> None:
    """MNIST test digits 3780 (a 4), 6560 (a 9) and 9623 (a 2): the model alone reads a 6 at 0.5, a
    5 at 0.85 and a 7 at 0.6; weighed over their variants they read right. (Of all 10,000, three
    come right so and two go wrong: MNIST's digits are not where it pays, see WAVERING.) A sure
    digit, and every crop's "not a digit", stay the model's own answer."""
    test = mnist.load("test")
    picked = [3780, 6560, 9623]
    crops = test.images[picked + list(range(300))].astype(np.float32) / 255.0
    clf = modelio.Classifier.load()
    alone = clf.predict_proba(crops, wavering=0.0)
    weighed = clf.predict_proba(crops)
    assert list(alone[:3, :10].argmax(1)) == [6, 5, 7]
    assert list(weighed[:3, :10].argmax(1)) == list(test.labels[picked])
    best = alone[:, :10].max(1)
    unsure = (best < modelio.WAVERING) & (alone[:, 10] < best)
    assert unsure[:3].all() and 3 < unsure.sum() < 30
    assert np.array_equal(weighed[~unsure], alone[~unsure])
    assert np.allclose(weighed[:, 10], alone[:, 10]) and np.allclose(weighed.sum(1), 1, atol=1e-5)
    # the weighing is the mean of the variants' digits, scaled to the share that is a digit
    i = int(np.nonzero(unsure)[0][0])
    each = clf.predict_proba(normalizing.variants(crops[i]), wavering=0.0)[:, :10].mean(0)
    assert np.allclose(weighed[i, :10], each / each.sum() * (1 - alone[i, 10]), atol=1e-5)


def test_variants_of_a_crop_are_small_changes_of_it(mnist) -> None:
    crop = mnist.load("test").images[0].astype(np.float32) / 255.0
    many = normalizing.variants(crop)
    assert many.shape == (13, 28, 28) and many.dtype == np.float32
    assert np.array_equal(many[0], crop)
    assert len({v.tobytes() for v in many}) == 13
    ink = crop.sum()
    # turned, scaled by a tenth and moved, the ink stays within the crop; thickened or thinned
    # strokes hold more or less of it
    assert all(0.75 * ink < v.sum() < 1.25 * ink for v in many[:11])
    assert many[11].sum() > 1.25 * ink > 0.75 * ink > many[12].sum()


def test_precision_is_chosen_by_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("MYDIGITS_PRECISION", "bf16")
    assert modelio.inference_dtype() == torch.bfloat16
    monkeypatch.setenv("MYDIGITS_PRECISION", "fp32")
    assert modelio.inference_dtype() == torch.float32
    monkeypatch.setenv("MYDIGITS_PRECISION", "auto")
    assert modelio.inference_dtype() == (torch.bfloat16 if modelio.native_bfloat16() else torch.float32)
    monkeypatch.setenv("MYDIGITS_PRECISION", "half")
    with pytest.raises(MydigitsError, match="MYDIGITS_PRECISION='half'"):
        modelio.inference_dtype()
