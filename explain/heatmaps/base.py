"""The heatmap contract and the guards every method runs under (the registry is the catalog).

A method is a function ``(model, x, target, **params) -> Heatmap``:

- ``model`` an ``nn.Module`` whose eval-mode output is the embedding ``(N, D)``;
- ``x`` one normalised image, ``(3, H, W)`` or ``(1, 3, H, W)``
  (see :mod:`explain.models.preprocess`);
- ``target`` an explicit embedding target (:mod:`explain.heatmaps.targets`), never None.

It returns a :class:`Heatmap` whose ``map`` is ``(H, W)`` float32 in [0, 1] at input resolution.
The catalog enforces this: :func:`explain.heatmaps.catalog.register` wraps every method in
:func:`check_heatmap`, so a method called by name (``compute``, ``get_method``) or directly that
returns a map with NaN/Inf, values outside [0, 1], another shape or dtype, or a non-finite
``raw``, raises :class:`HeatmapContractError` naming the method. A constant map carries no
location: it becomes all zeros, the "empty map" (no positive attribution) that callers already
report.
Methods do no I/O and no printing, and leave the caller's model and tensor as they found them:
:func:`explaining` switches the model to eval mode, freezes its parameters and restores modes,
``requires_grad`` flags and ``.grad`` tensors afterwards (also on error); methods remove every hook
they register in ``finally`` blocks and work on a detached copy of ``x``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from explain.heatmaps.targets import EmbeddingTarget


@dataclass(frozen=True)
class Heatmap:
    """One explanation of one image.

    ``map``     ``(H, W)`` float32 in [0, 1] at input resolution (what the app overlays).
    ``raw``     float32, the method's unnormalised map, for scoring. Its resolution depends on the
                method: CAMs and the activation map give the target layer's resolution
                (``(16, 8)`` for OSNet's ``conv5`` at 256x128) -- signed, before the ReLU, for
                CAMs; the feature energy (>= 0) for the activation map; occlusion gives input
                resolution, in units of the target (similarity drop when the region is hidden).
                Use :meth:`raw_at` to resize it to the input.
    ``method``  registry name (``gradcam``, ``occlusion`` ...).
    ``params``  effective parameters (target layer, window, baseline ...), JSON-serialisable.
    ``score``   the target's value on the unperturbed image (e.g. cosine similarity).
    ``info``    diagnostics that are not parameters (windows evaluated, seconds ...).
    """

    map: np.ndarray
    raw: np.ndarray
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Input resolution ``(H, W)``."""
        return int(self.map.shape[0]), int(self.map.shape[1])

    def raw_at(self, shape: tuple[int, int] | None = None) -> np.ndarray:
        """``raw`` resized bilinearly to ``shape`` (default: the input resolution), float32."""
        return resize(self.raw, shape or self.shape)


class HeatmapContractError(ValueError):
    """A method returned something other than an ``(H, W)`` float32 map in [0, 1]."""


def input_shape(x: object) -> tuple[int, int] | None:
    """``(H, W)`` of an image tensor (its last two dimensions); None for anything else."""
    shape = getattr(x, "shape", None)
    return (int(shape[-2]), int(shape[-1])) if shape is not None and len(shape) >= 2 else None


def check_heatmap(name: str, hm: object, shape: tuple[int, int] | None) -> Heatmap:
    """``hm`` when it keeps the contract for an input of ``shape`` ``(H, W)`` (None: not
    checked): a :class:`Heatmap` whose ``map`` is a finite float32 ``(H, W)`` array in [0, 1]
    and whose ``raw`` is a finite float32 2-D array, with a finite ``score`` (the target's value
    on the image; None allowed). A constant map is returned as all zeros
    (``info["constant_map"]`` keeps its value). Raises HeatmapContractError naming ``name``."""
    what = f"heatmap method {name!r}"
    if not isinstance(hm, Heatmap):
        raise HeatmapContractError(f"{what} returned {type(hm).__name__}, not a Heatmap")
    score = hm.score
    if score is not None and not (isinstance(score, int | float) and math.isfinite(score)):
        raise HeatmapContractError(
            f"{what}: the target's value on the image is {score!r}: the model's output is not "
            "finite, so no map can mean anything (NaN/Inf weights? check the checkpoint with "
            "`workbench checkpoints`)"
        )
    for field_name, value in (("map", hm.map), ("raw", hm.raw)):
        if not isinstance(value, np.ndarray) or value.ndim != 2 or value.size == 0:
            got = value.shape if isinstance(value, np.ndarray) else type(value).__name__
            raise HeatmapContractError(
                f"{what} returned a {field_name} of {got}, not a non-empty 2-D array"
            )
        if value.dtype != np.float32:
            raise HeatmapContractError(
                f"{what} returned a {field_name} of dtype {value.dtype}, not float32"
            )
        bad = int(value.size - np.isfinite(value).sum())
        if bad:
            raise HeatmapContractError(
                f"{what} returned a {field_name} with {bad} NaN or infinite value(s) of "
                f"{value.size}; the model's weights or its input are broken (check the "
                "checkpoint with `workbench checkpoints`)"
            )
    m = hm.map
    if shape is not None and m.shape != tuple(shape):
        raise HeatmapContractError(
            f"{what} returned a map of shape {m.shape}, not the input's (H, W) {tuple(shape)}"
        )
    lo, hi = float(m.min()), float(m.max())
    if lo < 0.0 or hi > 1.0:
        raise HeatmapContractError(
            f"{what} returned map values in [{lo:.4g}, {hi:.4g}], outside [0, 1]"
        )
    if hi == lo and hi > 0.0:
        info = {**hm.info, "constant_map": hi}
        return dataclasses.replace(hm, map=np.zeros_like(m), info=info)
    return hm


# --------------------------------------------------------------------------- guards

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()
_THREADS_SET = False


def _threads_once() -> None:
    """When ``WORKBENCH_THREADS`` is set, apply it (:func:`explain.models.device.set_threads`)
    before the first heatmap; otherwise the caller's torch thread setting stays as it is."""
    global _THREADS_SET
    if not _THREADS_SET:
        if os.environ.get("WORKBENCH_THREADS"):
            from explain.models.device import set_threads

            set_threads()
        _THREADS_SET = True


def _lock_for(model: nn.Module) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


@contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Run a method on ``model`` in eval mode with frozen parameters, then restore everything.

    Restores each submodule's training flag, each parameter's ``requires_grad`` and ``.grad``,
    also when the body raises. The first call applies ``WORKBENCH_THREADS`` when it is set
    (:func:`explain.models.device.set_threads`).
    Holds a per-model lock, so two app sessions sharing one cached model never see each other's
    hooks.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    _threads_once()
    with _lock_for(model):
        modes = [(m, m.training) for m in model.modules()]
        params = list(model.parameters())
        flags = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        try:
            model.eval()
            for p in params:
                p.requires_grad_(False)
            yield model
        finally:
            for m, mode in modes:
                m.training = mode
            for p, flag, grad in zip(params, flags, grads, strict=True):
                p.requires_grad_(flag)
                p.grad = grad


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a parameter-free module)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def as_batch(x: torch.Tensor, device: torch.device | None = None) -> torch.Tensor:
    """A detached float32 copy of one image as ``(1, 3, H, W)`` (the caller's tensor untouched)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, not {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[0] != 1 or x.shape[1] != 3:
        raise ValueError(
            f"x must be one normalised RGB image (3, H, W) or (1, 3, H, W), got {tuple(x.shape)}; "
            "use explain.models.preprocess.to_input(image)"
        )
    if not x.is_floating_point():
        raise ValueError(f"x must be a float tensor, got {x.dtype}; use to_input(image)")
    if not torch.isfinite(x).all():
        raise ValueError("x holds NaN or infinite values")
    out = x.detach().to(device=device, dtype=torch.float32)
    return out.clone() if out.data_ptr() == x.data_ptr() else out


def embed(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The eval-mode embedding of a batch ``(N, 3, H, W) -> (N, D)``, no gradient.

    Call inside :func:`explaining`. Raises when the model does not return a 2-D tensor.
    """
    with torch.no_grad():
        out = model(x)
    return check_embedding_output(out)


def check_embedding_output(out: object) -> torch.Tensor:
    """The model output as ``(N, D)``; ValueError for tuples/logit dicts (train-mode outputs)."""
    if not isinstance(out, torch.Tensor) or out.dim() != 2:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"the model returned {shape}, not an embedding (N, D); torchreid models return the "
            "embedding in eval mode: load them with explain.models.checkpoints.load_model"
        )
    return out


def bound_target(model: nn.Module, x: torch.Tensor, target: EmbeddingTarget):
    """``(target bound to the clean embedding, clean embedding (D,), clean score)``."""
    clean = embed(model, x)[0]
    bound = target.bind(clean)
    with torch.no_grad():
        score = float(bound(clean))
    return bound, clean, score


# --------------------------------------------------------------------------- map helpers


def resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize (half-pixel centres, as cv2 and torchreid) of a 2-D map to ``(H, W)``."""
    a = np.asarray(a, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {a.shape}")
    h, w = int(shape[0]), int(shape[1])
    if a.shape == (h, w):
        return a.copy()
    return cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def minmax(a: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] (min to 0, max to 1); a constant map becomes all zeros. float32."""
    a = np.asarray(a, dtype=np.float32)
    lo, hi = float(a.min()), float(a.max())
    if not np.isfinite(lo) or not np.isfinite(hi):
        raise ValueError("the map holds NaN or infinite values")
    if hi - lo <= 0:
        return np.zeros_like(a, dtype=np.float32)
    return np.clip((a - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)


def positive_map(raw: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The display map for signed attributions: positive part, resized, scaled to [0, 1].

    A map with no positive value is all zeros (nothing in the image raised the target).
    """
    pos = np.maximum(resize(raw, shape), 0.0)
    peak = float(pos.max())
    if peak <= 0:
        return np.zeros(shape, dtype=np.float32)
    return np.clip(pos / peak, 0.0, 1.0).astype(np.float32)
