"""Would better segmentation help? Where the attribution lies, and where the mask fails.

Per photo, the positive attribution of a map (``(H, W)`` >= 0 at the input resolution) is split
into three shares that sum to 1:

- ``background``: outside the silhouette (what segmentation removed: black on a segmented photo);
- ``intruder``: inside the silhouette but not animal — hands, collars, grass, cushions that
  survived segmentation (detected by :mod:`curation.perception` detectors, or the manifest's
  ground-truth artifact masks: the caller says which);
- ``animal``: the rest of the silhouette.

Dark fur: the old threshold mask (any channel > 16) leaves black fur out of the animal; the
silhouette fills it. A photo whose threshold mask misses at least ``DARK_LOSS`` of its
silhouette is a dark-fur mask failure of the old rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from explain.diagnose.stats import Estimate, bootstrap_mean

REGIONS = ("background", "animal", "intruder")
DARK_LOSS = 0.10  # share of the silhouette the threshold mask misses for a "dark" animal


def _mask(m: np.ndarray | None, shape: tuple[int, ...], name: str) -> np.ndarray:
    if m is None:
        return np.zeros(shape, dtype=bool)
    m = np.asarray(m, dtype=bool)
    if m.shape != shape:
        raise ValueError(f"{name} mask has shape {m.shape}, the map {shape}; resize it first")
    return m


def attribution_shares(
    attribution: np.ndarray, silhouette: np.ndarray, intruder: np.ndarray | None = None
) -> dict[str, float]:
    """Shares of the positive attribution on ``background``, ``animal`` and ``intruder``.

    ``attribution``: ``(H, W)``, negative values ignored; ``silhouette``: ``(H, W)`` bool, the
    segmentation mask; ``intruder``: ``(H, W)`` bool, non-animal pixels (only the part inside
    the silhouette counts; outside it is background anyway). Each share in [0, 1], summing to
    1; all NaN when the map has no positive attribution.
    """
    a = np.maximum(np.asarray(attribution, dtype=np.float64), 0)
    if a.ndim != 2:
        raise ValueError(f"attribution must be (H, W), got shape {a.shape}")
    sil = _mask(silhouette, a.shape, "silhouette")
    intr = _mask(intruder, a.shape, "intruder") & sil
    total = a.sum()
    if total <= 0:
        return {r: float("nan") for r in REGIONS}
    bg = a[~sil].sum() / total
    it = a[intr].sum() / total
    return {"background": float(bg), "animal": float(1.0 - bg - it), "intruder": float(it)}


def summarise_shares(rows: pd.DataFrame, **kw) -> dict[str, Estimate]:
    """Mean share per region over photos (one row per photo, columns :data:`REGIONS`), each
    with a bootstrap interval over photos."""
    missing = [r for r in REGIONS if r not in rows.columns]
    if missing:
        raise ValueError(f"share rows lack columns {missing}; build them with attribution_shares")
    return {r: bootstrap_mean(rows[r].to_numpy(), **kw) for r in REGIONS}


def mask_loss(silhouette: np.ndarray, threshold: np.ndarray) -> dict[str, float]:
    """How much of the ``silhouette`` (``(H, W)`` bool) the old ``threshold`` mask misses.

    Returns ``silhouette_area`` and ``threshold_area`` (shares of the photo, [0, 1]) and
    ``lost`` (share of the silhouette outside the threshold mask, [0, 1]; NaN for an empty
    silhouette).
    """
    sil = np.asarray(silhouette, dtype=bool)
    thr = _mask(threshold, sil.shape, "threshold")
    n = sil.sum()
    lost = float((sil & ~thr).sum() / n) if n else float("nan")
    return {"silhouette_area": float(sil.mean()), "threshold_area": float(thr.mean()),
            "lost": lost}  # fmt: skip


def dark_animals(rows: pd.DataFrame, min_loss: float = DARK_LOSS) -> pd.DataFrame:
    """Photos whose threshold mask misses at least ``min_loss`` of the silhouette, worst first.

    ``rows``: one row per photo with ``image``, ``post_id`` and ``lost`` (:func:`mask_loss`).
    """
    if not 0 <= min_loss <= 1:
        raise ValueError(f"min_loss must lie in [0, 1], got {min_loss}")
    dark = rows[rows["lost"] >= min_loss]
    return dark.sort_values(["lost", "image"], ascending=[False, True]).reset_index(drop=True)


def intruder_union(masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Union of region masks (each ``(H, W)`` bool) — an empty mask when there are none."""
    out = np.zeros(shape, dtype=bool)
    for m in masks:
        out |= _mask(m, shape, "region")
    return out
