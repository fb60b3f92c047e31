"""Training for real, on a few hundred MNIST digits: it must clearly beat chance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from mydigits import models, training
from mydigits.augment import Augment, augment_batch
from mydigits.mnist import MNIST

# ``net``'s recipe without what needs a download besides MNIST (handwriting fonts, doodles)
NET = replace(training.RECIPES["net"], font_digits=0, doodles=0, fonts=False)


def test_tiny_training_run_beats_chance(mnist: MNIST) -> None:
    result = training.train("cnn2", epochs=2, data=mnist, limit=600, progress=False, threads=2)
    assert result.history[-1]["test_accuracy"] > 0.6  # chance is 0.1
    assert result.meta["arch"] == "cnn2" and result.meta["train_samples"] == 600


def test_training_is_deterministic(mnist: MNIST) -> None:
    a = training.train("mlp", epochs=1, data=mnist, limit=400, progress=False, seed=3)
    b = training.train("mlp", epochs=1, data=mnist, limit=400, progress=False, seed=3)
    for (ka, va), (_, vb) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka


def test_net_learns_digits_beside_not_a_digit_and_touching(mnist: MNIST) -> None:
    result = training.train("net", epochs=2, data=mnist, limit=800, progress=False, recipe=NET)
    # a hundred each (800 // 8) of generated marks, touching digits and letters; continental 1s
    assert result.meta["negatives"] == 300 and result.meta["train_samples"] == 900
    assert result.history[-1]["test_accuracy"] > 0.3
    assert models.n_classes(result.model) == 12


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
        training.train("net", epochs=1, data=mnist, limit=300, progress=False, distill=1.0, recipe=NET)
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
                           init=shipped, lr=3e-3, letters=800, distill=w, recipe=NET)
        runs[w] = r
        assert r.meta["recipe"]["distill"] == w and r.meta["negatives"] == 300
    agree = {w: float((training.predict(r.model, x)[:, :10].argmax(1) == before).float().mean())
             for w, r in runs.items()}
    assert agree[2.0] >= agree[0.0] and agree[2.0] > 0.97
    assert float((training.predict(runs[2.0].model, letters).argmax(1) == 10).float().mean()) > 0.9


def test_a_model_learns_from_teachers_and_refuses_one_with_other_outputs(mnist: MNIST, tmp_path) -> None:
    import pytest

    from mydigits import modelio, paths
    from mydigits.errors import MydigitsError

    small = training.train("mlp", epochs=1, data=mnist, limit=300, progress=False)
    modelio.save(small.model, tmp_path / "mlp", small.meta)
    with pytest.raises(MydigitsError, match="a teacher needs the same outputs as 'net' \\(10, not 12\\)"):
        training.train("net", epochs=1, data=mnist, limit=300, progress=False, recipe=NET, teachers=[tmp_path / "mlp"])
    # 800 digits, two epochs: alone a model is far from the shipped one; taught by it, closer (its
    # answers, and the probabilities it gives them, which are what distillation passes on)
    shipped = paths.shipped_weights_dir() / modelio.DEFAULT_NAME
    x = mnist.load("test").images[:1000]
    want = training.predict(modelio.load(shipped)[0], x).softmax(1)
    teacher = want.argmax(1)
    agree, gap = {}, {}
    for teachers in ([], [shipped]):
        r = training.train("net", epochs=2, data=mnist, limit=800, progress=False, threads=2, recipe=NET,
                           teachers=teachers, distill=4.0 if teachers else None)
        got = training.predict(r.model, x).softmax(1)
        agree[len(teachers)] = float((got.argmax(1) == teacher).float().mean())
        gap[len(teachers)] = float((got - want).abs().sum(1).mean())
    assert r.meta["teachers"][0]["weights_sha256"] == modelio.load(shipped)[1]["weights_sha256"]
    assert agree[1] > agree[0] and gap[1] < gap[0], (agree, gap)
