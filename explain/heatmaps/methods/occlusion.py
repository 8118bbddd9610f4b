"""Occlusion sensitivity (Zeiler & Fergus 2014), equal to captum's ``Occlusion``, made fast.

A window of ``window`` pixels slides over the image with ``stride``; each position is replaced by
a baseline and the drop of the target (``T(x) - T(x with the window hidden)``) is credited to every
pixel of the window; a pixel's attribution is the mean over the windows covering it. Window
positions, their order and the averaging are captum's (``sliding_window_shapes=(3, w, w)``,
``strides=(3, s, s)``): the last window of a row or column may be cut off at the border.

What makes it fast, with the same numbers as captum (within 1e-4 in tests and the benchmark):

- every perturbed image of a batch is built with slice assignments, no mask tensors;
- windows whose perturbed input equals the original bit for bit (a black or blurred baseline on
  the black background of a segmented photo) are not evaluated: their drop is exactly 0;
- the clean image rides along in the first batch (no separate forward);
- forwards run in large batches through :mod:`explain.models.engine` (ONNX Runtime, a frozen,
  optimised TorchScript copy of the model, or eager channels-last), in inference mode.

``incremental=True`` (OSNet without instance normalisation, CPU) recomputes only what a window
changes: the stem and the first block's local branches on crops, the rest in full
(:mod:`explain.heatmaps.methods._incremental`). It gives the same maps (within 1e-6 in tests), but
OSNet's channel gates (a global average pool in every block) leave only about a third of a forward
local, and on this machine the crops and the wider tail inputs cost about as much as they save
(``python benchmarks/bench_occlusion.py`` prints both), so it is off by default.

Baselines (``baseline=``): ``"blur"`` (the default: the image blurred with a Gaussian of
``blur_sigma`` pixels, default ``window / 2``; a pixel the blur changes by no more than float
rounding, such as black background far from the animal, keeps its value exactly), ``"black"``
(RGB 0, which changes nothing on a segmented photo's background), and ``"mean"`` (a flat
colour, ``colour=`` RGB in [0, 1], default the ImageNet mean, i.e. captum's default zero
baseline in normalised space; pass the dataset's mean colour).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from torch import nn

from explain.heatmaps.base import (
    Heatmap,
    as_batch,
    explaining,
    model_device,
    positive_map,
)
from explain.heatmaps.catalog import register
from explain.heatmaps.methods._incremental import Unsupported
from explain.heatmaps.methods._incremental import build as incremental_path
from explain.heatmaps.targets import EmbeddingTarget
from explain.models.engine import APPROXIMATE_ENGINES, engine_for
from explain.models.preprocess import IMAGENET_MEAN, IMAGENET_STD

BASELINES = ("black", "mean", "blur")
FLAT_TOLERANCE = 1e-5  # normalised units: about 1/1700 of one 8-bit level
Progress = Callable[[int, int], None]
Window = tuple[int, int, int, int]  # row0, row1, col0, col1 (end exclusive)


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a positive int or (height, width), not {value!r}")
    return int(pair[0]), int(pair[1])


def windows(
    size: tuple[int, int], window: int | Sequence[int], stride: int | Sequence[int]
) -> list[Window]:
    """Window positions for an image of ``size`` ``(H, W)``, in captum's order (rows fastest).

    ``ceil((H - h) / s) + 1`` positions per dimension, the last one cut off at the border.
    """
    (wh, ww), (sh, sw) = _pair(window, "window"), _pair(stride, "stride")
    h, w = size
    if wh > h or ww > w:
        raise ValueError(f"window {wh}x{ww} is larger than the image {h}x{w}")
    if (wh < h and sh > wh) or (ww < w and sw > ww):
        raise ValueError(
            f"stride {sh}x{sw} must not exceed the window {wh}x{ww}: pixels would be skipped"
        )
    rows = [i * sh for i in range(math.ceil((h - wh) / sh) + 1)]
    cols = [j * sw for j in range(math.ceil((w - ww) / sw) + 1)]
    return [(r, min(r + wh, h), c, min(c + ww, w)) for c in cols for r in rows]


def _normalise(rgb: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> the normalised value ``(v - mean) / std`` per channel, ``(1, 3, 1, 1)``.

    Computed with the same float32 operations as torchvision's ``Normalize``, so a black pixel of
    a preprocessed image equals the black baseline bit for bit.
    """
    v = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32)[:, None, None]
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32)[:, None, None]
    return v.sub_(mean).div_(std).unsqueeze(0).to(like.device)


def baseline_image(
    x: torch.Tensor,
    baseline: str = "mean",
    colour: Sequence[float] | None = None,
    blur_sigma: float | None = None,
    window: int = 16,
) -> torch.Tensor:
    """The baseline for ``x`` ``(1, 3, H, W)`` (normalised) as a ``(1, 3, H, W)`` tensor."""
    if baseline == "black":
        value = _normalise((0.0, 0.0, 0.0), x)
    elif baseline == "mean":
        rgb = IMAGENET_MEAN if colour is None else tuple(float(c) for c in colour)
        if len(rgb) != 3 or not all(0.0 <= c <= 1.0 for c in rgb):
            raise ValueError(f"colour must be three RGB values in [0, 1], not {colour!r}")
        value = _normalise(rgb, x)
    elif baseline == "blur":
        sigma = window / 2 if blur_sigma is None else float(blur_sigma)
        if sigma <= 0:
            raise ValueError(f"blur_sigma must be positive, not {blur_sigma}")
        k = 2 * math.ceil(3 * sigma) + 1
        k = min(k, 2 * ((min(x.shape[-2:]) - 1) // 2) + 1)
        out = TF.gaussian_blur(x, [k, k], [sigma, sigma])
        # a flat neighbourhood (a segmented photo's black background) blurs to itself only up to
        # float rounding; keep such pixels bit for bit, so hiding them changes nothing and their
        # windows are skipped exactly, as for the black baseline
        flat = (out - x).abs().amax(1, keepdim=True) <= FLAT_TOLERANCE
        return torch.where(flat, x, out)
    else:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
    return value.expand_as(x).clone()


def occlusion_attribution(
    scores: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    base: torch.Tensor,
    window: int | Sequence[int] = 16,
    stride: int | Sequence[int] = 8,
    batch_size: int = 32,
    skip_unchanged: bool = True,
    progress: Progress | None = None,
    hidden: Callable[[list[Window]], torch.Tensor] | None = None,
    clean: float | None = None,
) -> tuple[np.ndarray, dict]:
    """The occlusion attribution ``(H, W)`` float32 of ``x`` ``(1, 3, H, W)``.

    ``scores`` maps a batch ``(N, 3, H, W)`` to ``(N,)`` target values; it is called with the
    clean image as the first row of the first batch. Equal to captum's
    ``Occlusion(scores).attribute(x, (3, w, w), (3, s, s), base)[0, 0]``.
    Alternatively ``hidden`` maps a list of windows to the ``(N,)`` target values of ``x`` with
    each window replaced by ``base`` (then ``clean``, the clean image's value, is required and
    ``scores`` is not called).
    Returns ``(attribution, info)``; ``info`` counts windows, skipped windows and forwards.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if base.shape != x.shape:
        raise ValueError(f"baseline shape {tuple(base.shape)} differs from x {tuple(x.shape)}")
    h, w = int(x.shape[2]), int(x.shape[3])
    wins = windows((h, w), window, stride)
    todo = [
        win
        for win in wins
        if not (skip_unchanged and torch.equal(x[..., win[0] : win[1], win[2] : win[3]],
                                               base[..., win[0] : win[1], win[2] : win[3]]))
    ]  # fmt: skip
    drops = np.zeros(len(todo), dtype=np.float64)
    if hidden is not None and clean is None:
        raise ValueError("hidden needs clean, the clean image's target value")
    clean_score: float | None = None if hidden is None else float(clean)
    forwards = 0
    start = 0
    while start < len(todo) or clean_score is None:
        first = clean_score is None
        chunk = todo[start : start + batch_size - (1 if first else 0)]
        if hidden is not None:
            values, rows = hidden(chunk).detach().double().cpu().numpy().reshape(-1), len(chunk)
        else:
            batch = x.expand(len(chunk) + first, -1, -1, -1).clone()
            for k, (r0, r1, c0, c1) in enumerate(chunk, start=first):
                batch[k, :, r0:r1, c0:c1] = base[0, :, r0:r1, c0:c1]
            values, rows = scores(batch).detach().double().cpu().numpy().reshape(-1), len(batch)
        forwards += 1
        if values.shape[0] != rows:
            raise ValueError(f"scores returned {values.shape[0]} values for {rows} images")
        if first:
            clean_score = float(values[0])
            values = values[1:]
        drops[start : start + len(chunk)] = clean_score - values
        start += len(chunk)
        if progress is not None:
            progress(start, len(todo))
    total = np.zeros((h, w), dtype=np.float64)
    count = np.zeros((h, w), dtype=np.float64)
    for r0, r1, c0, c1 in wins:
        count[r0:r1, c0:c1] += 1
    for (r0, r1, c0, c1), d in zip(todo, drops, strict=True):
        total[r0:r1, c0:c1] += d
    info = {
        "windows": len(wins),
        "evaluated": len(todo),
        "skipped": len(wins) - len(todo),
        "forwards": forwards,
        "clean_score": clean_score,
    }
    return (total / count).astype(np.float32), info


def canonical(params: dict) -> dict:
    """Occlusion's canonical parameters (defaults already filled in): ``window`` and ``stride``
    as ``[h, w]`` pixels, ``baseline``, and ``colour`` (RGB in [0, 1]) only for the ``mean``
    baseline, ``blur_sigma`` (pixels) only for ``blur``, with their defaults resolved."""
    win = _pair(params["window"], "window")
    baseline, colour, sigma = params["baseline"], params.get("colour"), params.get("blur_sigma")
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {', '.join(BASELINES)}, not {baseline!r}")
    out = {"window": list(win), "stride": list(_pair(params["stride"], "stride")),
           "baseline": baseline}  # fmt: skip
    if baseline == "mean":
        out["colour"] = [float(c) for c in (IMAGENET_MEAN if colour is None else colour)]
    if baseline == "blur":
        out["blur_sigma"] = min(win) / 2 if sigma is None else float(sigma)
    return out


@register(
    "occlusion",
    execution_only=("batch_size", "skip_unchanged", "engine", "incremental", "progress"),
    slow=True,
    canonical=canonical,
)
def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: EmbeddingTarget,
    window: int | Sequence[int] = 16,
    stride: int | Sequence[int] = 8,
    baseline: str = "blur",
    colour: Sequence[float] | None = None,
    blur_sigma: float | None = None,
    batch_size: int = 32,
    skip_unchanged: bool = True,
    engine: str = "auto",
    incremental: bool = False,
    progress: Progress | None = None,
) -> Heatmap:
    """Occlusion map of ``target`` on ``x`` (see the module docstring for the parameters).

    ``raw``: ``(H, W)`` attribution in target units (similarity drop when hidden; negative where
    hiding raises the similarity). ``map``: its positive part scaled to [0, 1].
    """
    t0 = time.perf_counter()
    win = _pair(window, "window")
    with explaining(model):
        inp = as_batch(x, model_device(model))
        base = baseline_image(inp, baseline, colour, blur_sigma, min(win))
        split, why = None, "turned off"
        if incremental and engine in ("auto", "onnx"):
            try:
                split, clean = incremental_path(model, inp, base, windows(inp.shape[-2:], win,
                                                                          stride))  # fmt: skip
            except Unsupported as exc:
                why = str(exc)
        if split is not None:
            bound = target.bind(clean[0])
            raw, info = occlusion_attribution(
                bound, inp, base, win, stride, batch_size, skip_unchanged, progress,
                hidden=lambda wins: bound(split(wins)), clean=float(bound(clean)[0]),
            )  # fmt: skip
            info.update(engine="onnx", incremental=True)
        else:
            run = engine_for(model, engine)
            bound_: list[EmbeddingTarget] = []

            def scores(batch: torch.Tensor) -> torch.Tensor:
                emb = run(batch)
                if not bound_:  # first batch: row 0 is the clean image
                    bound_.append(target.bind(emb[0]))
                return bound_[0](emb)

            raw, info = occlusion_attribution(
                scores, inp, base, win, stride, batch_size, skip_unchanged, progress
            )
            info.update(engine=run.kind, incremental=False, incremental_note=why)
            if run.note:
                info["engine_note"] = run.note
    params = canonical(
        {"window": win, "stride": stride, "baseline": baseline, "colour": colour,
         "blur_sigma": blur_sigma}
    )  # fmt: skip
    if engine in APPROXIMATE_ENGINES:
        params["approximate"] = engine
    info["seconds"] = time.perf_counter() - t0
    return Heatmap(
        map=positive_map(raw, raw.shape),
        raw=raw,
        method="occlusion",
        params=params,
        score=info["clean_score"],
        info=info,
    )
