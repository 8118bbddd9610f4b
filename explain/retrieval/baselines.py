"""Trivial matchers, the yardstick a re-ID model must beat: a colour histogram of the animal's
pixels and a perceptual hash.

Both give ``(N, D)`` unit-norm float32 features, so they go through the very metrics code the
checkpoints go through (:func:`explain.retrieval.metrics.evaluate`; cosine similarity):

``colour histogram``  30 hue × 4 saturation × 4 value bins (HSV) over the pixels brighter than
                      ``DARK`` (the animal of a segmented photo; every pixel when nothing is
                      dark), L1-normalised, square root (Hellinger), then L2-normalised: cosine
                      = Bhattacharyya coefficient. The bins were picked among 15 RGB/HSV
                      variants on the real photos (rank-1 0.23-0.51 there), so it is the
                      strongest histogram we found, an optimistic yardstick
``perceptual hash``   the 64-bit pHash of the animal's bounding box as ±1/8 per bit: cosine =
                      1 − 2·(Hamming distance)/64
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from curation.dataset import Dataset
from explain.retrieval.colour import colour_histograms

BASELINES = ("colour histogram", "perceptual hash")


def hash_features(phash: np.ndarray) -> np.ndarray:
    """``(N, 64)`` float32 unit vectors of ``(N,)`` uint64 hashes (±1/8 per bit, MSB first)."""
    bits = np.unpackbits(phash.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)
    return ((bits.astype(np.float32) * 2.0 - 1.0) / 8.0).astype(np.float32)


def baseline_features(
    dataset: Dataset,
    name: str,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Features of one of :data:`BASELINES` for every row of ``dataset.table``."""
    if name == "colour histogram":
        return colour_histograms(dataset, cache_dir=cache_dir, progress=progress)
    if name == "perceptual hash":
        from explain.retrieval.duplicates import image_hashes

        return hash_features(image_hashes(dataset, cache_dir=cache_dir, progress=progress).phash)
    raise ValueError(f"unknown baseline {name!r}; use one of {', '.join(BASELINES)}")


def evaluate_baselines(
    dataset: Dataset,
    *,
    names: tuple[str, ...] = BASELINES,
    cache_dir: Path | None = None,
    k: int = 10,
    max_rank: int = 20,
    exclude: pd.DataFrame | None = None,
) -> list[tuple[str, object]]:
    """``[(name, Evaluation)]`` of each baseline on the query/gallery split, scored by
    :func:`explain.retrieval.metrics.evaluate` like a checkpoint (``exclude``: see there)."""
    from explain.retrieval.metrics import evaluate

    query, gallery = dataset.split("query"), dataset.split("gallery")
    pos = {img: i for i, img in enumerate(dataset.table["image"])}
    qi = [pos[i] for i in query["image"]]
    gi = [pos[i] for i in gallery["image"]]
    out = []
    for name in names:
        feats = baseline_features(dataset, name, cache_dir=cache_dir)
        opts = {"k": k, "max_rank": max_rank, "exclude": exclude}
        out.append((name, evaluate(feats[qi], feats[gi], query, gallery, **opts)))
    return out


def yardstick(metrics: pd.DataFrame, baselines: list[tuple[str, object]]) -> pd.DataFrame:
    """Checkpoints and baselines in one table: ``matcher`` (checkpoint label or baseline name),
    ``kind`` (``checkpoint``/``baseline``), ``mAP``, ``rank1``, ``rank5``, ``rank10``, ``mINP``
    (fractions in [0, 1]); ``metrics``: ``SeriesEvaluation.metrics``."""
    cols = ["mAP", "rank1", "rank5", "rank10", "mINP"]
    rows = [{"matcher": r["label"], "kind": "checkpoint", **{c: float(r[c]) for c in cols}}
            for _, r in metrics.iterrows()]  # fmt: skip
    rows += [{"matcher": name, "kind": "baseline", **{c: float(ev.summary.get(c, np.nan))
              for c in cols}} for name, ev in baselines]  # fmt: skip
    return pd.DataFrame(rows, columns=["matcher", "kind", *cols])


def verdict(table: pd.DataFrame) -> str:
    """One sentence: is the last checkpoint's mAP above the best baseline's (a
    :func:`yardstick` table)?"""
    ckpt, base = table[table["kind"] == "checkpoint"], table[table["kind"] == "baseline"]
    if ckpt.empty or base.empty:
        return "nothing to compare: no checkpoint or no baseline"
    last, best = ckpt.iloc[-1], base.loc[base["mAP"].idxmax()]
    word = "above" if last["mAP"] > best["mAP"] else "NOT above"
    return (
        f"{last['matcher']}: mAP {last['mAP']:.3f}, {word} the best trivial baseline "
        f"({best['matcher']}, mAP {best['mAP']:.3f}); rank-1 {last['rank1']:.3f} vs "
        f"{best['rank1']:.3f}"
    )
