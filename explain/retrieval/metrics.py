"""Retrieval metrics with torchreid's protocol: mAP, CMC, mINP, and a per-query table.

Protocol (torchreid's ``eval_market1501``): for each query, gallery items with the same identity
*and* the same camid are removed; the remaining items with the same identity are the true
matches; queries without any true match are skipped (they count as "not in gallery").

:func:`rank_metrics` equals ``torchreid.reid.metrics.rank.evaluate_rank`` to 1e-6 (tests compare
them on random, tie-heavy and real distance matrices) but only looks at each query's true
matches: a true match's position is the number of kept gallery items closer than it, counted
with one vectorised comparison, so no full sort is needed. When a true match ties with another
item at exactly the same distance, that query is ranked through ``np.argsort`` like torchreid,
which decides the order of ties. Two documented differences:

- ``max_rank`` larger than the gallery: torchreid prints a note and returns a shorter CMC; here the
  CMC always has ``max_rank`` entries (past the gallery size a valid query is always found, so
  the tail equals the last value, 1.0). torchreid also fails when a query keeps fewer gallery
  items than ``max_rank``; here that is fine.
- No query with a true match: torchreid fails an ``assert``; here ValueError says why.

mINP (Ye et al., 2021) is the mean over valid queries of ``true matches / (position of the
hardest true match)``, positions counted from 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explain.retrieval.index import build_index, search, set_threads, similarity_matrix

RANKS = (1, 5, 10, 20)
_SORT_ABOVE = 64  # true matches per query above which one sort beats P comparisons per item


@dataclass
class RankMetrics:
    """What :func:`rank_metrics` returns.

    ``cmc``: ``(max_rank,)``, ``cmc[k-1]`` = fraction of valid queries with a true match within the
    top k. Per query (``(Q,)`` arrays): ``first`` = 1-based position of the first true match among
    the kept gallery items, 0 when the query has none; ``ap``/``inp`` NaN for such queries.
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_valid: int
    first: np.ndarray
    ap: np.ndarray
    inp: np.ndarray

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based), in [0, 1]."""
        if not 1 <= k <= len(self.cmc):
            raise ValueError(f"rank {k} outside 1..{len(self.cmc)}; raise max_rank")
        return float(self.cmc[k - 1])


def _check(distmat, q_pids, g_pids, q_camids, g_camids):
    distmat = np.asarray(distmat)
    if distmat.ndim != 2:
        raise ValueError(f"distmat must be (num_query, num_gallery), got shape {distmat.shape}")
    q, g = distmat.shape
    arrays = [np.asarray(a).ravel() for a in (q_pids, g_pids, q_camids, g_camids)]
    for name, arr, n in zip(
        ("q_pids", "g_pids", "q_camids", "g_camids"), arrays, (q, g, q, g), strict=True
    ):
        if len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} entries for a {q}×{g} distance matrix")
    if not np.isfinite(distmat).all():
        raise ValueError("distmat holds NaN or infinite distances; recompute the embeddings")
    return distmat, arrays


def _ranks_like_torchreid(row, g_pids, g_camids, q_pid, q_camid, extra=None) -> np.ndarray:
    """0-based positions of the true matches in torchreid's order (``np.argsort``, junk removed;
    ``extra``: ``(G,)`` bool, more junk)."""
    order = np.argsort(row)
    keep = ~((g_pids[order] == q_pid) & (g_camids[order] == q_camid))
    if extra is not None:
        keep &= ~extra[order]
    return np.flatnonzero(g_pids[order][keep] == q_pid)


def _ranks(row, pos, junk) -> np.ndarray | None:
    """Sorted 0-based positions of the true matches ``pos`` among the kept items, or None when a
    true match ties with another item (the caller then follows torchreid's argsort order)."""
    dp = row[pos]
    if len(pos) > _SORT_ABOVE:
        srt = np.sort(row)
        less = np.searchsorted(srt, dp, side="left")
        leq = np.searchsorted(srt, dp, side="right")
    else:
        less = np.count_nonzero(row < dp[:, None], axis=1)
        leq = np.count_nonzero(row <= dp[:, None], axis=1)
    if (leq - less > 1).any():
        return None
    if len(junk):
        less = less - np.count_nonzero(row[junk] < dp[:, None], axis=1)
    return np.sort(less)


def rank_metrics(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 50,
    extra_junk: np.ndarray | None = None,
) -> RankMetrics:
    """mAP, CMC and mINP of a ``(Q, G)`` distance matrix (smaller = closer), torchreid's protocol.

    Identities and camids are any comparable values (ints, strings). See the module docstring for
    how this differs from torchreid at the edges. ``extra_junk``: ``(Q, G)`` bool, gallery items
    also removed from a query's ranking (e.g. its own near-copies: leakage), like same-camid ones.
    """
    if max_rank < 1:
        raise ValueError(f"max_rank must be at least 1, not {max_rank}")
    distmat, (q_pids, g_pids, q_camids, g_camids) = _check(
        distmat, q_pids, g_pids, q_camids, g_camids
    )
    num_q = distmat.shape[0]
    by_pid = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[by_pid]
    starts = np.searchsorted(sorted_pids, q_pids, side="left")
    ends = np.searchsorted(sorted_pids, q_pids, side="right")
    first = np.zeros(num_q, dtype=np.int64)
    ap = np.full(num_q, np.nan)
    inp = np.full(num_q, np.nan)
    for q in range(num_q):
        same = by_pid[starts[q] : ends[q]]
        if not len(same):
            continue
        same_cam = g_camids[same] == q_camids[q]
        if extra_junk is not None:
            same_cam = same_cam | extra_junk[q, same]
        pos, junk = same[~same_cam], same[same_cam]
        if not len(pos):
            continue
        row = distmat[q]
        extra = None
        if extra_junk is not None and extra_junk[q].any():
            extra = extra_junk[q]
            row = np.where(extra, np.inf, row)  # behind every true match: never counted ahead
            junk = junk[~extra[junk]]
        ranks = _ranks(row, pos, junk)
        if ranks is None:
            ranks = _ranks_like_torchreid(row, g_pids, g_camids, q_pids[q], q_camids[q], extra)
        hits = np.arange(1, len(ranks) + 1)
        ap[q] = float(np.mean(hits / (ranks + 1.0)))
        inp[q] = len(ranks) / (ranks[-1] + 1.0)
        first[q] = ranks[0] + 1
    valid = first > 0
    num_valid = int(valid.sum())
    if not num_valid:
        raise ValueError(
            f"none of the {num_q} queries has a true match in the gallery (same identity, "
            "another camid); check that query and gallery share identities"
        )
    counts = np.bincount(np.minimum(first[valid], max_rank + 1) - 1, minlength=max_rank + 1)
    cmc = np.cumsum(counts[:max_rank]) / num_valid
    return RankMetrics(
        cmc=cmc,
        mAP=float(np.mean(ap[valid])),
        mINP=float(np.mean(inp[valid])),
        num_valid=num_valid,
        first=first,
        ap=ap,
        inp=inp,
    )


@dataclass
class Evaluation:
    """Metrics of one model on a query/gallery split.

    ``summary``: ``mAP``, ``mINP``, ``rank1``/``rank5``/``rank10``/``rank20`` (all in [0, 1]),
    ``num_query``, ``num_valid`` (queries with a true match), ``num_gallery``; ``cmc``:
    ``(max_rank,)``; ``per_query``: one row per query, see :func:`evaluate`.
    """

    summary: dict
    cmc: np.ndarray
    per_query: pd.DataFrame


def _codes(query: pd.Series, gallery: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, _ = pd.factorize(pd.concat([query, gallery], ignore_index=True).astype(str))
    return codes[: len(query)], codes[len(query) :]


def evaluate(
    query_features: np.ndarray,
    gallery_features: np.ndarray,
    query: pd.DataFrame,
    gallery: pd.DataFrame,
    *,
    k: int = 10,
    max_rank: int = 20,
    threads: int | None = None,
    exclude: pd.DataFrame | None = None,
) -> Evaluation:
    """Retrieve every query among the gallery and score it.

    ``exclude``: pairs (columns ``query``, ``gallery``: images) to leave out of the query's
    ranking, like torchreid's same-camid items — a query's own near-copies in the gallery
    (leakage, :func:`~explain.retrieval.leakage.query_gallery_leaks`). The per-query table then
    has the column ``excluded`` (gallery items left out for that query).

    ``query``/``gallery``: manifest rows (``image``, ``post_id``, ``camid``) aligned with the
    ``(Q, D)``/``(G, D)`` unit-norm features. Distances are cosine distances ``1 - similarity``
    in [0, 2]. ``per_query`` columns: ``query``, ``post_id``, ``camid``; ``rank`` (1-based
    position of the first true match, <NA> = not in gallery), ``in_gallery``, ``found`` (rank ≤
    k), ``ap``, ``inp``; ``top_images``, ``top_post_ids``, ``top_similarities``,
    ``top_distances``, ``top_correct`` (lists for the k nearest gallery items, same-post
    same-camid items excluded as in the protocol); ``top1_image``, ``top1_post_id``,
    ``top1_similarity``, ``top1_correct`` (missing/NaN/False when every gallery item is the
    query's own post and camid); ``match_similarity`` (best true match, NaN when none);
    ``margin`` (top-1 similarity minus the best similarity of any other identity, ≥ 0).
    """
    if len(query_features) != len(query) or len(gallery_features) != len(gallery):
        raise ValueError(
            f"{len(query_features)} query / {len(gallery_features)} gallery feature rows for "
            f"{len(query)} / {len(gallery)} manifest rows; embed the same rows"
        )
    if not len(query) or not len(gallery):
        raise ValueError("evaluation needs at least one query and one gallery image")
    set_threads(threads)
    q_pids, g_pids = _codes(query["post_id"], gallery["post_id"])
    q_cams, g_cams = query["camid"].to_numpy(), gallery["camid"].to_numpy()
    sims = similarity_matrix(query_features, gallery_features)
    if exclude is None:
        metrics = rank_metrics(1.0 - sims, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank)
    junk = (q_pids[:, None] == g_pids[None, :]) & (q_cams[:, None] == g_cams[None, :])
    extra = _exclusion_mask(query, gallery, exclude)
    if extra is not None:
        metrics = rank_metrics(
            1.0 - sims, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, extra_junk=extra
        )
        junk = junk | extra
    top_sims, top_idx = _top_k(gallery_features, query_features, junk, k)
    per_query = _per_query_table(query, gallery, sims, junk, metrics, top_sims, top_idx, k)
    if extra is not None:
        per_query["excluded"] = extra.sum(axis=1)
    summary = {
        "mAP": metrics.mAP,
        "mINP": metrics.mINP,
        **{f"rank{r}": metrics.rank(r) for r in RANKS if r <= max_rank},
        "num_query": len(query),
        "num_valid": metrics.num_valid,
        "num_gallery": len(gallery),
    }
    return Evaluation(summary, metrics.cmc, per_query)


def _exclusion_mask(query, gallery, exclude) -> np.ndarray | None:
    """``(Q, G)`` bool of the ``exclude`` pairs (None when none is given)."""
    if exclude is None:
        return None
    missing = {"query", "gallery"} - set(exclude.columns)
    if missing:
        raise ValueError(f"exclude needs the columns query and gallery (missing {sorted(missing)})")
    q_pos = {img: i for i, img in enumerate(query["image"])}
    g_pos = {img: i for i, img in enumerate(gallery["image"])}
    mask = np.zeros((len(query), len(gallery)), dtype=bool)
    for q, g in zip(exclude["query"], exclude["gallery"], strict=True):
        if q in q_pos and g in g_pos:
            mask[q_pos[q], g_pos[g]] = True
    return mask


def _top_k(gallery_features, query_features, junk, k) -> tuple[np.ndarray, np.ndarray]:
    """faiss top-k with the junk items (same identity and camid) dropped: ``(Q, k)`` arrays,
    index -1 / similarity NaN where the gallery has fewer than k kept items."""
    extra = int(junk.sum(axis=1).max(initial=0))
    sims, idx = search(build_index(gallery_features), query_features, k + extra)
    out_s = np.full((len(idx), k), np.nan, dtype=np.float32)
    out_i = np.full((len(idx), k), -1, dtype=np.int64)
    for q in range(len(idx)):
        ok = (idx[q] >= 0) & ~junk[q, np.maximum(idx[q], 0)]
        n = min(k, int(ok.sum()))
        out_s[q, :n], out_i[q, :n] = sims[q][ok][:n], idx[q][ok][:n]
    return out_s, out_i


def _per_query_table(query, gallery, sims, junk, metrics, top_sims, top_idx, k) -> pd.DataFrame:
    g_images = gallery["image"].to_numpy()
    g_posts = gallery["post_id"].to_numpy()
    q_posts = query["post_id"].to_numpy()
    same = q_posts[:, None] == g_posts[None, :]
    kept = np.where(junk, -np.inf, sims)
    match_sim = np.where(same & ~junk, sims, -np.inf).max(axis=1)
    top1 = top_idx[:, 0]
    top1_post = g_posts[np.maximum(top1, 0)]
    other = np.where(g_posts[None, :] == top1_post[:, None], -np.inf, kept).max(axis=1)
    rows = []
    for q in range(len(query)):
        ids = top_idx[q][top_idx[q] >= 0]
        rows.append(
            {
                "top_images": g_images[ids].tolist(),
                "top_post_ids": g_posts[ids].tolist(),
                "top_similarities": [float(s) for s in top_sims[q][: len(ids)]],
                "top_distances": [float(1.0 - s) for s in top_sims[q][: len(ids)]],
                "top_correct": (g_posts[ids] == q_posts[q]).tolist(),
            }
        )
    first = metrics.first
    table = pd.DataFrame(
        {
            "query": query["image"].to_numpy(),
            "post_id": q_posts,
            "camid": query["camid"].to_numpy(),
            "rank": pd.array(np.where(first > 0, first, 0), dtype="Int64"),
            "in_gallery": first > 0,
            "found": (first > 0) & (first <= k),
            "ap": metrics.ap,
            "inp": metrics.inp,
        }
    )
    table.loc[~table["in_gallery"], "rank"] = pd.NA
    extra = pd.DataFrame(rows)
    table = pd.concat([table, extra], axis=1)
    none = top1 < 0  # every gallery item is the query's own post and camid
    table["top1_image"] = np.where(none, None, g_images[np.maximum(top1, 0)])
    table["top1_post_id"] = np.where(none, None, top1_post)
    table["top1_similarity"] = top_sims[:, 0].astype(np.float64)
    table["top1_correct"] = ~none & (top1_post == q_posts)
    table["match_similarity"] = np.where(np.isfinite(match_sim), match_sim, np.nan)
    margin = top_sims[:, 0] - other
    table["margin"] = np.where(np.isfinite(margin), margin, np.nan).astype(np.float64)
    return table
