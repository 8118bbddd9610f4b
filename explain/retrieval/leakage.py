"""Leakage between query and gallery: a query whose own photo (a repost, a re-encode, a crop)
sits in the gallery is "found" by its copy, not by recognising the animal.

:func:`query_gallery_leaks` lists such pairs from the duplicate finder's groups; the metrics
leave them out of a query's ranking (``evaluate(..., exclude=leaks)`` of
:mod:`explain.retrieval.metrics`), and ``workbench evaluate`` reports both numbers, the
leakage-excluded ones as the headline.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curation.dataset import Dataset

SPLIT_PAIR = ("query", "gallery")
LEAK_COLUMNS = [
    "query",
    "gallery",
    "query_post",
    "gallery_post",
    "kind",
    "hash_distance",
    "inliers",
]


def query_gallery_leaks(groups: pd.DataFrame) -> pd.DataFrame:
    """Every (query, gallery) pair of images in one duplicate group (``Duplicates.groups``),
    sorted; ``kind`` is ``exact`` when both are pixel-identical to a group member, else
    ``near``; ``hash_distance``/``inliers``: the gallery image's best evidence in the group."""
    rows = []
    for _, g in groups.groupby("group", sort=True):
        queries = g[g["split"] == "query"]
        gallery = g[g["split"] == "gallery"]
        for q in queries.itertuples(index=False):
            for m in gallery.itertuples(index=False):
                rows.append(
                    {
                        "query": q.image,
                        "gallery": m.image,
                        "query_post": q.post_id,
                        "gallery_post": m.post_id,
                        "kind": "exact" if q.kind == m.kind == "exact" else "near",
                        "hash_distance": int(m.hash_distance),
                        "inliers": int(getattr(m, "inliers", 0)),
                    }
                )
    out = pd.DataFrame(rows, columns=LEAK_COLUMNS)
    out = out.drop_duplicates(["query", "gallery"])
    return out.sort_values(["query", "gallery"], ignore_index=True)


def find_leaks(dataset: Dataset, *, cache_dir: Path | None = None, progress=None) -> pd.DataFrame:
    """:func:`query_gallery_leaks` of :func:`~explain.retrieval.duplicates.find_duplicates` at its
    default thresholds (pHash, thumbnails, local keypoints; no embeddings), on query↔gallery
    pairs only (a copy of a copy, query→gallery→gallery, is not followed). Empty (with the
    columns) when the dataset has no queries or no gallery."""
    from explain.retrieval.duplicates import find_duplicates

    table = dataset.table
    if not (table["split"] == "query").any() or not (table["split"] == "gallery").any():
        return pd.DataFrame(columns=LEAK_COLUMNS)
    test = Dataset(
        root=dataset.root,
        table=table[table["split"].isin(["query", "gallery"])].reset_index(drop=True),
        source=dataset.source,
        follow_links=dataset.follow_links,
    )
    dup = find_duplicates(test, cache_dir=cache_dir, progress=progress, between=SPLIT_PAIR)
    return query_gallery_leaks(dup.groups)


def top1_by_copy(per_query: pd.DataFrame, leaks: pd.DataFrame) -> list[str]:
    """Queries whose top-1 gallery item is one of their own near-copies (``per_query`` scored
    *with* the leaks), sorted."""
    pairs = set(zip(leaks["query"], leaks["gallery"], strict=True))
    hits = [q for q, top in zip(per_query["query"], per_query["top1_image"], strict=True)
            if (q, top) in pairs]  # fmt: skip
    return sorted(hits)
