"""Homogeneous artifact: drop a post whose photos share one artifact.

The team's main hypothesis: when every photo of a training post shows the same artifact (a
tongue out, a hand holding the animal, grass, glare, one pose), the model can learn to match
the artifact instead of the animal. A post is dropped when, for some artifact, the share of its
photos tagged with that artifact reaches ``threshold``. The share is counted over all photos of
the post in the manifest; an untagged photo counts as not showing the artifact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from curation.rules.base import (
    check_known,
    check_splits,
    check_table,
    removal_frame,
    tag_set,
)

RULE = "homogeneous_artifact"


def homogeneous_artifact(
    table: pd.DataFrame,
    tags: pd.DataFrame | None = None,
    *,
    threshold: float = 0.8,
    min_photos: int = 2,
    artifacts: Iterable[str] | None = None,
    splits: Sequence[str] = ("train",),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Removal table of the posts whose photos share an artifact in >= ``threshold`` of them.

    ``table``: the manifest (``image, post_id, photo, split``). ``tags``: ``image`` and
    ``artifacts`` (``;``-joined or lists), e.g. :meth:`TagStore.current`; None reads the
    manifest's ground-truth ``artifacts`` column. ``threshold`` in (0, 1]. Posts with fewer than
    ``min_photos`` photos are never judged (one photo is trivially "homogeneous").
    ``artifacts``: only these artifacts count (None: all). ``splits``: where posts are dropped.
    ``unknown``: tags on images absent from ``table`` raise (default) or are ignored.
    """
    check_table(table, RULE)
    splits = check_splits(splits, RULE)
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"{RULE}: threshold must be a share in (0, 1], got {threshold!r}")
    if int(min_photos) < 1:
        raise ValueError(f"{RULE}: min_photos must be at least 1, got {min_photos!r}")
    if tags is None:
        if "artifacts" not in table.columns:
            raise ValueError(
                f"{RULE}: no tags given and the manifest has no 'artifacts' column; "
                "pass the store's tags (TagStore.current())"
            )
        tags = table[["image", "artifacts"]]
    elif not {"image", "artifacts"} <= set(tags.columns):
        raise ValueError(f"{RULE}: tags need columns 'image' and 'artifacts'")
    check_known(tags["image"], set(table["image"]), "tagged image", RULE, unknown)
    only = None if artifacts is None else set(artifacts)
    per_image: dict[str, frozenset[str]] = {}
    for image, value in zip(tags["image"], tags["artifacts"], strict=True):
        found = tag_set(value)
        per_image[image] = found if only is None else found & only
    rows = []
    scope = table[table["split"].isin(splits)]
    for post, photos in scope.groupby("post_id", sort=True):
        n = len(photos)
        if n < int(min_photos):
            continue
        counts: dict[str, int] = {}
        for image in photos["image"]:
            for a in per_image.get(image, ()):
                counts[a] = counts.get(a, 0) + 1
        hits = sorted(a for a, c in counts.items() if c / n >= float(threshold))
        if not hits:
            continue
        detail = ", ".join(f"{a} in {counts[a]}/{n} photos ({counts[a] / n:.0%})" for a in hits)
        reason = f"post {post}: {detail} (threshold {float(threshold):.0%})"
        for image, split in zip(photos["image"], photos["split"], strict=True):
            rows.append({"image": image, "post_id": post, "split": split, "rule": RULE,
                         "cause": "+".join(hits), "reason": reason})  # fmt: skip
    return removal_frame(rows)
