"""Training for real, on a few hundred MNIST digits: it must clearly beat chance."""

from __future__ import annotations

import numpy as np
import torch

from mydigits import training
from mydigits.augment import Augment, augment_batch
from mydigits.mnist import MNIST


def test_tiny_training_run_beats_chance(mnist: MNIST) -> None:
    result = training.train("cnn2", epochs=2, data=mnist, limit=600, progress=False, threads=2)
    assert result.history[-1]["test_accuracy"] > 0.6  # chance is 0.1
    assert result.meta["arch"] == "cnn2" and result.meta["train_samples"] == 600


def test_training_is_deterministic(mnist: MNIST) -> None:
    a = training.train("mlp", epochs=1, data=mnist, limit=400, progress=False, seed=3)
    b = training.train("mlp", epochs=1, data=mnist, limit=400, progress=False, seed=3)
    for (ka, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka


def test_eleven_class_model_learns_not_a_digit(mnist: MNIST) -> None:
    result = training.train("net", epochs=2, data=mnist, limit=800, progress=False)
    assert result.meta["negatives"] == 100
    assert result.history[-1]["test_accuracy"] > 0.3


def test_augmentation_keeps_ink_and_shape() -> None:
    x = torch.zeros(16, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    y = augment_batch(x, Augment(), torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    ink = y.sum((1, 2, 3)).numpy()
    assert np.all(ink > 0.4 * 48) and np.all(ink < 2.5 * 48)
    assert torch.equal(augment_batch(x, Augment.none()), x)


def test_temperature_fit_softens_overconfidence() -> None:
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 10, (500,), generator=gen)
    logits = torch.randn(500, 10, generator=gen) * 8  # confident and mostly wrong
    logits[torch.arange(500), labels] += 4
    assert training.fit_temperature(logits, labels) > 1.5


def test_training_continues_from_a_saved_model(mnist: MNIST, tmp_path) -> None:
    from mydigits import modelio

    first = training.train("cnn2", epochs=1, data=mnist, limit=600, progress=False, threads=2)
    path = tmp_path / "first"
    modelio.save(first.model, path, first.meta)
    # one more epoch from the saved weights: it starts where the first run ended, not from chance
    more = training.train("cnn2", epochs=1, data=mnist, limit=600, progress=False, threads=2, init=path,
                          lr=2e-4)
    assert more.history[-1]["test_accuracy"] >= first.history[-1]["test_accuracy"] - 0.05
    assert more.meta["init"]["weights_sha256"] == modelio.load(path)[1]["weights_sha256"]
    assert more.meta["recipe"]["lr"] == 2e-4 and first.meta["init"] is None


def test_training_refuses_a_model_of_another_architecture(mnist: MNIST, tmp_path) -> None:
    import pytest

    from mydigits import modelio
    from mydigits.errors import MydigitsError

    small = training.train("mlp", epochs=1, data=mnist, limit=300, progress=False)
    modelio.save(small.model, tmp_path / "mlp", small.meta)
    with pytest.raises(MydigitsError, match="'mlp' model cannot start a 'cnn2' run"):
        training.train("cnn2", epochs=1, data=mnist, limit=300, progress=False, init=tmp_path / "mlp")


def test_distillation_keeps_the_parents_answers_while_letters_are_learned(mnist: MNIST) -> None:
    import pytest

    from mydigits import modelio, paths
    from mydigits.errors import MydigitsError
    from mydigits.negatives import make_letters

    shipped = paths.shipped_weights_dir() / modelio.DEFAULT_NAME
    with pytest.raises(MydigitsError, match="needs a model to start from"):
        training.train("net", epochs=1, data=mnist, limit=300, progress=False, distill=1.0)
    parent = modelio.load(shipped)[0]
    test = mnist.load("test")
    x = test.images[:1000]
    before = training.predict(parent, x)[:, :10].argmax(1)
    letters = training.to_tensor(make_letters(300, seed=5))
    # a continued run at a high learning rate on 800 digits and 100 letters: distillation holds
    # the digits where the parent had them, and the letters are "not a digit"
    runs = {}
    for w in (0.0, 2.0):
        r = training.train("net", epochs=2, data=mnist, limit=800, progress=False, threads=2,
                           init=shipped, lr=3e-3, letters=800, distill=w)
        runs[w] = r
        assert r.meta["recipe"]["distill"] == w and r.meta["negatives"] == 200
    agree = {w: float((training.predict(r.model, x)[:, :10].argmax(1) == before).float().mean())
             for w, r in runs.items()}
    assert agree[2.0] > agree[0.0] and agree[2.0] > 0.97
    assert float((training.predict(runs[2.0].model, letters).argmax(1) == 10).float().mean()) > 0.9
