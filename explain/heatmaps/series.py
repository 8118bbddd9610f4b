"""Heatmaps of one image (or one pair) for every checkpoint of a series, in one call.

Input: a list of loaded models (:class:`explain.models.checkpoints.LoadedModel`, or plain
``nn.Module`` for tests and notebooks), ordered by epoch. Output: one :class:`Heatmap` per
checkpoint, so the app can show epochs 3/12/30/60 side by side, plus how the explanation changed
from one checkpoint to the next:

- change score: Spearman rank correlation of consecutive maps over all pixels (1 = the same
  ranking of regions, 0 = unrelated; NaN when a map is constant);
- difference map: later minus earlier map, ``(H, W)`` float32 in [-1, 1].

For a pair (query vs its top-1 match), each checkpoint computes both embeddings itself and
explains both directions: the query against the match and the match against the query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from explain.heatmaps.base import Heatmap, as_batch, embed, explaining, model_device
from explain.heatmaps.cache import HeatmapCache, get_or_compute
from explain.heatmaps.targets import as_target, pair_targets

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Member:
    """One checkpoint of a series: the model and what identifies it."""

    model: nn.Module
    label: str
    epoch: int | None = None
    sha1: str | None = None


def members(models: Sequence[object]) -> list[Member]:
    """Normalise a series of LoadedModel-like objects (``.model``, ``.epoch``, ``.sha1``) or
    plain modules."""
    out = []
    for i, m in enumerate(models):
        if isinstance(m, nn.Module):
            out.append(Member(m, f"model {i}"))
        elif isinstance(getattr(m, "model", None), nn.Module):
            epoch = getattr(m, "epoch", None)
            label = getattr(m, "label", None) or (f"epoch {epoch}" if epoch is not None else str(i))
            out.append(Member(m.model, label, epoch, getattr(m, "sha1", None)))
        else:
            raise ValueError(
                f"series entry {i} is {type(m).__name__}; pass nn.Module or LoadedModel objects"
            )
    if not out:
        raise ValueError("the series is empty; load it with explain.models.series.load_series")
    return out


@dataclass
class SeriesMaps:
    """Heatmaps of one image across a series, in series order."""

    labels: list[str]
    epochs: list[int | None]
    heatmaps: list[Heatmap]
    image: str = ""
    extra: dict = field(default_factory=dict)

    def change_scores(self) -> list[float]:
        """Spearman of each consecutive pair of maps (``len - 1`` values)."""
        return change_scores([h.map for h in self.heatmaps])

    def differences(self) -> list[np.ndarray]:
        """``map[i + 1] - map[i]`` for each consecutive pair, float32 in [-1, 1]."""
        return difference_maps([h.map for h in self.heatmaps])


def change_score(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape over all pixels.

    NaN when either map is constant (no ranking to compare).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"maps of different shapes {a.shape} and {b.shape}; resize them first")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a.ravel(), b.ravel()).statistic)


def change_scores(maps: Sequence[np.ndarray]) -> list[float]:
    """:func:`change_score` of each consecutive pair."""
    return [change_score(maps[i], maps[i + 1]) for i in range(len(maps) - 1)]


def difference_maps(maps: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``maps[i + 1] - maps[i]``, float32 ``(H, W)`` in [-1, 1] for maps in [0, 1]."""
    out = []
    for i in range(len(maps) - 1):
        a, b = np.asarray(maps[i], np.float32), np.asarray(maps[i + 1], np.float32)
        if a.shape != b.shape:
            raise ValueError(f"maps of different shapes {a.shape} and {b.shape}")
        out.append(b - a)
    return out


def series_maps(
    models: Sequence[object],
    x: torch.Tensor,
    method: str = "gradcam",
    target: object = "self",
    *,
    cache: HeatmapCache | None = None,
    image_sha1: str | None = None,
    target_ref: str | None = None,
    progress: Progress | None = None,
    **params,
) -> SeriesMaps:
    """Maps of image ``x`` (normalised ``(3, H, W)``/``(1, 3, H, W)``) for every checkpoint.

    ``target``: ``"self"`` (each checkpoint explains the image's similarity to itself) or an
    explicit target used for every checkpoint. With ``cache`` and ``image_sha1``, maps of
    checkpoints with a known ``sha1`` are read from / written to the cache.
    """
    ms = members(models)
    tgt = as_target(target)
    out = []
    for i, m in enumerate(ms):
        out.append(_one(m, x, tgt, method, cache, image_sha1, target_ref, params))
        if progress is not None:
            progress(i + 1, len(ms))
    return SeriesMaps([m.label for m in ms], [m.epoch for m in ms], out)


def _one(m: Member, x, target, method, cache, image_sha1, target_ref, params) -> Heatmap:
    if cache is not None and m.sha1 and image_sha1:
        return get_or_compute(
            cache,
            m.model,
            x,
            target,
            method,
            checkpoint_sha1=m.sha1,
            image_sha1=image_sha1,
            target_ref=target_ref,
            **params,
        )
    return get_or_compute(None, m.model, x, target, method, **params)


def pair_embeddings(model: nn.Module, xq: torch.Tensor, xg: torch.Tensor) -> torch.Tensor:
    """Embeddings ``(2, D)`` of a query and a match under ``model`` (eval mode, no gradient)."""
    with explaining(model):
        device = model_device(model)
        return embed(model, torch.cat([as_batch(xq, device), as_batch(xg, device)]))


def series_pair_maps(
    models: Sequence[object],
    query_x: torch.Tensor,
    match_x: torch.Tensor,
    method: str = "gradcam",
    *,
    cache: HeatmapCache | None = None,
    query_sha1: str | None = None,
    match_sha1: str | None = None,
    progress: Progress | None = None,
    **params,
) -> tuple[SeriesMaps, SeriesMaps]:
    """Both directions of a pair for every checkpoint: ``(query maps, match maps)``.

    Each checkpoint embeds both images, then explains the query's similarity to the match and
    the match's similarity to the query. ``extra["similarity"]`` holds the cosine similarity
    of the pair per checkpoint.
    """
    ms = members(models)
    q_maps, g_maps, sims = [], [], []
    for i, m in enumerate(ms):
        emb = pair_embeddings(m.model, query_x, match_x)
        t_q, t_g = pair_targets(emb[0], emb[1], query_sha1, match_sha1)
        q_ref = f"pair:{match_sha1}" if match_sha1 else None
        g_ref = f"pair:{query_sha1}" if query_sha1 else None
        q_maps.append(_one(m, query_x, t_q, method, cache, query_sha1, q_ref, params))
        g_maps.append(_one(m, match_x, t_g, method, cache, match_sha1, g_ref, params))
        sims.append(float(t_q(emb[0])))
        if progress is not None:
            progress(i + 1, len(ms))
    labels, epochs = [m.label for m in ms], [m.epoch for m in ms]
    return (
        SeriesMaps(labels, epochs, q_maps, extra={"similarity": sims}),
        SeriesMaps(labels, epochs, g_maps, extra={"similarity": sims}),
    )


__all__ = [
    "Member",
    "SeriesMaps",
    "change_score",
    "change_scores",
    "difference_maps",
    "members",
    "pair_embeddings",
    "series_maps",
    "series_pair_maps",
]
