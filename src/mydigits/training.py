"""Training and evaluating classifiers on MNIST.

One recipe per architecture, so that ``mydigits train --arch NAME`` reproduces each published
figure with no extra flags. Everything is in memory (MNIST is 47 MB) and every random draw comes
from one seeded generator, so the same command gives the same model.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from mydigits import doodles, fonts, hands, modelio, models
from mydigits.augment import Augment, augment_batch
from mydigits.errors import MydigitsError
from mydigits.mnist import MNIST, RESOURCES, Split
from mydigits.negatives import make_letters, make_negatives, make_touching

DISTILL_TEMPERATURE = 2.0


@dataclass(frozen=True)
class Recipe:
    epochs: int
    batch_size: int
    lr: float
    optimizer: str = "adam"  # "adam" | "sgd"
    schedule: str = "onecycle"  # "onecycle" | "constant"
    augment: Augment = field(default_factory=Augment.none)
    negatives: int = 0  # generated "not a digit" examples (needs an 11- or 12-class model)
    touching: int = 0  # two or three MNIST digits run together ("digits touching" in a 12-class model)
    letters: int = 0  # generated letters and word fragments, also "not a digit"
    doodles: int = 0  # Quick, Draw! drawings (at most 100 per thing), also "not a digit"
    font_digits: int = 0  # digits in handwriting fonts
    continental_ones: int = 0  # MNIST 1s with an up-stroke
    fonts: bool = False  # letters in handwriting fonts too (needs the fonts; see mydigits.fonts)
    distill: float = 0.0  # weight of keeping the ``init`` model's outputs on the digits
    label_smoothing: float = 0.0
    weight_decay: float = 0.0
    calibration: int = 0  # training samples held out to fit the softmax temperature
    precision: str = "float32"  # "bfloat16": mixed precision where the CPU computes it natively
    ema: float = 0.0  # per-step decay of a moving average of the weights, which is the result (0: off)


# the default model: MNIST and other hands' digits, "not a digit" and "digits touching"
NET_RECIPE = Recipe(
    epochs=40,
    batch_size=128,
    lr=3e-3,
    augment=Augment(ink_p=0.5),
    negatives=12_000,
    touching=6_000,
    letters=8_000,
    doodles=15_000,
    font_digits=12_000,
    continental_ones=6_000,
    fonts=True,
    label_smoothing=0.05,
    weight_decay=5e-4,
    calibration=2_000,
    precision="bfloat16",
    ema=0.9995,
)


RECIPES: dict[str, Recipe] = {
    # the TensorFlow beginners' tutorial: plain SGD at 0.5 on batches of 100, one pass
    "softmax": Recipe(epochs=1, batch_size=100, lr=0.05, optimizer="sgd", schedule="constant"),
    "mlp": Recipe(epochs=10, batch_size=128, lr=2e-3),
    "cnn2": Recipe(epochs=3, batch_size=64, lr=2e-3),
    "fast": Recipe(epochs=1, batch_size=64, lr=8e-3),
    "net": NET_RECIPE,
    # the default model's early answer (models.gate): the same examples, taught by the default
    # model (--teacher), for 16 epochs (9 minutes; 8 epochs left it less often as sure as its teacher)
    "gate": replace(NET_RECIPE, epochs=16),
    # the default model until 2026-12-04: MNIST and generated negatives (one kind in seven was two
    # digits overlapping; now they are drawn touching), 11 classes, float32
    "net-v1": Recipe(
        epochs=20,
        batch_size=128,
        lr=3e-3,
        augment=Augment(),
        negatives=13_714,
        touching=2_286,
        label_smoothing=0.05,
        weight_decay=5e-4,
        calibration=2_000,
    ),
}


@dataclass
class Result:
    model: nn.Module
    meta: dict[str, Any]
    history: list[dict[str, float]]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) or float in [0, 1] -> float (N, 1, 28, 28)."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return x.unsqueeze(1)


def soft_targets(teachers: list[nn.Module], x: torch.Tensor, t: float) -> torch.Tensor:
    """The teachers' outputs on ``x``, softened by temperature ``t`` and averaged. Softened outputs
    carry what a teacher thinks a digit resembles, not only its answer."""
    with torch.no_grad():
        return torch.stack([F.softmax(m(x).float() / t, 1) for m in teachers]).mean(0)


def distillation_loss(logits: torch.Tensor, target: torch.Tensor, t: float) -> torch.Tensor:
    """How far ``logits``, softened by temperature ``t``, are from the soft ``target``
    (:func:`soft_targets`): the KL divergence, times t * t so that its gradients keep their size
    whatever ``t`` is."""
    return F.kl_div(F.log_softmax(logits / t, 1), target, reduction="batchmean") * t * t


def predict(model: nn.Module, images: np.ndarray | torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for a whole array, in eval mode, in batches."""
    x = images if isinstance(images, torch.Tensor) else to_tensor(images)
    was_training = model.training
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            outs.append(model(x[i : i + batch_size].contiguous(memory_format=torch.channels_last)))
    model.train(was_training)
    return torch.cat(outs) if outs else torch.zeros(0, models.n_classes(model))


def digit_accuracy(model: nn.Module, split: Split) -> float:
    """MNIST accuracy: the best of the ten digit outputs (the reject class does not vote)."""
    logits = predict(model, split.images)[:, :10]
    return float((logits.argmax(1).numpy() == split.labels).mean())


def confusion(true: np.ndarray, pred: np.ndarray, n: int = 10) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (true, pred), 1)
    return m


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The softmax temperature that minimizes the negative log-likelihood (Guo et al. 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.5, 5.0))


def extra_examples(recipe: Recipe, n_classes: int, digits: np.ndarray, labels: np.ndarray,
                   root: str | os.PathLike[str] | None, seed: int, limit: int | None = None,
                   progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """What the recipe adds to MNIST's training digits ``digits`` (uint8) with their ``labels``:
    other hands' digits, and examples of "not a digit" and "digits touching" for models with those
    outputs; float32 (n, 28, 28) and int64 labels. ``root`` is the training-data cache (the fonts
    and doodles are fetched into it); ``limit`` makes each kind small (quick tests)."""

    def count(n: int) -> int:
        return n if not limit else min(n, limit // 8)

    parts: list[tuple[np.ndarray, np.ndarray]] = []

    def add(images: np.ndarray, label: int | np.ndarray) -> None:
        parts.append((images, np.broadcast_to(np.asarray(label, np.int64), (len(images),)).copy()))

    hand_fonts = None
    if recipe.font_digits or (recipe.fonts and recipe.letters and n_classes >= 11):
        hand_fonts = fonts.HandwritingFonts(root, progress=progress)
    if recipe.font_digits:
        add(*hands.font_digits(count(recipe.font_digits), hand_fonts.load(for_digits=True), seed))
    if recipe.continental_ones:
        add(hands.continental_ones(digits[labels == 1], count(recipe.continental_ones), seed), 1)
    if n_classes >= 11:
        if recipe.negatives:
            add(make_negatives(count(recipe.negatives), seed=seed), models.NOT_A_DIGIT)
        if recipe.touching:
            label = models.TOUCHING if n_classes == 12 else models.NOT_A_DIGIT
            add(make_touching(count(recipe.touching), digits, seed=seed), label)
        if recipe.letters:
            add(make_letters(count(recipe.letters), seed=seed, fonts=hand_fonts.load() if hand_fonts else None),
                models.NOT_A_DIGIT)
        if recipe.doodles:
            quickdraw = doodles.QuickDraw(root, progress=progress)
            drawings = np.concatenate(list(quickdraw.load(doodles.training_things(quickdraw.things())).values()))
            pick = np.random.default_rng(seed).permutation(len(drawings))[: count(recipe.doodles)]
            add(doodles.doodle_crops(drawings[np.sort(pick)], seed), models.NOT_A_DIGIT)
    if not parts:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.int64)
    return (np.concatenate([p[0].astype(np.float32) for p in parts]), np.concatenate([p[1] for p in parts]))


def train(
    arch: str = "net",
    epochs: int | None = None,
    data: MNIST | str | os.PathLike[str] | None = None,
    threads: int | None = None,
    seed: int = 0,
    limit: int | None = None,
    progress: bool = True,
    recipe: Recipe | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    init: str | os.PathLike[str] | None = None,
    lr: float | None = None,
    letters: int | None = None,
    distill: float | None = None,
    teachers: list[str | os.PathLike[str]] | None = None,
) -> Result:
    """Train ``arch`` on MNIST with its recipe.

    Args:
        data: MNIST, or its cache folder (None: the default one), loaded after ``init`` is checked.
        limit: use only the first ``limit`` training samples (quick tests).
        on_epoch: called with each epoch's figures (for progress reports).
        init: a saved model of the same architecture to start from instead of random weights:
            a trained model learns what a changed recipe adds (new "not a digit" kinds) in a few
            epochs, and keeps what it read right, where a run from scratch is a new draw.
        lr: the peak learning rate instead of the recipe's (lower when continuing from ``init``).
        letters, distill: the recipe's ``letters`` and ``distill`` instead (see ``Recipe``).
        teachers: saved models with the same outputs whose averaged answers the new model also
            learns from, on every example, with weight ``distill`` (1 if not given): a model taught
            by an ensemble of its kind gets much of the ensemble's accuracy at one model's cost.
    """
    if threads:
        torch.set_num_threads(threads)
    recipe = recipe or RECIPES.get(arch, RECIPES["cnn2"])
    if epochs is not None:
        recipe = replace(recipe, epochs=epochs)
    if lr is not None:
        recipe = replace(recipe, lr=lr)
    if letters is not None:
        recipe = replace(recipe, letters=letters)
    if distill is not None:
        recipe = replace(recipe, distill=distill)
    elif teachers:
        recipe = replace(recipe, distill=1.0)
    # a bad --init or --teacher fails before MNIST is loaded (or downloaded)
    if recipe.letters < 0 or recipe.distill < 0:
        raise MydigitsError(f"--letters and --distill must not be negative (got {recipe.letters}, {recipe.distill})")
    if recipe.distill > 0 and init is None and not teachers:
        raise MydigitsError("distillation needs a model to start from (--init) or teachers (--teacher)")
    teacher_models, teacher_meta = [], []
    outputs = models.n_classes(models.build(arch)) if teachers else 0
    for path in teachers or []:
        m, meta = modelio.load(path)
        if models.n_classes(m) != outputs:
            raise MydigitsError(f"{path}: a teacher needs the same outputs as {arch!r} "
                                f"({models.n_classes(m)}, not {outputs})")
        teacher_models.append(modelio.for_inference(m).to(memory_format=torch.channels_last))
        teacher_meta.append({k: meta.get(k) for k in ("command", "date", "weights_sha256", "mnist_test_accuracy")})
    parent = None
    if init is not None:
        model, parent = modelio.load(init)
        if parent["arch"] != arch:
            raise MydigitsError(f"{init}: a {parent['arch']!r} model cannot start a {arch!r} run")
        model.train()
    if not isinstance(data, MNIST):
        data = MNIST(data, progress=progress)
    train_split, test_split = data.load("train"), data.load("test")
    if limit:
        train_split = Split(train_split.images[:limit], train_split.labels[:limit])
        test_split = Split(test_split.images[: max(limit // 2, 200)], test_split.labels[: max(limit // 2, 200)])

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    if init is None:
        model = models.build(arch)  # after the seed: the same command gives the same weights
    model = model.to(memory_format=torch.channels_last)
    n_classes = models.n_classes(model)

    x = to_tensor(train_split.images)
    y = torch.from_numpy(train_split.labels)
    calib_x = calib_y = None
    if recipe.calibration and len(x) > 4 * recipe.calibration:
        calib_x, calib_y = x[-recipe.calibration :], y[-recipe.calibration :]
        x, y = x[: -recipe.calibration], y[: -recipe.calibration]
    extra_x, extra_y = extra_examples(recipe, n_classes, train_split.images[: len(x)], train_split.labels[: len(x)],
                                      data.root, seed, limit, progress)
    n_neg = int((extra_y >= models.NOT_A_DIGIT).sum())
    if len(extra_y):
        x = torch.cat([x, to_tensor(extra_x)])
        y = torch.cat([y, torch.from_numpy(extra_y)])
    # A continued run learns new "not a digit" kinds; on the digits, a distillation term keeps the
    # parent's outputs, to hold real digits that resemble the new negatives (a 6 and a c, a 0 and an
    # e) where the parent had them instead of letting them drift into the reject class.
    parent_model = None
    if recipe.distill > 0 and not teacher_models:
        parent_model = copy.deepcopy(model).to(memory_format=torch.channels_last).eval()
        for p in parent_model.parameters():
            p.requires_grad_(False)

    opt: torch.optim.Optimizer
    if recipe.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    sched = None
    if recipe.schedule == "onecycle":
        warmup = 0.2 if recipe.epochs > 1 else 0.25
        # OneCycleLR divides by the warm-up's length in steps: tiny runs need at least two of them
        warmup = min(0.5, max(warmup, 2.5 / total_steps))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=total_steps, pct_start=warmup)

    # bfloat16 where the CPU has it (AMX, AVX-512 BF16: twice as fast), float32 elsewhere
    mixed = recipe.precision == "bfloat16" and modelio.native_bfloat16()
    # the moving average of the weights (batch norm's statistics too) is steadier than the weights
    # of any one step: the last epochs' test accuracy wanders by +-0.03 points around it
    # (averaging over at most a twentieth of the run, so that a short run ends on trained weights)
    ema = None
    if recipe.ema:
        decay = max(0.0, min(recipe.ema, 1 - 20 / total_steps))
        ema = torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(decay), use_buffers=True)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc=f"train {arch}", disable=not progress, unit="step")
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        seen = correct = 0
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            xb, yb = x[idx], y[idx]
            if recipe.augment != Augment.none():
                xb = augment_batch(xb, recipe.augment, gen)
            xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
                logits = model(xb).float()
                target = soft_targets(teacher_models, xb, DISTILL_TEMPERATURE) if teacher_models else None
            loss = F.cross_entropy(logits, yb, label_smoothing=recipe.label_smoothing)
            if target is not None:
                loss = loss + recipe.distill * distillation_loss(logits, target, DISTILL_TEMPERATURE)
            if parent_model is not None:
                digits = yb < models.NOT_A_DIGIT
                if bool(digits.any()):
                    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mixed):
                        target = soft_targets([parent_model], xb[digits], DISTILL_TEMPERATURE)
                    kd = distillation_loss(logits[digits], target, DISTILL_TEMPERATURE)
                    loss = loss + recipe.distill * kd * float(digits.float().mean())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if ema is not None:
                ema.update_parameters(model)
            seen += len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            loss_sum += float(loss.detach()) * len(yb)
            bar.update(1)
            if i % 20 == 0:
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
        test_acc = digit_accuracy(model if ema is None else ema.module, test_split)
        row = {
            "epoch": epoch + 1,
            "loss": loss_sum / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
            "test_accuracy": test_acc,
            "seconds": time.perf_counter() - start,
        }
        history.append(row)
        bar.set_postfix(epoch=epoch + 1, loss=f"{row['loss']:.4f}", test=f"{test_acc:.4f}")
        if on_epoch:
            on_epoch(row)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{recipe.epochs}: loss {row['loss']:.4f}  "
                f"test accuracy {test_acc:.4%}  ({row['seconds']:.0f} s)"
            )
    bar.close()
    if ema is not None:
        model = ema.module
    model.eval()

    temperature = 1.0
    if calib_x is not None:
        temperature = fit_temperature(predict(model, calib_x), calib_y)

    meta = {
        "arch": arch,
        "mnist_test_accuracy": history[-1]["test_accuracy"] if history else None,
        "mnist_test_samples": len(test_split),
        "temperature": temperature,
        "command": " ".join(["mydigits", *sys.argv[1:]]) if sys.argv[0].endswith("mydigits") else " ".join(sys.argv),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "train_samples": len(x) - n_neg,
        "negatives": n_neg,
        # the share of "not one digit" among the examples: the prior the model's outputs carry
        "not_a_digit_share": round(n_neg / len(x), 4) if n_neg else None,
        "precision": "bfloat16" if mixed else "float32",
        "train_seconds": round(time.perf_counter() - start, 1),
        "recipe": {k: (asdict(v) if isinstance(v, Augment) else v) for k, v in asdict(recipe).items()},
        "data_sha256": dict(RESOURCES),
        "init": None if parent is None else {k: parent.get(k) for k in (
            "command", "date", "weights_sha256", "mnist_test_accuracy", "negatives", "train_seconds")},
        "teachers": teacher_meta,
        "torch": torch.__version__,
    }
    return Result(model, meta, history)
