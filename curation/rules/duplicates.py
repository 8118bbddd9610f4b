"""Duplicates: near/exact copies inside a post, reposts across posts, train-test leakage.

Input: one row per image of a duplicate group, as found by the duplicate finder, with columns
``group, image, post_id, split, kind (exact/near), scope (intra-post/inter-post/train-test),
hash_distance, similarity``. The manifest table decides posts, splits and photo order.

``intra-post``  keep the first photo of the group (lowest photo number), drop the others
``inter-post``  a repost of the same ad under another id: keep the post with most photos (ties:
                the post_id first in sort order), drop every photo of the other posts
``train-test``  a training photo duplicates a query/gallery photo: drop the training side (the
                whole training post with ``leakage='post'``, only the photos with ``'image'``),
                so the test sets stay as they are and metrics stay comparable

Whatever the scope, a group holding a query and a gallery photo is query/gallery leakage (the
query would be found by its own copy): its gallery copies are dropped (cause
``query-gallery``, the reason names the query), never kept silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from curation.findings import DatasetError
from curation.manifest_io import Limits, read_table
from curation.paths import PathError, normalise
from curation.rules.base import check_known, check_splits, check_table, removal_frame

RULE = "duplicates"
DUP_COLUMNS = ("group", "image", "post_id", "split", "kind", "scope", "hash_distance", "similarity")
SCOPES = ("intra-post", "inter-post", "train-test")


def read_duplicate_table(path: str | Path, limits: Limits | None = None) -> pd.DataFrame:
    """The duplicate table of ``workbench duplicates --out`` (CSV or Parquet) as text columns,
    image paths in their one POSIX spelling; refused (ValueError naming the file, the column and
    the fix) when it is not such a table. Bounded like a manifest (:mod:`curation.manifest_io`).
    """
    path = Path(path)
    fix = "give the CSV written by `workbench duplicates --out FILE`"
    try:
        table = read_table(path, limits or Limits.from_env()).reset_index(drop=True)
    except DatasetError as exc:
        raise ValueError(f"--duplicates: {exc}; {fix}") from exc
    missing = [c for c in DUP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"{path}: not a duplicate table, missing column(s) {', '.join(missing)} (it has "
            f"{', '.join(map(str, table.columns[:8]))}); {fix}"
        )
    for col in DUP_COLUMNS:
        odd = table[col].map(lambda v: not isinstance(v, (str, int, float)) or isinstance(v, bool))
        if odd.any():
            raise ValueError(
                f"{path}: row {int(odd.idxmax()) + 1}, column {col}: not a value; {fix}"
            )
        table[col] = table[col].map(lambda v: "" if v != v or v is None else str(v).strip())
    for col in ("hash_distance", "similarity"):
        bad = table[col].ne("") & pd.to_numeric(table[col], errors="coerce").isna()
        if bad.any():
            row = int(bad.idxmax())
            raise ValueError(
                f"{path}: row {row + 1}, column {col}: {table.at[row, col][:40]!r} is not a "
                f"number; {fix}"
            )
    for col, allowed in (("scope", SCOPES), ("kind", ("exact", "near"))):
        bad = ~table[col].isin(allowed)
        if bad.any():
            row = int(bad.idxmax())
            raise ValueError(
                f"{path}: row {row + 1}, column {col}: {table.at[row, col][:40]!r} is not one of "
                f"{', '.join(allowed)}; {fix}"
            )
    images = []
    for row, image in table["image"].items():
        try:
            images.append(normalise(image))
        except PathError as exc:
            raise ValueError(f"{path}: row {row + 1}, column image: {exc}") from exc
    table["image"] = images
    return table


def duplicates(
    dup_pairs: pd.DataFrame,
    table: pd.DataFrame,
    *,
    splits: Sequence[str] = ("train",),
    leakage: str = "post",
    kinds: Sequence[str] = ("exact", "near"),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Removal table for the duplicate groups in ``dup_pairs`` (see the module docstring).

    ``splits``: where photos may be dropped for intra-post and inter-post groups (train-test
    groups always drop the training side). ``leakage``: ``'post'`` or ``'image'``.
    ``kinds``: which rows to act on; ``('exact',)`` ignores near duplicates (a group keeps only
    its pixel-identical members). Gallery copies of a query are always dropped (see the module
    docstring).
    """
    check_table(table, RULE)
    splits = check_splits(splits, RULE)
    missing = [c for c in DUP_COLUMNS if c not in dup_pairs.columns]
    if missing:
        raise ValueError(
            f"{RULE}: the duplicate table lacks column(s) {', '.join(missing)}; "
            f"expected {', '.join(DUP_COLUMNS)} (one row per image of a group)"
        )
    if leakage not in ("post", "image"):
        raise ValueError(f"{RULE}: leakage must be 'post' or 'image', not {leakage!r}")
    bad_scope = sorted(set(dup_pairs["scope"]) - set(SCOPES))
    if bad_scope:
        raise ValueError(f"{RULE}: unknown scope(s) {', '.join(bad_scope)}; use {SCOPES}")
    bad_kind = sorted(set(kinds) - {"exact", "near"})
    if bad_kind or not kinds:
        raise ValueError(f"{RULE}: kinds must be drawn from exact, near, got {list(kinds)}")
    check_known(dup_pairs["image"], set(table["image"]), "duplicate image", RULE, unknown)
    dup_pairs = dup_pairs[dup_pairs["kind"].isin(set(kinds))]
    meta = table.set_index("image")[["post_id", "photo", "split"]]
    photos_per_post = table.groupby(["split", "post_id"]).size()
    rows: list[dict] = []
    for group, members in dup_pairs.groupby("group", sort=True):
        members = members[members["image"].isin(meta.index)]
        if len(members) < 2:
            continue
        info = meta.loc[members["image"]].reset_index()
        info = info.sort_values(["split", "post_id", "photo", "image"], kind="mergesort")
        ev = _evidence(members)
        scopes = set(members["scope"])
        if len(scopes) != 1:
            raise ValueError(f"{RULE}: group {group} mixes scopes {sorted(scopes)}")
        scope = scopes.pop()
        rows += _query_copies(info, ev)
        if scope == "intra-post":
            rows += _intra(info, ev, splits)
        elif scope == "inter-post":
            rows += _inter(info, ev, splits, table, photos_per_post)
        else:
            rows += _leak(info, ev, table, leakage)
    return removal_frame(rows)


def _evidence(members: pd.DataFrame) -> str:
    kinds = "/".join(sorted(set(members["kind"])))
    dist = pd.to_numeric(members["hash_distance"], errors="coerce").max()
    sim = pd.to_numeric(members["similarity"], errors="coerce").min()
    parts = [f"{kinds} duplicate"]
    if pd.notna(dist):
        parts.append(f"hash distance {dist:g}")
    if pd.notna(sim):
        parts.append(f"similarity {sim:.2f}")
    return ", ".join(parts)


def _row(image: str, post: str, split: str, cause: str, reason: str) -> dict:
    return {"image": image, "post_id": post, "split": split, "rule": RULE, "cause": cause,
            "reason": reason}  # fmt: skip


def _intra(info: pd.DataFrame, ev: str, splits) -> list[dict]:
    rows = []
    for (split, post), photos in info.groupby(["split", "post_id"], sort=True):
        if split not in splits or len(photos) < 2:
            continue
        keep = photos["image"].iloc[0]
        for image in photos["image"].iloc[1:]:
            reason = f"{image} is a copy of {keep} inside post {post} ({ev}); kept {keep}"
            rows.append(_row(image, post, split, "intra-post", reason))
    return rows


def _inter(info, ev, splits, table, photos_per_post) -> list[dict]:
    rows = []
    for split, part in info.groupby("split", sort=True):
        posts = sorted(set(part["post_id"]))
        if split not in splits or len(posts) < 2:
            continue
        sizes = {p: int(photos_per_post.get((split, p), 0)) for p in posts}
        keep = sorted(posts, key=lambda p: (-sizes[p], p))[0]
        for post in posts:
            if post == keep:
                continue
            shared = ", ".join(part.loc[part["post_id"] == post, "image"])
            reason = (
                f"post {post} reposts post {keep} ({shared}: {ev}); kept post {keep} "
                f"({sizes[keep]} photos) over post {post} ({sizes[post]} photos)"
            )
            photos = table[(table["split"] == split) & (table["post_id"] == post)]
            for image in photos["image"]:
                rows.append(_row(image, post, split, "inter-post", reason))
    return rows


def _leak(info, ev, table, leakage) -> list[dict]:
    train = info[info["split"] == "train"]
    test = info[info["split"] != "train"]
    if train.empty or test.empty:
        return []
    other = ", ".join(test["image"])
    rows = []
    for post, photos in train.groupby("post_id", sort=True):
        images = photos["image"].tolist()
        if leakage == "post":
            drop = table.loc[(table["split"] == "train") & (table["post_id"] == post), "image"]
            what = f"train post {post} dropped"
        else:
            drop, what = images, f"{', '.join(images)} dropped"
        reason = (
            f"{', '.join(images)} duplicates {other} ({ev}); {what} to keep train and test apart"
        )
        for image in drop:
            rows.append(_row(image, post, "train", "train-test", reason))
    return rows


def _query_copies(info: pd.DataFrame, ev: str) -> list[dict]:
    queries = info.loc[info["split"] == "query", "image"].tolist()
    gallery = info[info["split"] == "gallery"]
    if not queries or gallery.empty:
        return []
    rows = []
    for r in gallery.itertuples(index=False):
        reason = (
            f"{r.image} is a copy of query {', '.join(queries)} ({ev}): the query would be found "
            "by its own photo; dropped from the gallery"
        )
        rows.append(_row(r.image, r.post_id, "gallery", "query-gallery", reason))
    return rows
