"""Search a gallery with a new photo: the nearest posts, as a lost-pet volunteer would ask.

A post is one animal, so results are ranked by post: each post's best-matching photo, ordered by
cosine similarity. The *margin* of the best post is its similarity minus that of the runner-up
post, the second piece of evidence :mod:`explain.retrieval.confidence` calibrates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from explain.retrieval.embeddings import extract
from explain.retrieval.index import build_index, search


def embed_photos(loaded: object, paths: Sequence[str | Path], *, flip: bool = False) -> np.ndarray:
    """Unit-norm features ``(N, D)`` of image files with a ``LoadedModel`` at its input size."""
    model: torch.nn.Module = loaded.model  # type: ignore[attr-defined]
    height, width = loaded.input_size  # type: ignore[attr-defined]
    return extract(model, list(paths), height=height, width=width, flip=flip)


def nearest_posts(
    query: np.ndarray,
    gallery_features: np.ndarray,
    gallery: pd.DataFrame,
    *,
    posts: int = 5,
) -> pd.DataFrame:
    """The ``posts`` nearest posts to one query feature ``(D,)`` (unit norm).

    ``gallery``: manifest rows (``image``, ``post_id``) aligned with ``gallery_features``
    ``(G, D)``. Returns ``rank`` (1 = best), ``post_id``, ``image`` (the post's best photo),
    ``similarity`` (cosine, in [-1, 1]), ``photos`` (gallery photos of the post), and on every
    row ``margin`` = best post's similarity minus the second post's (0 with one post).
    """
    q = np.asarray(query, dtype=np.float32).reshape(1, -1)
    if len(gallery_features) != len(gallery):
        raise ValueError(
            f"{len(gallery_features)} feature rows for {len(gallery)} gallery rows; embed the "
            "same rows"
        )
    if posts < 1:
        raise ValueError(f"posts must be at least 1, not {posts}")
    if not len(gallery):
        raise ValueError("the gallery is empty: nothing to search")
    sims, idx = search(build_index(gallery_features), q, len(gallery))
    ids = gallery["post_id"].astype(str).to_numpy()[idx[0]]
    images = gallery["image"].to_numpy()[idx[0]]
    counts = gallery["post_id"].astype(str).value_counts()
    rows, seen = [], set()
    for sim, post, image in zip(sims[0], ids, images, strict=True):
        if post in seen:
            continue
        seen.add(post)
        rows.append({"post_id": post, "image": image, "similarity": float(sim),
                     "photos": int(counts[post])})  # fmt: skip
        if len(rows) == posts + 1:
            break
    margin = rows[0]["similarity"] - rows[1]["similarity"] if len(rows) > 1 else 0.0
    out = pd.DataFrame(rows[:posts])
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["margin"] = float(margin)
    return out
