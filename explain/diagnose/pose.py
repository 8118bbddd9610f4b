"""Would aligned poses help? Decide each photo's facing side, align, and compare.

Two ways to decide the side, both without labels:

- :func:`silhouette_side` (used): the head rises above the back, so the top of the silhouette
  (its highest 30 % of rows) lies towards the head: ``side = sign(x of the top part - x of the
  whole silhouette)``, +1 = head on the right of the picture. On the sample's side views it
  agrees with the generator's side for 97 % of the query/gallery photos (epoch-independent);
- :func:`facing_sides` (reported beside it): ``d = f(photo) - f(mirrored photo)`` (unit
  embeddings); mirroring negates ``d``, so the two sides fall on opposite sides of the leading
  direction of all ``d``: ``side = sign(d · u)`` (which side is +1 is arbitrary). On the
  sample it is barely better than chance (0.55): the small model hardly encodes the side.

Aligning a photo means using the embedding of the mirrored photo when it is on side -1, so
every photo faces +1; retrieval is evaluated aligned vs as-is (and with flip averaging, the
other way to ignore the side), paired over queries.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from explain.diagnose.stats import Estimate, bootstrap_mean, paired_difference
from explain.retrieval.metrics import rank_metrics


def _pair(feat: np.ndarray, flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(feat, np.float64), np.asarray(flipped, np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(
            f"features and flipped features must both be (N, D), got {a.shape} and {b.shape}"
        )
    return a, b


TOP_ROWS = 0.3  # share of the silhouette's rows, from its top, that holds the head side


def silhouette_side(mask: np.ndarray) -> tuple[int, float]:
    """Facing side of an animal mask (``(H, W)`` bool): +1 head on the right, -1 on the left,
    and the strength ``|dx| / W`` in [0, 1] (0 for an empty or symmetric mask, side +1)."""
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {m.shape}")
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return 1, 0.0
    top = ys < np.quantile(ys, TOP_ROWS)
    if not top.any():
        return 1, 0.0
    dx = float(xs[top].mean() - xs.mean())
    return (1 if dx >= 0 else -1), abs(dx) / m.shape[1]


def facing_sides(feat: np.ndarray, flipped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Side of every photo, ``(N,)`` int in {+1, -1}, and its strength ``|d · u|`` (``(N,)``,
    0 = the model sees no difference between the photo and its mirror image).

    ``feat``, ``flipped``: ``(N, D)`` embeddings of the photos and of their horizontal mirrors.
    """
    a, b = _pair(feat, flipped)
    d = a - b
    if len(d) == 0:
        return np.zeros(0, int), np.zeros(0)
    _, _, vt = np.linalg.svd(d, full_matrices=False)
    proj = d @ vt[0]
    if proj.sum() < 0:  # fix the arbitrary sign: side A is the larger mass
        proj = -proj
    return np.where(proj >= 0, 1, -1), np.abs(proj)


def align(feat: np.ndarray, flipped: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Embeddings with every side-B photo replaced by its mirror image's: ``(N, D)``."""
    a, b = _pair(feat, flipped)
    s = np.asarray(sides)
    if s.shape != (len(a),):
        raise ValueError(f"sides must be ({len(a)},), got {s.shape}")
    return np.where((s < 0)[:, None], b, a).astype(np.float32)


def side_accuracy(sides: np.ndarray, truth: np.ndarray) -> float:
    """Share of photos whose side agrees with ``truth`` (+1/-1, 0 = unknown, left out), under the
    better of the two labellings (side A may be either truth side), in [0.5, 1]; NaN without
    truth."""
    s, t = np.asarray(sides), np.asarray(truth)
    known = t != 0
    if not known.any():
        return float("nan")
    agree = float((s[known] == t[known]).mean())
    return max(agree, 1.0 - agree)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def retrieval(q: np.ndarray, g: np.ndarray, q_pids, g_pids, q_cam, g_cam):
    """:func:`explain.retrieval.metrics.rank_metrics` of cosine distances between unit rows."""
    dist = 1.0 - _unit(q) @ _unit(g).T
    return rank_metrics(dist, np.asarray(q_pids), np.asarray(g_pids), np.asarray(q_cam),
                        np.asarray(g_cam), max_rank=max(1, min(50, len(g))))  # fmt: skip


def compare_alignment(
    q: tuple[np.ndarray, np.ndarray],
    g: tuple[np.ndarray, np.ndarray],
    q_pids: Sequence,
    g_pids: Sequence,
    q_cam: Sequence,
    g_cam: Sequence,
    q_sides: np.ndarray,
    g_sides: np.ndarray,
) -> dict:
    """mAP and rank-1 as-is, aligned and flip-averaged, with paired differences over queries.

    ``q``, ``g``: ``(features, flipped features)`` of queries ``(Q, D)`` and gallery ``(G, D)``.
    Returns ``{"as_is"|"aligned"|"flip_average": {"mAP", "rank1"}: Estimate,
    "gain_aligned"|"gain_flip_average": {"mAP", "rank1"}: Estimate (paired over valid queries),
    "per_query": DataFrame (ap and rank-1 hit per arm)}``.
    """
    arms = {
        "as_is": (q[0], g[0]),
        "aligned": (align(*q, q_sides), align(*g, g_sides)),
        "flip_average": (q[0] + q[1], g[0] + g[1]),
    }
    per_query = {}
    for arm, (qf, gf) in arms.items():
        m = retrieval(qf, gf, q_pids, g_pids, q_cam, g_cam)
        per_query[f"ap_{arm}"] = m.ap
        per_query[f"hit_{arm}"] = np.where(m.first > 0, (m.first == 1).astype(float), np.nan)
    pq = pd.DataFrame(per_query)
    valid = pq["ap_as_is"].notna()
    pq_valid = pq[valid]
    out: dict = {"per_query": pq}
    for arm in arms:
        out[arm] = {"mAP": bootstrap_mean(pq_valid[f"ap_{arm}"]),
                    "rank1": bootstrap_mean(pq_valid[f"hit_{arm}"])}  # fmt: skip
    for arm in ("aligned", "flip_average"):
        out[f"gain_{arm}"] = {
            "mAP": paired_difference(pq_valid["ap_as_is"], pq_valid[f"ap_{arm}"]),
            "rank1": paired_difference(pq_valid["hit_as_is"], pq_valid[f"hit_{arm}"]),
        }
    return out


def pose_spread(post_ids: Sequence, sides: np.ndarray) -> pd.DataFrame:
    """Per post: ``photos``, ``side_a``, ``side_b`` and ``mixed`` (both sides present), sorted by
    post."""
    df = pd.DataFrame({"post_id": list(post_ids), "side": np.asarray(sides)})
    if df.empty:
        return pd.DataFrame(columns=["post_id", "photos", "side_a", "side_b", "mixed"])
    g = df.groupby("post_id", sort=True)["side"]
    out = pd.DataFrame({"photos": g.size(), "side_a": g.apply(lambda s: int((s > 0).sum())),
                        "side_b": g.apply(lambda s: int((s < 0).sum()))})  # fmt: skip
    out["mixed"] = (out["side_a"] > 0) & (out["side_b"] > 0)
    return out.reset_index()


def map_agreement(maps: Sequence[np.ndarray], post_ids: Sequence, sides: np.ndarray) -> dict:
    """Do maps agree better once poses are aligned? For every pair of photos of one post on
    opposite sides: Spearman of the two maps as they are, and with the side-B map mirrored
    (the map flipped with its photo, not recomputed).

    ``maps``: ``(H, W)`` arrays, one per photo. Returns ``{"as_is", "aligned", "gain"}``
    Estimates over pairs and ``pairs`` (their count).
    """
    if not len(maps) == len(post_ids) == len(sides):
        raise ValueError("maps, post_ids and sides must have one entry per photo")
    by_post: dict = {}
    for i, p in enumerate(post_ids):
        by_post.setdefault(p, []).append(i)
    raw, aligned = [], []
    for idx in by_post.values():
        for i, j in itertools.combinations(idx, 2):
            if sides[i] == sides[j]:
                continue
            a, b = (i, j) if sides[i] > 0 else (j, i)
            ma, mb = np.asarray(maps[a], float).ravel(), np.asarray(maps[b], float)
            if np.ptp(ma) == 0 or np.ptp(mb) == 0:
                continue
            raw.append(spearmanr(ma, mb.ravel()).statistic)
            aligned.append(spearmanr(ma, mb[:, ::-1].ravel()).statistic)
    est: dict[str, Estimate | int] = {
        "as_is": bootstrap_mean(raw),
        "aligned": bootstrap_mean(aligned),
        "gain": paired_difference(raw, aligned),
    }
    est["pairs"] = len(raw)
    return est
