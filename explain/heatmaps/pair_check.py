"""When a pair explanation is no evidence: the two photos are (nearly) the same picture.

A pair map explains the similarity of a query to its match through the gradient of that
similarity. When the match is the query itself, a re-encode or a crop of it (a repost), the
similarity sits at its ceiling (about 1): the gradient is close to zero and what is left of it
is noise — maps of one identical pair agreed across checkpoints with Spearman 0.14-0.21 on the
real photos. :func:`pair_caveat` says so, and the
Heatmaps page and ``workbench explain maps --match`` show it instead of drawing the maps as
evidence.
"""

from __future__ import annotations

import numpy as np

NEAR_IDENTICAL = 0.98  # cosine similarity from which a pair counts as one picture


def copy_inliers(a: np.ndarray, b: np.ndarray) -> int:
    """Local keypoints one similarity transform maps from ``a`` onto ``b`` (``(H, W, 3)``
    uint8 photos; :mod:`explain.retrieval.copies`); 25 or more: the same picture."""
    from explain.retrieval.copies import compare, local_features

    return compare(local_features(a), local_features(b)).inliers


def pair_caveat(
    similarity: float | None = None,
    *,
    inliers: int = 0,
    same_file: bool = False,
    near_identical: float = NEAR_IDENTICAL,
) -> str | None:
    """None when a pair explanation can be read; else one sentence saying why it cannot.

    ``similarity``: cosine similarity of the pair's embeddings (None: unknown); ``inliers``:
    :func:`copy_inliers` of the two photos; ``same_file``: both sides are one file.
    """
    from explain.retrieval.duplicates import COPY_INLIERS

    if similarity is not None and not -1.0001 <= similarity <= 1.0001:
        raise ValueError(f"similarity must be a cosine in [-1, 1], not {similarity}")
    if same_file:
        why = "both sides are the same file"
    elif inliers >= COPY_INLIERS:
        why = f"the two photos are one picture ({inliers} keypoints match: a repost or a crop)"
    elif similarity is not None and similarity >= near_identical:
        why = f"the similarity is {similarity:.3f}, at its ceiling"
    else:
        return None
    return (
        f"Pair explanation not informative: {why}. Its gradient is close to zero and the map is "
        "mostly noise (identical pairs' maps agree across checkpoints with Spearman 0.14-0.21); "
        "read the self-similarity maps instead, and treat the match as a near-copy (leakage)."
    )
