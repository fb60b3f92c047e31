"""Batch augmentation that prepares an MNIST model for real handwriting.

Real digits differ from MNIST's in slant, size, position, stroke width and wobble. Each of these is
drawn per sample and applied to the whole batch at once on tensors (one ``grid_sample`` for the
geometry, max-pooling for stroke width), so augmentation costs little next to the network.

The ink's profile across a stroke (soft and grey like MNIST's scans, or hard-edged and saturated
like a thresholded photo) is varied too, in every class alike: otherwise a model trained on MNIST
digits beside examples drawn another way tells the classes apart by that texture instead of by
their shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    """Ranges of the random transforms; ``Augment.none()`` turns everything off."""

    rotate_deg: float = 12.0
    shear: float = 0.3
    scale: tuple[float, float] = (0.8, 1.15)
    shift_px: float = 2.5
    thickness_p: float = 0.3  # probability of a thicker or thinner stroke
    elastic_alpha: float = 1.0  # displacement in pixels
    elastic_p: float = 0.5
    ink_p: float = 0.0  # probability of a harder or softer ink profile

    @staticmethod
    def none() -> Augment:
        return Augment(0.0, 0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0)

    @staticmethod
    def strong() -> Augment:
        """For teaching from a handful of user samples."""
        return Augment(15.0, 0.4, (0.75, 1.2), 3.0, 0.4, 1.5, 0.7)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator | None = None) -> torch.Tensor:
    """Randomly transform a batch (N, 1, 28, 28) in [0, 1]; returns a new tensor."""
    n = x.shape[0]
    if n == 0:
        return x

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    x = _thickness(x, aug.thickness_p, generator)
    angle = uniform(-aug.rotate_deg, aug.rotate_deg) * math.pi / 180
    shear = uniform(-aug.shear, aug.shear)
    scale = torch.exp(uniform(math.log(aug.scale[0]), math.log(aug.scale[1])))
    aspect = torch.exp(uniform(-0.15, 0.15)) if aug.shear > 0 else torch.ones(n)
    sx, sy = scale * aspect, scale / aspect
    tx = uniform(-aug.shift_px, aug.shift_px) * 2 / 28
    ty = uniform(-aug.shift_px, aug.shift_px) * 2 / 28
    cos, sin = torch.cos(angle), torch.sin(angle)
    # forward map A = R @ Shear @ S; grid_sample wants the inverse (output -> input)
    a = torch.zeros(n, 2, 2)
    a[:, 0, 0], a[:, 0, 1] = cos * sx, (cos * shear - sin) * sy
    a[:, 1, 0], a[:, 1, 1] = sin * sx, (sin * shear + cos) * sy
    inv = torch.linalg.inv(a)
    t = torch.stack([tx, ty], 1).unsqueeze(2)
    theta = torch.cat([inv, -inv @ t], 2)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if aug.elastic_p > 0 and aug.elastic_alpha > 0:
        grid = grid + _elastic_field(n, aug, generator)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _ink(x, aug.ink_p, generator)


def _ink(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    """Half of the chosen samples saturated (gain 1.5-3, as a thresholded photo's strokes), the
    other half softened (a 3x3 blur, as a faint scan's); each then under a gamma of 0.6-1.6."""
    if p <= 0:
        return x
    n = x.shape[0]
    r = torch.rand(n, generator=generator).view(-1, 1, 1, 1)
    gain = 1.5 + 1.5 * torch.rand(n, generator=generator).view(-1, 1, 1, 1)
    gamma = torch.exp(torch.empty(n).uniform_(math.log(0.6), math.log(1.6), generator=generator)).view(-1, 1, 1, 1)
    hard = (x * gain).clamp(0, 1)
    soft = 0.5 * (x + F.avg_pool2d(x, 3, 1, 1))
    out = torch.where(r < p / 2, hard, torch.where(r < p, soft, x))
    return torch.where(r < p, out.clamp(min=0) ** gamma, out)


def _thickness(x: torch.Tensor, p: float, generator: torch.Generator | None) -> torch.Tensor:
    if p <= 0:
        return x
    r = torch.rand(x.shape[0], generator=generator)
    thick = (r < p / 2).view(-1, 1, 1, 1)
    thin = ((r >= p / 2) & (r < p)).view(-1, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, 1, 1)
    # a soft dilation: MNIST strokes are anti-aliased, a full 3x3 max thickens too much
    dilated = 0.5 * (x + dilated)
    eroded = -F.max_pool2d(-x, 2, 1, 0)
    eroded = F.pad(eroded, (0, 1, 0, 1))
    eroded = 0.5 * (x + eroded)
    return torch.where(thick, dilated, torch.where(thin, eroded, x))


def _elastic_field(n: int, aug: Augment, generator: torch.Generator | None) -> torch.Tensor:
    """A smooth random displacement (N, 28, 28, 2) in grid units."""
    coarse = torch.randn(n, 2, 4, 4, generator=generator)
    field = F.interpolate(coarse, size=(28, 28), mode="bicubic", align_corners=False)
    on = (torch.rand(n, generator=generator) < aug.elastic_p).float().view(-1, 1, 1, 1)
    field = field * on * (aug.elastic_alpha * 2 / 28)
    return field.permute(0, 2, 3, 1)
