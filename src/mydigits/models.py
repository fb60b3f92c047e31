"""The classifiers, by name.

Every model takes a float batch (N, 1, 28, 28) in [0, 1] (white digit on black, MNIST-normalized)
and returns logits. The seed baselines have 10 outputs. ``net`` has two more: "not a digit"
(letters, doodles, scribbles, blank paper), so that those are rejected by the model itself instead
of by a threshold on an overconfident softmax, and "digits touching" (two or three digits joined
into one mark), which tells the reader to cut the mark apart, where cutting a "not a digit" would
only turn a flower into an 8 and a 3. ``net-v1``, the default model until 2026-12-04, has the
first of the two only. ``gate`` is ``net``'s early answer: a net a seventh of its arithmetic,
taught by it, whose sure answers stand (``modelio.GATE_SURE``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
NOT_A_DIGIT = 10
TOUCHING = 11


class _Standardize(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - MNIST_MEAN) / MNIST_STD


def softmax_regression() -> nn.Module:
    """The seeds' first model: one linear layer (~92%)."""
    return nn.Sequential(_Standardize(), nn.Flatten(), nn.Linear(784, 10))


def mlp() -> nn.Module:
    """Flatten-128-128-10 (~98%)."""
    return nn.Sequential(
        _Standardize(),
        nn.Flatten(),
        nn.Linear(784, 128),
        nn.ReLU(),
        nn.Linear(128, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    )


def cnn2() -> nn.Module:
    """The classic two-convolution tutorial CNN: 5x5x32, pool, 5x5x64, pool, fc1024, dropout (~99.2%)."""
    return nn.Sequential(
        _Standardize(),
        nn.Conv2d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 1024),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(1024, 10),
    )


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, padding: int = 0) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


def net() -> nn.Module:
    """The default model: a small all-convolutional net with batch norm, "not a digit" and
    "digits touching" outputs.

    The layout follows the strongest published small single MNIST CNNs (stacked 3x3 convolutions,
    learned 5x5 stride-2 downsampling instead of pooling, dropout between stages). It learns
    doodles, letters and other hands' digits besides MNIST's, so it has one more convolution than
    ``net-v1`` at the 4x4 stage and twice the width after it: 12% more computation.
    """
    return _trunk(256, 12, extra=True)


def net_v1() -> nn.Module:
    """The default model until 2026-12-04 (11 outputs): kept so that models taught from it load."""
    return _trunk(128, 11)


def _trunk(width: int, outputs: int, extra: bool = False) -> nn.Module:
    last = 128 if extra else 64
    return nn.Sequential(
        _Standardize(),
        *_conv_bn(1, 32, 3),  # 26
        *_conv_bn(32, 32, 3),  # 24
        *_conv_bn(32, 32, 5, 2, 2),  # 12
        nn.Dropout(0.3),
        *_conv_bn(32, 64, 3),  # 10
        *_conv_bn(64, 64, 3),  # 8
        *_conv_bn(64, 64, 5, 2, 2),  # 4
        *(_conv_bn(64, last, 3, padding=1) if extra else []),  # 4
        nn.Dropout(0.3),
        *_conv_bn(last, width, 4),  # 1
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(width, outputs),
    )


def gate() -> nn.Module:
    """The default model's early answer: a net a seventh of its arithmetic (4.8 MFLOP a digit,
    strided convolutions, no pooling), taught by the default model its twelve answers. Most crops are plain
    digits that it is as sure of as the default model, and for those its answer stands, so the
    default model runs only on the rest (:class:`mydigits.modelio.Classifier`)."""
    return nn.Sequential(
        _Standardize(),
        *_conv_bn(1, 24, 5, 2, 2),  # 14
        *_conv_bn(24, 48, 3, 2, 1),  # 7
        *_conv_bn(48, 96, 3),  # 5
        *_conv_bn(96, 96, 3),  # 3
        nn.Flatten(),
        nn.Linear(96 * 3 * 3, 12),
    )


def fast() -> nn.Module:
    """The quickest recipe to 99% on a CPU: two narrow conv stages, batch norm, one epoch."""
    return nn.Sequential(
        _Standardize(),
        *_conv_bn(1, 16, 3, padding=1),
        nn.MaxPool2d(2),  # 14
        *_conv_bn(16, 32, 3, padding=1),
        nn.MaxPool2d(2),  # 7
        *_conv_bn(32, 64, 3),  # 5
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )


ARCHITECTURES: dict[str, Callable[[], nn.Module]] = {
    "softmax": softmax_regression,
    "mlp": mlp,
    "cnn2": cnn2,
    "fast": fast,
    "net": net,
    "net-v1": net_v1,
    "gate": gate,
}


def build(arch: str) -> nn.Module:
    """Make an untrained model by name."""
    from mydigits.errors import MydigitsError

    if arch not in ARCHITECTURES:
        raise MydigitsError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch]()


def n_classes(model: nn.Module) -> int:
    """10 for the baselines, 11 with a "not a digit" output, 12 with "digits touching" too."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    return last.out_features
