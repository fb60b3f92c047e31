"""Teaching: fine-tune a model on its user's own handwriting without forgetting MNIST.

A user gives a few dozen labelled samples. Trained on alone, a network would learn them and forget
everything else in a few steps ("catastrophic forgetting"), so every batch mixes

* the user's samples (a third of each batch), oversampled and strongly augmented so that a
  handful of images stand for the many ways the user writes each digit, with samples taught earlier
  (kept in the store with their model) replayed beside the new ones;
* replayed MNIST training digits (the rest), plus generated "not a digit" and "digits touching"
  examples when the model has those outputs so that they stay alive, with a distillation term that
  keeps the model's outputs on them close to the base model's.

The learning rate is low and batch-norm statistics are frozen (a third of a batch made of one writer's
digits would otherwise drag them away from MNIST's). Teaching again starts from the active model and
adds the new material: only the new samples set the number of steps, earlier ones are replayed.

Before/after figures are measured on a held-out part of the user's samples (when there are enough)
and on the MNIST test set.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mydigits import labelling, loading, modelio, models, store
from mydigits.augment import Augment, augment_batch
from mydigits.errors import MydigitsError
from mydigits.training import distillation_loss, soft_targets


@dataclass(frozen=True)
class Settings:
    """How teaching trains. The defaults fit 50 samples in well under a minute on two CPU cores."""

    epochs: int = 6
    steps_per_epoch: int = 25
    batch_size: int = 128
    user_share: float = 0.35  # of each batch: the user's samples; the rest is replay
    negative_share: float = 0.125  # of the replay part, for models with a "not a digit" class
    lr: float = 5e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    distill: float = 2.0  # weight of keeping the base model's outputs on replayed data
    distill_temperature: float = 2.0
    freeze_bn: bool = True
    replay_pool: int = 20_000  # MNIST training digits to replay from
    negatives: int = 2_000  # generated "not a digit" examples to replay from
    mnist_eval: int = 10_000  # MNIST test digits for the before/after figure (the full set)
    monitor: int = 1_000  # MNIST test digits checked after each epoch, for the curve
    validation_min: int = 20  # hold out a validation part when at least this many new samples
    validation_share: float = 0.25
    seed: int = 0
    threads: int | None = None

    @staticmethod
    def quick() -> Settings:
        """Small and fast, for tests."""
        return Settings(
            epochs=3,
            steps_per_epoch=15,
            replay_pool=4000,
            negatives=300,
            mnist_eval=2000,
            monitor=300,
        )


# ---------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    crop: np.ndarray  # float32 (28, 28) in [0, 1], white on black
    label: int
    source: str
    sha256: str
    part: int = 0  # which digit of a multi-digit image


@dataclass(frozen=True)
class Rejected:
    source: str
    reason: str


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


Inputs = Sequence["str | Path | labelling.Labelled"]


def find_inputs(inputs: Inputs) -> tuple[list[labelling.Labelled], list[Rejected]]:
    """Labelled images in the given folders, single files labelled by their name, or already
    labelled images (``labelling.Labelled``)."""
    found: list[labelling.Labelled] = []
    rejected: list[Rejected] = []
    for item in inputs:
        if isinstance(item, labelling.Labelled):
            found.append(item)
            continue
        p = Path(item)
        if p.is_dir():
            try:
                ok, skipped = labelling.find_labelled(p)
            except MydigitsError as exc:
                rejected.append(Rejected(str(p), str(exc)))
                continue
            found += ok
            rejected += [Rejected(str(s.path), s.reason) for s in skipped]
        elif p.is_file():
            label = labelling.label_from_name(p)
            if p.suffix.lower() not in labelling.IMAGE_SUFFIXES:
                rejected.append(Rejected(str(p), "not an image file"))
            elif label is None:
                rejected.append(Rejected(str(p), "no digit label in the file name"))
            else:
                found.append(labelling.Labelled(p, label))
        else:
            rejected.append(Rejected(str(p), "no such file or folder"))
    return found, rejected


def load_crop(path: Path) -> np.ndarray:
    """A ``--preprocessed`` sample: a 28x28 MNIST-style crop (white on black), as it is."""
    data = path.read_bytes()
    size = _header_size(data)
    if size is not None and size != (28, 28):  # refused before OpenCV decodes a bomb
        raise MydigitsError(
            f"not a 28x28 crop ({size[0]}x{size[1]}); leave out --preprocessed for photos"
        )
    try:
        img = loading.load_gray(data)
    except MydigitsError:
        raise MydigitsError("not a readable image") from None
    if img.shape != (28, 28):
        raise MydigitsError(
            f"not a 28x28 crop ({img.shape[1]}x{img.shape[0]}); leave out --preprocessed for photos"
        )
    crop = img.astype(np.float32) / 255.0
    if crop.max() <= 0.05:
        raise MydigitsError("blank crop (no ink)")
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
    if border.mean() > 0.5:
        raise MydigitsError("looks dark on light; --preprocessed crops are white digits on black")
    return crop


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the picture's header without decoding it; None if Pillow cannot tell."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:
        raise MydigitsError("not a 28x28 crop (a picture of hundreds of megapixels)") from None
    except Exception:  # not a header Pillow knows: load_gray below gives the error
        return None


def collect(
    inputs: Inputs,
    reader_model: str | Path | None = None,
    preprocessed: bool = False,
) -> tuple[list[Sample], list[Rejected]]:
    """Turn labelled images into 28x28 training samples; bad ones are listed, never fatal.

    Raw images go through the ``Reader`` (with ``reader_model``); the digits it finds are matched in
    reading order to the label's digits, and an image whose count differs is skipped.
    """
    found, rejected = find_inputs(inputs)
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    reader = None
    for item in found:
        src = str(item.path)
        try:
            digest = _sha256(item.path)
        except OSError as exc:
            rejected.append(Rejected(src, f"unreadable ({exc.strerror or exc})"))
            continue
        if digest in seen:
            rejected.append(Rejected(src, f"same file as {seen[digest]}"))
            continue
        label = "".join(item.label.split())
        if not label.isdigit() or not label.isascii():
            rejected.append(Rejected(src, f"label {item.label!r} is not a digit"))
            continue
        if preprocessed:
            if len(label) != 1:
                rejected.append(
                    Rejected(src, f"label {label!r} is not one digit (a crop holds one)")
                )
                continue
            try:
                crop = load_crop(item.path)
            except MydigitsError as exc:
                rejected.append(Rejected(src, str(exc)))
                continue
            seen[digest] = src
            samples.append(Sample(crop, int(label), src, digest))
            continue
        if reader is None:
            from mydigits.reading import Reader

            reader = Reader(reader_model)
        try:
            result = reader.read(item.path)
        except MydigitsError as exc:
            rejected.append(Rejected(src, f"unreadable: {exc}"))
            continue
        except Exception as exc:  # a broken image must never abort the run
            rejected.append(Rejected(src, f"unreadable ({type(exc).__name__}: {exc})"))
            continue
        digits = [d for line in result.lines for d in line.digits]
        if len(digits) < len(label) and " " not in item.label.strip():
            # the base model may call the user's digit "not a digit": exactly what teaching fixes.
            # On a one-row label, count such regions in, left to right, if that makes the count.
            others = [r for r in result.rejected if getattr(r, "crop", None) is not None]
            both = sorted(digits + others, key=lambda d: d.box[0] + d.box[2] / 2)
            if len(both) == len(label):
                digits = both
        if not digits:
            rejected.append(Rejected(src, "no digit found"))
            continue
        if len(digits) != len(label):
            rejected.append(
                Rejected(
                    src, f"label {item.label!r} has {len(label)} digit(s), found {len(digits)}"
                )
            )
            continue
        seen[digest] = src
        for j, (d, ch) in enumerate(zip(digits, label, strict=True)):
            crop = np.asarray(d.crop, np.float32).reshape(28, 28)
            samples.append(Sample(crop, int(ch), src, digest, j))
    return samples, rejected


# ---------------------------------------------------------------- training


@dataclass
class Report:
    """Before/after figures of one teach run."""

    taught: dict[str, Any]  # accuracy on the samples trained on
    validation: dict[str, Any] | None  # on the held-out part of the user's samples
    mnist: dict[str, Any]

    def lines(self) -> list[str]:
        def row(title: str, d: dict[str, Any]) -> str:
            return (
                f"  {title:<34} {d['before']:7.2%} -> {d['after']:7.2%}   ({d['n']} digits"
                + (f", {d['note']}" if d.get("note") else "")
                + ")"
            )

        out = []
        if self.validation:
            out.append(row("your held-out samples", self.validation))
        out.append(row("your samples (trained on)", self.taught))
        out.append(row("MNIST test set", self.mnist))
        return out


@dataclass
class Outcome:
    model: nn.Module
    meta: dict[str, Any]
    history: list[dict[str, float]]
    report: Report
    samples: list[Sample]
    rejected: list[Rejected]
    already: int = 0
    name: str | None = None
    folder: Path | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        head = f"taught {len(self.samples)} new digit(s)"
        if self.already:
            head += f" ({self.already} already known, replayed)"
        if self.name:
            head += f" -> model {self.name!r} (active)"
        return "\n".join([head + f" in {self.seconds:.0f} s", *self.report.lines()])


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, digits_only: bool = False) -> float:
    from mydigits.training import predict

    if len(x) == 0:
        return float("nan")
    logits = predict(model, x)
    if digits_only:
        logits = logits[:, :10]
    return float((logits.argmax(1).numpy() == y).mean())


def _split(samples: list[Sample], settings: Settings) -> tuple[list[int], list[int]]:
    """Indices for training and validation: a per-digit share of the images, when there are enough.

    Whole images go to one side (the digits of a multi-digit image stay together).
    """
    idx = list(range(len(samples)))
    if len(samples) < settings.validation_min:
        return idx, []
    rng = np.random.default_rng(settings.seed)
    by_label: dict[int, list[str]] = {}
    for s in samples:
        if s.sha256 not in by_label.setdefault(s.label, []):
            by_label[s.label].append(s.sha256)
    val_files: set[str] = set()
    for label in sorted(by_label):
        files = sorted(by_label[label])
        rng.shuffle(files)
        k = int(len(files) * settings.validation_share)
        val_files.update(f for f in files[:k] if len(files) - k >= 1)
    train = [i for i in idx if samples[i].sha256 not in val_files]
    val = [i for i in idx if samples[i].sha256 in val_files]
    if not train:
        return idx, []
    return train, val


def _freeze_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)


def fine_tune(
    base: nn.Module,
    x_new: np.ndarray,
    y_new: np.ndarray,
    x_old: np.ndarray,
    y_old: np.ndarray,
    replay_x: torch.Tensor,
    replay_y: torch.Tensor,
    settings: Settings,
    monitor: Callable[[nn.Module], dict[str, float]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """Fine-tune a copy of ``base`` on the user's samples (new, and earlier ones replayed) mixed
    with the replay set (MNIST digits and, for models that can say "not a digit", negatives). Returns the model (eval
    mode) and one row of figures per epoch."""
    gen = torch.Generator().manual_seed(settings.seed)
    torch.manual_seed(settings.seed)
    model = copy.deepcopy(base).to(memory_format=torch.channels_last)
    teacher = copy.deepcopy(base).to(memory_format=torch.channels_last).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    model.train()
    if settings.freeze_bn:
        _freeze_bn(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    total = max(1, settings.epochs * settings.steps_per_epoch)
    warm = max(1, total // 10)

    def lr_at(step: int) -> float:
        if step < warm:
            return settings.lr * (step + 1) / warm
        return settings.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    ux = torch.from_numpy(np.concatenate([x_new, x_old]).astype(np.float32)).unsqueeze(1)
    uy = torch.from_numpy(np.concatenate([y_new, y_old]).astype(np.int64))
    # new samples weigh at least half of the user part, however many earlier ones there are
    n_new, n_old = len(x_new), len(x_old)
    w_new = max(0.5, n_new / max(1, n_new + n_old)) if n_old else 1.0
    weights = torch.cat(
        [
            torch.full((n_new,), w_new / max(1, n_new)),
            torch.full((n_old,), (1 - w_new) / max(1, n_old)),
        ]
    )
    n_user = max(1, round(settings.batch_size * settings.user_share))
    n_replay = settings.batch_size - n_user
    strong, normal = Augment.strong(), Augment()
    t_kd = settings.distill_temperature

    history: list[dict[str, float]] = []
    start = time.perf_counter()
    step = 0
    for epoch in range(settings.epochs):
        loss_sum = 0.0
        for _ in range(settings.steps_per_epoch):
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            ui = torch.multinomial(weights, n_user, replacement=True, generator=gen)
            ri = torch.randint(len(replay_x), (n_replay,), generator=gen)
            xu = augment_batch(ux[ui], strong, gen)
            xr = augment_batch(replay_x[ri], normal, gen)
            xb = torch.cat([xu, xr]).contiguous(memory_format=torch.channels_last)
            yb = torch.cat([uy[ui], replay_y[ri]])
            logits = model(xb)
            loss = F.cross_entropy(logits, yb, label_smoothing=settings.label_smoothing)
            if settings.distill > 0 and n_replay:
                kd = distillation_loss(logits[n_user:], soft_targets([teacher], xb[n_user:], t_kd), t_kd)
                loss = loss + settings.distill * kd * (n_replay / settings.batch_size)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += float(loss.detach())
            step += 1
        model.eval()
        row = {"epoch": epoch + 1, "step": step, "loss": loss_sum / settings.steps_per_epoch}
        if monitor:
            row.update(monitor(model))
        row["seconds"] = time.perf_counter() - start
        history.append(row)
        if progress:
            progress(
                f"epoch {epoch + 1}/{settings.epochs}: loss {row['loss']:.3f}"
                + "".join(f"  {k} {v:.1%}" for k, v in row.items() if k.endswith("accuracy"))
            )
        model.train()
        if settings.freeze_bn:
            _freeze_bn(model)
    model.eval()
    return model, history


# ---------------------------------------------------------------- the whole run


def _replay_set(
    model: nn.Module, settings: Settings, data_dir: str | Path | None = None
) -> tuple[torch.Tensor, torch.Tensor, Any, Any]:
    """MNIST training digits (and examples of "not a digit" and "digits touching" for models with
    those outputs) to replay; also the MNIST test set and the calibration digits."""
    from mydigits.mnist import MNIST
    from mydigits.negatives import make_negatives, make_touching
    from mydigits.training import to_tensor

    data = MNIST(data_dir, progress=False)
    train, test = data.load("train"), data.load("test")
    rng = np.random.default_rng(settings.seed)
    usable = len(train) - 2000  # the last 2,000 were held out from training to fit the temperature
    pick = rng.choice(usable, size=min(settings.replay_pool, usable), replace=False)
    x = to_tensor(train.images[pick])
    y = torch.from_numpy(train.labels[pick].astype(np.int64))
    classes = models.n_classes(model)
    if classes >= 11 and settings.negatives > 0:
        n_touch = settings.negatives // 7
        n_neg = settings.negatives - n_touch
        # as many negatives as a share of the replay half: repeat them rather than make more
        neg = to_tensor(np.concatenate([make_negatives(n_neg, seed=settings.seed + 1),
                                        make_touching(n_touch, train.images[:usable], seed=settings.seed + 1)]))
        labels = torch.cat([torch.full((n_neg,), models.NOT_A_DIGIT, dtype=torch.long),
                            torch.full((n_touch,), models.TOUCHING if classes == 12 else models.NOT_A_DIGIT,
                                       dtype=torch.long)])
        share = settings.negative_share
        reps = max(1, round(share * len(x) / (1 - share) / len(neg)))
        x = torch.cat([x, neg.repeat(reps, 1, 1, 1)])
        y = torch.cat([y, labels.repeat(reps)])
    calib = (train.images[usable:], train.labels[usable:])
    return x, y, test, calib


def teach(
    inputs: Inputs,
    base: str | Path | None = None,
    name: str | None = None,
    settings: Settings | None = None,
    epochs: int | None = None,
    preprocessed: bool = False,
    save: bool = True,
    progress: Callable[[str], None] | None = None,
    data_dir: str | Path | None = None,
) -> Outcome:
    """Teach the model ``base`` (default: the active one) the handwriting in ``inputs``.

    With ``save``, the result becomes a new version in the store and the active model.
    """
    start = time.perf_counter()
    settings = settings or Settings()
    if epochs is not None:
        if epochs < 1:
            raise MydigitsError("--epochs must be at least 1")
        settings = _replace(settings, epochs=epochs)
    if name is not None:
        store.validate_name(name)
        if save and store.version_dir(name).exists():
            raise MydigitsError(f"a model named {name!r} already exists; choose another --name")
    if settings.threads:
        torch.set_num_threads(settings.threads)
    base_path, base_name = store.resolve(base)
    base_model, base_meta = modelio.load(base_path)
    say = progress or (lambda _msg: None)

    samples, rejected = collect(inputs, base_path, preprocessed)
    for r in rejected:
        say(f"skipped {r.source}: {r.reason}")
    earlier = store.load_samples(base_name) if base_name in store.names() else []
    known = {(s.sha256, s.part) for s in earlier}
    new = [s for s in samples if (s.sha256, s.part) not in known]
    already = len(samples) - len(new)
    if not new:
        why = f"all {already} were already taught" if already else f"{len(rejected)} skipped"
        raise MydigitsError(f"no usable new sample to teach ({why})")

    train_idx, val_idx = _split(new, settings)
    x_new = np.stack([new[i].crop for i in train_idx])
    y_new = np.array([new[i].label for i in train_idx], np.int64)
    x_val = (
        np.stack([new[i].crop for i in val_idx]) if val_idx else np.zeros((0, 28, 28), np.float32)
    )
    y_val = np.array([new[i].label for i in val_idx], np.int64)
    x_old = np.stack([s.crop for s in earlier]) if earlier else np.zeros((0, 28, 28), np.float32)
    y_old = np.array([s.label for s in earlier], np.int64)

    say("preparing replay data")
    replay_x, replay_y, test, calib = _replay_set(base_model, settings, data_dir)
    n_eval = min(settings.mnist_eval, len(test))
    test_x, test_y = test.images[:n_eval], test.labels[:n_eval]
    mon_x, mon_y = test.images[-settings.monitor :], test.labels[-settings.monitor :]

    def monitor(m: nn.Module) -> dict[str, float]:
        row = {"taught_accuracy": _accuracy(m, x_new, y_new)}
        if len(x_val):
            row["validation_accuracy"] = _accuracy(m, x_val, y_val)
        if settings.monitor:
            row["mnist_accuracy"] = _accuracy(m, mon_x, mon_y, digits_only=True)
        return row

    before = monitor(base_model)
    before.update(epoch=0, step=0, seconds=0.0)
    say(
        f"fine-tuning on {len(train_idx)} digit(s)"
        + (f", {len(val_idx)} held out" if val_idx else "")
    )
    model, history = fine_tune(
        base_model, x_new, y_new, x_old, y_old, replay_x, replay_y, settings, monitor, say
    )
    history = [before, *history]

    say("measuring")
    temperature = float(base_meta.get("temperature", 1.0))
    if temperature != 1.0:
        from mydigits.training import fit_temperature, predict, to_tensor

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            temperature = fit_temperature(
                predict(model, to_tensor(calib[0])), torch.from_numpy(calib[1]).long()
            )
    mnist_before = None
    if n_eval == 10_000 and base_meta.get("mnist_test_samples") == 10_000:
        mnist_before = base_meta.get("mnist_test_accuracy")  # measured on this very model
    if not isinstance(mnist_before, float):
        mnist_before = _accuracy(base_model, test_x, test_y, digits_only=True)
    mnist_after = _accuracy(model, test_x, test_y, digits_only=True)
    report = Report(
        taught={
            "before": before["taught_accuracy"],
            "after": _accuracy(model, x_new, y_new),
            "n": len(y_new),
        },
        validation=(
            {
                "before": before["validation_accuracy"],
                "after": _accuracy(model, x_val, y_val),
                "n": len(y_val),
            }
            if len(x_val)
            else None
        ),
        mnist={
            "before": mnist_before,
            "after": mnist_after,
            "n": n_eval,
            "note": "" if n_eval == 10_000 else "a subset",
        },
    )
    if report.validation is None:
        report.taught["note"] = f"too few to hold some out (< {settings.validation_min})"

    version = name or (store.next_name() if save else None)
    roles = {i: "validation" for i in val_idx}
    stored = list(earlier) + [
        store.StoredSample(
            s.crop, s.label, s.source, s.sha256, s.part, version or "", roles.get(i, "train")
        )
        for i, s in enumerate(new)
    ]

    meta = {
        k: v
        for k, v in base_meta.items()
        if k not in ("weights_sha256", "classes", "preprocessing_version")
    }
    meta.update(
        date=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=" ".join(["mydigits", *sys.argv[1:]])
        if sys.argv[0].endswith("mydigits")
        else " ".join(sys.argv),
        temperature=temperature,
        mnist_test_accuracy=mnist_after,
        mnist_test_samples=n_eval,
        torch=torch.__version__,
    )
    meta["teach"] = {
        "base": base_name,
        "base_weights_sha256": base_meta.get("weights_sha256"),
        "samples_new": len(new),
        "samples_total": len(stored),
        "samples_replayed": len(earlier),
        "validation": len(val_idx),
        "samples": [
            {
                "source": s.source,
                "sha256": s.sha256,
                "part": s.part,
                "label": s.label,
                "role": roles.get(i, "train"),
            }
            for i, s in enumerate(new)
        ],
        "skipped": [{"source": r.source, "reason": r.reason} for r in rejected],
        "report": asdict(report),
        "history": history,
        "settings": asdict(settings),
        "preprocessed": preprocessed,
    }
    outcome = Outcome(model, meta, history, report, new, rejected, already)
    if save:
        assert version is not None

        def write(folder: Path) -> None:
            meta["teach"]["seconds"] = round(time.perf_counter() - start, 1)
            modelio.save(model, folder / store.MODEL_STEM, meta)
            store.save_samples(folder, stored)
            plot_curve(history, folder / "curve.png", title=f"teaching {version}")

        outcome.folder = store.create_version(version, write, activate=True)
        outcome.name = version
    outcome.seconds = time.perf_counter() - start
    return outcome


def _replace(settings: Settings, **changes: Any) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


# ---------------------------------------------------------------- the curve


def plot_curve(history: list[dict[str, float]], path: str | Path, title: str = "") -> Path:
    """Draw loss and accuracies per epoch as a PNG with Pillow (no matplotlib needed)."""
    from PIL import Image, ImageDraw

    w, h, pad = 760, 340, 48
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    draw.text((pad, 10), title or "teaching", fill="black")
    panels = [(pad, 40, w // 2 - 20, h - pad), (w // 2 + pad - 10, 40, w - 20, h - pad)]
    steps = [r.get("step", 0) for r in history] or [0]
    x_max = max(max(steps), 1)

    def axes(box: tuple[int, int, int, int], label: str, lo: float, hi: float) -> None:
        x0, y0, x1, y1 = box
        draw.rectangle(box, outline="black")
        draw.text((x0, y1 + 6), "0", fill="black")
        draw.text(((x0 + x1) // 2 - 3 * len(label), y1 + 6), label, fill="black")
        draw.text((x1 - 60, y1 + 6), f"{x_max} steps", fill="black")
        draw.text((x0 - 40, y0 - 5), f"{hi:.3g}", fill="black")
        draw.text((x0 - 40, y1 - 10), f"{lo:.3g}", fill="black")

    def line(
        box: tuple[int, int, int, int],
        xs: list[float],
        ys: list[float],
        lo: float,
        hi: float,
        color: str,
    ) -> None:
        x0, y0, x1, y1 = box
        pts = [
            (
                x0 + (x1 - x0) * x / x_max,
                y1 - (y1 - y0) * (min(max(y, lo), hi) - lo) / max(hi - lo, 1e-9),
            )
            for x, y in zip(xs, ys, strict=True)
            if y == y  # skip NaN
        ]
        if len(pts) > 1:
            draw.line(pts, fill=color, width=2)
        for px, py in pts:
            draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=color)

    rows = [r for r in history if "loss" in r]
    losses = [r["loss"] for r in rows]
    lo_l, hi_l = 0.0, (max(losses) * 1.1 if losses else 1.0)
    axes(panels[0], "training loss", lo_l, hi_l)
    line(panels[0], [r["step"] for r in rows], losses, lo_l, hi_l, "black")
    series = [
        ("taught_accuracy", "your samples", "blue"),
        ("validation_accuracy", "held out", "green"),
        ("mnist_accuracy", "MNIST", "red"),
    ]
    accs = [r[k] for r in history for k, _, _ in series if k in r and r[k] == r[k]]
    lo_a = math.floor(min(accs, default=0.0) * 10) / 10
    axes(panels[1], "accuracy", lo_a, 1.0)
    legend_y = panels[1][1] + 6
    for key, label, color in series:
        pts = [(r["step"], r[key]) for r in history if key in r]
        if not pts:
            continue
        line(panels[1], [p[0] for p in pts], [p[1] for p in pts], lo_a, 1.0, color)
        draw.text((panels[1][0] + 8, legend_y), f"{label}: {pts[-1][1]:.1%}", fill=color)
        legend_y += 14
    path = Path(path)
    img.save(path)
    return path
