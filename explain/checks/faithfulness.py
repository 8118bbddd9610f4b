"""Deletion / insertion curves and ROAD: does hiding what a map points at change the match?

- Deletion / insertion curves (Petsiuk et al. 2018): hide (or reveal) pixels from the most to
  the least salient and follow the target; compared against pytorch-grad-cam's ``RandomCAM``.
- ROAD (Rong et al. 2022) through pytorch-grad-cam's ``ROADCombined`` (noisy linear imputation).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from explain.heatmaps.base import as_batch, explaining, model_device
from explain.heatmaps.catalog import compute, reference_method
from explain.heatmaps.methods.occlusion import baseline_image
from explain.heatmaps.targets import EmbeddingTarget, SelfSimilarity, as_target
from explain.models.engine import engine_for

Progress = Callable[[int, int], None]


def _order(saliency: np.ndarray, seed: int) -> np.ndarray:
    """Pixel indices from the most to the least salient; ties broken by a seeded shuffle."""
    flat = np.asarray(saliency, dtype=np.float64).ravel()
    tie = np.random.default_rng(seed).permutation(flat.size)
    return np.lexsort((tie, -flat))


def perturbation_curves(
    model: nn.Module,
    x: torch.Tensor,
    target: object,
    saliency: np.ndarray,
    *,
    steps: int = 16,
    baseline: str = "blur",
    seed: int = 0,
    engine: str = "auto",
) -> dict:
    """Deletion and insertion curves of one saliency map ``(H, W)``.

    Deletion: replace the top ``k / steps`` share of pixels by the baseline and score the
    target (bound to the clean embedding); insertion: start from the baseline and reveal them.
    Returns ``fractions``, ``deletion``, ``insertion`` (arrays of ``steps + 1`` target values)
    and their areas under the curve ``deletion_auc`` (lower = more faithful) and
    ``insertion_auc`` (higher = more faithful), both over fractions in [0, 1].
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    tgt = as_target(target)
    with explaining(model):
        inp = as_batch(x, model_device(model))
        h, w = inp.shape[2:]
        if np.asarray(saliency).shape != (h, w):
            raise ValueError(f"saliency shape {np.asarray(saliency).shape} differs from {(h, w)}")
        base = baseline_image(inp, baseline)
        order = torch.from_numpy(_order(saliency, seed))
        fractions = np.linspace(0.0, 1.0, steps + 1)
        images = []
        for keep_first in (False, True):  # deletion, then insertion
            for f in fractions:
                mask = torch.zeros(h * w, dtype=torch.bool)
                mask[order[: round(f * h * w)]] = True
                mask = mask.view(1, 1, h, w).to(inp.device)
                images.append(torch.where(mask, inp, base) if keep_first else
                              torch.where(mask, base, inp))  # fmt: skip
        run = engine_for(model, engine)
        emb = torch.cat([run(torch.cat(images[i : i + 32])) for i in range(0, len(images), 32)])
        clean = run(inp)[0]
        values = tgt.bind(clean)(emb).double().cpu().numpy()
    deletion, insertion = values[: steps + 1], values[steps + 1 :]
    return {
        "fractions": fractions,
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": float(np.trapezoid(deletion, fractions)),
        "insertion_auc": float(np.trapezoid(insertion, fractions)),
    }


def road_score(
    model: nn.Module,
    x: torch.Tensor,
    target: object,
    saliency: np.ndarray,
    percentiles: Sequence[int] = (20, 40, 60, 80),
    seed: int = 0,
) -> float:
    """pytorch-grad-cam's ``ROADCombined``: ``(LeRF - MoRF) / 2`` of the target, averaged over
    ``percentiles`` (higher = more faithful). The imputation noise is seeded."""
    from pytorch_grad_cam.metrics.road import ROADCombined

    tgt = as_target(target)
    with explaining(model):
        inp = as_batch(x, model_device(model))
        with torch.no_grad():
            bound = tgt.bind(model(inp)[0])
        cams = np.asarray(saliency, dtype=np.float32)[None]
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(seed)
            # the library turns 0-d tensors into numpy scalars the way numpy 2 deprecates
            warnings.filterwarnings("ignore", "__array_wrap__", DeprecationWarning)
            score = ROADCombined(percentiles=list(percentiles))(inp, cams, [bound], model)
    return float(np.asarray(score).reshape(-1)[0])


def faithfulness_check(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    methods: Sequence[str],
    *,
    reference: str | None = None,
    road: bool = False,
    steps: int = 16,
    params: dict[str, dict] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Deletion/insertion AUC (and ROAD when ``road``) per method and image, for ``methods``
    plus the ``reference`` method (None: the catalog's, RandomCAM). Each image explains its own
    embedding. ``params[method]``: its parameters (:func:`explain.heatmaps.catalog.method_params`).
    """
    params = params or {}
    reference = reference_method() if reference is None else reference
    names = list(dict.fromkeys([*methods, reference]))
    rows = []
    for i, x in enumerate(images):
        target: EmbeddingTarget = SelfSimilarity()
        for method in names:
            hm = compute(method, model, x, target, **params.get(method, {}))
            curves = perturbation_curves(model, x, target, hm.map, steps=steps)
            row = {
                "method": method,
                "image": i,
                "deletion_auc": curves["deletion_auc"],
                "insertion_auc": curves["insertion_auc"],
            }
            if road:
                row["road"] = road_score(model, x, target, hm.map)
            rows.append(row)
        if progress is not None:
            progress(i + 1, len(images))
    return pd.DataFrame(rows)


def faithfulness_summary(rows: pd.DataFrame, reference: str | None = None) -> pd.DataFrame:
    """Means per method and whether each beats the reference (None: the catalog's reference
    method; lower deletion AUC, higher insertion AUC, higher ROAD when present)."""
    reference = reference_method() if reference is None else reference
    metrics = [c for c in ("deletion_auc", "insertion_auc", "road") if c in rows.columns]
    means = rows.groupby("method", sort=False)[metrics].mean()
    if reference not in means.index:
        raise ValueError(f"the rows hold no {reference!r} maps to compare against")
    ref = means.loc[reference]
    out = means.copy()
    out["beats_random_deletion"] = means["deletion_auc"] < ref["deletion_auc"]
    out["beats_random_insertion"] = means["insertion_auc"] > ref["insertion_auc"]
    if "road" in metrics:
        out["beats_random_road"] = means["road"] > ref["road"]
    out["n"] = rows.groupby("method", sort=False).size()
    return out.reset_index()
