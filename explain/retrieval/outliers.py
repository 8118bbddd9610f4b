"""Per-photo outlier scores: photos that do not belong with the other photos of their post.

A mixed post (a second animal, a stray photo from another ad) shows up in the embeddings: the
stray photo is far from what the rest of its post looks like. For every photo of a post with at
least ``min_photos`` photos:

``loo_similarity``  cosine similarity of the photo's embedding to the leave-one-out centroid of
                    its post (the normalised mean of the other photos' embeddings), in [-1, 1]
``robust_z``        ``(loo_similarity - median) / (1.4826 * MAD)`` over every scored photo of
                    the same split (negative: less like its post than usual; per split, as a
                    model is closer to the train photos it learnt than to unseen gallery ones)
``percentile``      share of scored photos of the split whose ``loo_similarity`` is lower
``outlier``         ``-robust_z`` clipped at 0: higher is more outlying (0 for typical photos)
``gap``             the photo's ``loo_similarity`` minus the median of its post-mates' values:
                    a stray is below the others of its own post

Posts with fewer photos get NaN scores and a ``note``: with two photos the two similarities are
equal, so which one is the stray cannot be told.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

OUTLIER_COLUMNS = ("image", "post_id", "split", "n_photos", "loo_similarity", "robust_z",
                   "percentile", "outlier", "gap", "note")  # fmt: skip
MAD_SCALE = 1.4826  # MAD of a normal distribution times this is its standard deviation
_EPS = 1e-12


def loo_similarities(features: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``features`` ``(n, D)`` (n >= 2) to the normalised mean
    of the other rows: ``(n,)`` in [-1, 1]."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (n >= 2, D), got shape {f.shape}")
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), _EPS)
    rest = f.sum(axis=0, keepdims=True) - f
    rest /= np.maximum(np.linalg.norm(rest, axis=1, keepdims=True), _EPS)
    return np.clip((f * rest).sum(axis=1), -1.0, 1.0)


def photo_outliers(
    table: pd.DataFrame,
    features: np.ndarray,
    *,
    min_photos: int = 3,
    group: Sequence[str] = ("split", "post_id"),
) -> pd.DataFrame:
    """Outlier scores of every photo (see the module docstring), one row per row of ``table``.

    ``table``: ``image``, ``post_id``, ``split`` (a dataset's table or part of it), in the order
    of ``features`` ``(len(table), D)``. ``group``: the columns that make a post (by default a
    post's photos in train, query and gallery are scored apart; ``("post_id",)`` joins them).
    ``min_photos``: fewest photos a post needs to be scored (>= 3).
    Rows are sorted by ``outlier`` (highest first), then image.
    """
    missing = [c for c in ("image", "post_id", "split", *group) if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks column(s) {', '.join(sorted(set(missing)))}")
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] != len(table):
        raise ValueError(
            f"features must be (len(table)={len(table)}, D), got shape {feats.shape}; pass the "
            "embeddings of the table's rows in table order"
        )
    if int(min_photos) < 3:
        raise ValueError(
            f"min_photos must be at least 3, got {min_photos}: with two photos which one is the "
            "stray cannot be told"
        )
    t = table.reset_index(drop=True)
    loo = np.full(len(t), np.nan)
    gap = np.full(len(t), np.nan)
    n_photos = np.zeros(len(t), dtype=int)
    notes = [""] * len(t)
    for _, idx in t.groupby(list(group), sort=False).indices.items():
        n_photos[idx] = len(idx)
        if len(idx) < min_photos:
            for i in idx:
                notes[i] = f"post has {len(idx)} photo(s) here; at least {min_photos} are scored"
            continue
        s = loo_similarities(feats[idx])
        loo[idx] = s
        for k, i in enumerate(idx):
            gap[i] = s[k] - float(np.median(np.delete(s, k)))
    z = np.full(len(t), np.nan)
    pct = np.full(len(t), np.nan)
    for _, idx in t.groupby("split", sort=False).indices.items():
        ok = idx[~np.isnan(loo[idx])]
        if not ok.size:
            continue
        scored = loo[ok]
        med = float(np.median(scored))
        mad = float(np.median(np.abs(scored - med))) * MAD_SCALE
        z[ok] = (scored - med) / max(mad, 1e-6)
        pct[ok] = np.searchsorted(np.sort(scored), scored, side="left") / scored.size
    out = pd.DataFrame({
        "image": t["image"].astype(str), "post_id": t["post_id"].astype(str),
        "split": t["split"].astype(str), "n_photos": n_photos, "loo_similarity": loo,
        "robust_z": z, "percentile": pct, "outlier": np.clip(-z, 0.0, None), "gap": gap,
        "note": notes,
    })  # fmt: skip
    order = out["outlier"].fillna(-1.0)
    return (
        out.assign(_o=-order)
        .sort_values(["_o", "image"], kind="mergesort")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
