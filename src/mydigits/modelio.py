"""Saving and loading models: safetensors weights plus a JSON metadata file, nothing executable.

A model ``NAME`` is two files side by side: ``NAME.safetensors`` (tensors only, so loading never
runs code, unlike pickle or ``torch.load``) and ``NAME.json`` (architecture, preprocessing version,
accuracy, how and when it was trained, data checksums, and the SHA-256 of the weights file). Loading
checks the architecture is known, the weights hash matches, and every tensor has the expected name
and shape, so a tampered, truncated or foreign file is refused with one clear line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from mydigits import atomic, models, paths
from mydigits.errors import MydigitsError
from mydigits.normalizing import PREPROCESSING_VERSION, variants

DEFAULT_NAME = "default"
# Formats that unpickle when loaded: refused by name, with a message that says why.
PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt"}
# A crop whose best digit the model gives less than WAVERING (and "not one digit" less still) is
# classified again as its normalizing.variants, and which digit it is is their average: between a
# continental 1 and a 7, say, one crop's answer is as much the accident of its exact angle and
# stroke width as the digit's. Whether it is a digit at all stays the crop's own answer: the
# variants of a doubtful crop look less like any digit, and averaged in, that share refused 7 more
# MNIST test digits and lost touching pairs. Measured on 2026-12-07: the dev set's sheets 7 -> 8
# of 9 read exactly (a continental 1 read as a 7 at 0.55), MNIST test 99.69% -> 99.70% in
# bfloat16 (3 digits right, 2 wrong; 99.69% either way in float32); numbers of MNIST digits on
# generated paper, a picture or two either way.
WAVERING = 0.9
# A model ``NAME`` may have a gate beside it, ``NAME-gate`` (models.gate, a seventh of the default
# model's arithmetic), taught by exactly that model (``mydigits train --arch gate --teacher NAME``).
# A crop the gate gives GATE_SURE or more of one answer keeps the gate's answer, and the model runs
# only on the others: most crops are plain digits both are that sure of, and there they agree.
# A gate taught by another model (a taught or replaced one) is not used. 0.995 was chosen on
# examples neither model saw (MNIST's held-out training digits, a fresh draw of the recipe's
# others): there the gate changed no digit's answer and 9 of 35,000 "not a digit" marks' (to a
# digit); at 0.99, 27; at 0.999 it answered too few crops to pay (EXPERIMENTS.md, 2026-12-08).
GATE_SUFFIX = "-gate"
GATE_SURE = 0.995


def weights_and_meta(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Accept ``NAME``, ``NAME.safetensors`` or ``NAME.json``; return both file paths."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    if not p.name or p.name in (".", ".."):
        raise MydigitsError(f"{os.fspath(path) or repr(path)}: not a model path (expected NAME, "
                            f"NAME.safetensors or NAME.json)")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save(model: nn.Module, path: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write weights and metadata atomically (weights first, so metadata never points at nothing)."""
    wpath, mpath = weights_and_meta(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    blob = st_save(tensors)
    meta = dict(meta)
    meta["preprocessing_version"] = PREPROCESSING_VERSION
    meta["classes"] = models.n_classes(model)
    meta["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    atomic.write_bytes(wpath, blob)
    atomic.write_bytes(mpath, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    return wpath


def load(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Load a model for inference (eval mode); refuse anything that is not exactly what it claims."""
    if Path(path).suffix.lower() in PICKLE_SUFFIXES:
        raise MydigitsError(f"{os.fspath(path)}: PyTorch and pickle files are never loaded (loading "
                            f"them can run code); a mydigits model is NAME.safetensors with NAME.json")
    wpath, mpath = weights_and_meta(path)
    for p in (wpath, mpath):
        if not p.is_file():
            raise MydigitsError(f"{p}: model file not found")
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MydigitsError(f"{mpath}: cannot read model metadata ({exc.strerror or exc})") from None
    except (ValueError, RecursionError) as exc:  # bad UTF-8 or JSON, a 5000-digit number, [[[[...
        raise MydigitsError(f"{mpath}: model metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("arch"), str):
        raise MydigitsError(f"{mpath}: model metadata has no architecture name")
    arch = meta["arch"] = _current_name(meta)
    if arch not in models.ARCHITECTURES:
        raise MydigitsError(f"{mpath}: unknown architecture {arch[:40]!r}")
    if meta.get("preprocessing_version") != PREPROCESSING_VERSION:
        raise MydigitsError(
            f"{mpath}: made for preprocessing version {str(meta.get('preprocessing_version'))[:40]}, "
            f"this mydigits uses {PREPROCESSING_VERSION}"
        )
    temperature = meta.get("temperature", 1.0)
    if (isinstance(temperature, bool) or not isinstance(temperature, (int, float))
            or not math.isfinite(temperature) or not 0.01 <= temperature <= 100):
        raise MydigitsError(f"{mpath}: temperature {str(temperature)[:40]!r} is not a number in 0.01-100")
    try:
        blob = wpath.read_bytes()
    except OSError as exc:
        raise MydigitsError(f"{wpath}: cannot read model weights ({exc.strerror or exc})") from None
    if hashlib.sha256(blob).hexdigest() != meta.get("weights_sha256"):
        raise MydigitsError(f"{wpath}: weights do not match their metadata (modified or corrupt)")
    try:
        tensors = st_load(blob)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        raise MydigitsError(f"{wpath}: not a valid safetensors file ({exc})") from None
    model = models.build(arch)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        raise MydigitsError(f"{wpath}: tensors do not belong to architecture {arch!r}")
    for k, v in expected.items():
        if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype:
            raise MydigitsError(
                f"{wpath}: tensor {k} has shape {tuple(tensors[k].shape)}, "
                f"{arch!r} needs {tuple(v.shape)}"
            )
        if tensors[k].is_floating_point() and not bool(torch.isfinite(tensors[k]).all()):
            # a diverged training run, or a file made to look valid: it would read NaN for everything
            raise MydigitsError(f"{wpath}: tensor {k} holds NaN or infinite values")
    model.load_state_dict(tensors)
    model.eval()
    return model, meta


def _current_name(meta: dict[str, Any]) -> str:
    """The architecture's name today: models saved as ``net`` with 11 classes, before ``net``
    gained its "digits touching" output, are ``net-v1``."""
    if meta["arch"] == "net" and meta.get("classes") == 11:
        return "net-v1"
    return meta["arch"]


def default_model_path() -> Path:
    """The active taught model if one is selected, else the shipped default."""
    active = paths.models_dir() / "ACTIVE"
    if active.is_file():
        name = active.read_text(encoding="utf-8", errors="replace").strip()
        candidate = paths.models_dir() / name / "model"
        # ACTIVE is a plain file a user or a crash may have mangled: a name that is not one folder
        # inside the store (``../x``, ``/etc``) falls back to the shipped model instead of escaping
        safe = name not in ("", ".", "..") and Path(name).name == name and "\\" not in name
        try:
            if safe and weights_and_meta(candidate)[0].is_file():
                return candidate
        except (OSError, ValueError):  # a name too long for the file system, a NUL byte
            pass
    return paths.shipped_weights_dir() / DEFAULT_NAME


class _WholeConv(nn.Module):
    """A convolution whose kernel covers its whole input, computed as the matrix product it is.

    oneDNN runs such a convolution (``net``'s last, 4x4 over 4x4) as slowly as a big one: it took
    a fifth of the model's time for 3% of its multiply-adds. The weights are laid out in the
    channels-last order of the input, so the input is flattened without a copy.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        w = conv.weight.detach()
        self.linear = nn.Linear(w[0].numel(), w.shape[0], bias=conv.bias is not None)
        self.linear.weight.data = w.permute(0, 2, 3, 1).reshape(w.shape[0], -1).contiguous()
        if conv.bias is not None:
            self.linear.bias.data = conv.bias.detach().clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.permute(0, 2, 3, 1).reshape(x.shape[0], -1))[:, :, None, None]


def for_inference(model: nn.Module, size: int = 28) -> nn.Module:
    """The same function with each batch norm folded into the convolution before it, dropout
    gone, every ReLU in place and a convolution that covers its whole input (``size`` x ``size``
    crops in) made a matrix product: a third fewer passes over memory and no new buffer per
    activation, which is most of the cost of a small CNN on a CPU. Only for reading; a model to be
    trained further must be loaded with :func:`load`."""
    if not isinstance(model, nn.Sequential):
        return model.eval()
    layers, out = list(model.eval()), []
    for layer in layers:
        if isinstance(layer, nn.BatchNorm2d) and out and isinstance(out[-1], nn.Conv2d):
            out[-1] = fuse_conv_bn_eval(out[-1], layer)
        elif isinstance(layer, nn.ReLU):
            out.append(nn.ReLU(inplace=True))
        elif not isinstance(layer, nn.Dropout):
            out.append(layer)
    with torch.no_grad():
        x = torch.zeros(1, 1, size, size)
        for i, layer in enumerate(out):
            covers = isinstance(layer, nn.Conv2d) and layer.groups == 1 and tuple(x.shape[2:]) == layer.kernel_size
            if covers and layer.padding == (0, 0) and layer.dilation == (1, 1):
                out[i] = _WholeConv(layer)
            x = out[i](x)
    return nn.Sequential(*out).eval()


def native_bfloat16() -> bool:
    """True when this CPU computes bfloat16 in hardware (AMX or AVX-512 BF16). There, oneDNN runs
    the convolutions about three times faster than in float32 and the answers move by less than
    a rounding step (one MNIST test digit of 10,000 changes); elsewhere bfloat16 would be emulated
    and slower, so float32 stays."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    try:
        return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)
    except RuntimeError:  # a torch build without these probes
        return False


def inference_dtype() -> torch.dtype:
    """The precision :class:`Classifier` computes in: ``MYDIGITS_PRECISION=float32`` (or
    ``bfloat16``) decides, else bfloat16 where the hardware has it. float32 gives the same
    probabilities on every machine, to the last digit, for whoever needs that."""
    choice = os.environ.get("MYDIGITS_PRECISION", "auto").strip().lower()
    if choice in ("float32", "fp32"):
        return torch.float32
    if choice in ("bfloat16", "bf16"):
        return torch.bfloat16
    if choice not in ("", "auto"):
        raise MydigitsError(f"MYDIGITS_PRECISION={choice!r}: use auto, float32 or bfloat16")
    return torch.bfloat16 if native_bfloat16() else torch.float32


@dataclass
class Classifier:
    """A loaded model behind a numpy interface: 28x28 crops in, probabilities out.

    ``model`` stays in float32 (what callers that run it themselves expect); :meth:`predict_proba` runs a copy in
    ``dtype`` (:func:`inference_dtype`), in batches of 256, whose activations stay in the CPU's
    cache: 1,024 at a time was half as fast.
    """

    model: nn.Module
    meta: dict[str, Any] = field(default_factory=dict)
    temperature: float = 1.0
    dtype: torch.dtype = field(default_factory=inference_dtype)
    gate: nn.Module | None = None  # see GATE_SURE
    gate_temperature: float = 1.0

    def __post_init__(self) -> None:
        self._compute = self._in_dtype(self.model)
        self._gate = None if self.gate is None else self._in_dtype(self.gate)

    def _in_dtype(self, model: nn.Module) -> nn.Module:
        return copy.deepcopy(model).to(self.dtype) if self.dtype != torch.float32 else model

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Classifier:
        path = path if path is not None else default_model_path()
        model, meta = load(path)
        model = for_inference(model).to(memory_format=torch.channels_last)
        gate, gate_temperature = _gate_beside(path, model, meta)
        return cls(model, meta, float(meta.get("temperature", 1.0)), gate=gate, gate_temperature=gate_temperature)

    @property
    def has_reject_class(self) -> bool:
        return models.n_classes(self.model) >= 11

    @property
    def knows_touching(self) -> bool:
        """The model has a "digits touching" output besides "not a digit"."""
        return models.n_classes(self.model) >= 12

    def predict_proba(self, crops: np.ndarray, batch_size: int = 256, wavering: float | None = None,
                      gated: bool = True) -> np.ndarray:
        """``crops`` float (N, 28, 28) in [0, 1] -> (N, 11) probabilities: ten digits, then
        "not one digit" (not a digit, or digits touching; always 0 for models without those
        outputs). Temperature-scaled; see :meth:`predict` for ``wavering`` and ``gated``."""
        return self.predict(crops, batch_size, wavering, gated)[0]

    def predict(self, crops: np.ndarray, batch_size: int = 256, wavering: float | None = None,
                gated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """``crops`` -> (the (N, 11) probabilities of :meth:`predict_proba`, and (N,) the share of
        "not one digit" that is "digits touching": 0 where the model has no such output). Where
        the best digit is under ``wavering`` (default WAVERING; 0: never), the digits are weighed
        over the crop's variants. ``gated=False``: the model's own probabilities for every crop,
        for a caller that ranks sure answers against each other (the gate's sure answers all lie
        near 1, the model's tell a sure 7 from a surer one)."""
        crops = np.asarray(crops, dtype=np.float32)
        probs, touching = self._predict_once(crops, batch_size, gated)
        best = probs[:, :10].max(1)
        below = WAVERING if wavering is None else wavering
        unsure = np.nonzero((best < below) & (probs[:, 10] < best))[0]
        if len(unsure):
            p = self._predict_once(np.concatenate([variants(crops[i]) for i in unsure]), batch_size, gated)[0]
            digits = p[:, :10].reshape(len(unsure), -1, 10).mean(1)
            digits /= np.maximum(digits.sum(1, keepdims=True), 1e-12)
            probs[unsure, :10] = digits * (1 - probs[unsure, 10:])
        return probs, touching

    def _predict_once(self, crops: np.ndarray, batch_size: int, gated: bool = True) -> tuple[np.ndarray, np.ndarray]:
        out = np.zeros((len(crops), 12), np.float32)
        todo = np.arange(len(crops))
        if self._gate is not None and gated:
            early, sure = self._gate_answers(crops, batch_size)
            out[sure] = early[sure]
            todo = np.nonzero(~sure)[0]
        if len(todo):
            out[todo] = self._run(self._compute, self.temperature, crops[todo] if len(todo) < len(crops) else crops,
                                  batch_size)
        rest = out[:, 10] + out[:, 11]
        touching = np.divide(out[:, 11], rest, out=np.zeros_like(rest), where=rest > 0)
        return np.concatenate([out[:, :10], rest[:, None]], 1), touching

    def gate_share(self, crops: np.ndarray, batch_size: int = 256) -> float:
        """The share of ``crops`` whose answer is the gate's (0 without a gate)."""
        if self._gate is None or not len(crops):
            return 0.0
        return float(self._gate_answers(np.asarray(crops, dtype=np.float32), batch_size)[1].mean())

    def _gate_answers(self, crops: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """The gate's (N, 12) probabilities, and which of them stand (GATE_SURE)."""
        early = self._run(self._gate, self.gate_temperature, crops, batch_size)
        return early, early.max(1) >= GATE_SURE

    def _run(self, model: nn.Module, temperature: float, crops: np.ndarray, batch_size: int) -> np.ndarray:
        """(N, 28, 28) -> (N, 12) temperature-scaled probabilities (zeros past the model's outputs)."""
        out = np.zeros((len(crops), 12), np.float32)
        with torch.inference_mode():
            for i in range(0, len(crops), batch_size):
                x = torch.from_numpy(crops[i : i + batch_size]).unsqueeze(1).to(self.dtype)
                x = x.contiguous(memory_format=torch.channels_last)
                p = torch.softmax(model(x).float() / temperature, 1).numpy()
                out[i : i + len(p), : p.shape[1]] = p
        return out


def _gate_beside(path: str | os.PathLike[str], model: nn.Module,
                 meta: dict[str, Any]) -> tuple[nn.Module | None, float]:
    """The gate saved beside the model at ``path`` and its temperature, if it was taught by exactly
    that model (``meta``'s weights SHA-256); else (None, 1)."""
    beside = gate_path(path)
    if not weights_and_meta(beside)[1].is_file():
        return None, 1.0
    gate, gate_meta = load(beside)
    if gate_meta["arch"] != "gate" or models.n_classes(gate) != models.n_classes(model):
        raise MydigitsError(f"{weights_and_meta(beside)[1]}: not a gate for a "
                            f"{models.n_classes(model)}-output model")
    teachers = gate_meta.get("teachers")
    taught_by = [t.get("weights_sha256") for t in teachers if isinstance(t, dict)] if isinstance(teachers, list) else []
    if taught_by != [meta["weights_sha256"]]:
        return None, 1.0
    return for_inference(gate).to(memory_format=torch.channels_last), float(gate_meta.get("temperature", 1.0))


def gate_path(path: str | os.PathLike[str]) -> Path:
    """Where the gate of the model at ``path`` is saved: ``NAME-gate`` beside ``NAME``."""
    base = weights_and_meta(path)[0].with_suffix("")
    return base.with_name(base.name + GATE_SUFFIX)
