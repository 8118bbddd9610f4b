"""What a detections table says about a dataset, in numbers.

:func:`summarise` turns the runner's table (see :mod:`curation.perception.runner`) into the
counts the team asks for: photos and posts per artifact, the share of posts with a text
overlay (and with a phone number or a place in it), the share of collages, and which animal
masks were used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Summary:
    """``per_artifact``: one row per artifact with ``photos``, ``posts`` (detected), their
    shares of all photos and posts, ``threshold``; ``masks``: photos per animal-mask kind;
    ``shares``: named shares in [0, 1] (``text_posts``, ``phone_posts``, ``place_posts``,
    ``text_photos``, ``collage_photos``; absent when that detector did not run);
    ``photos``, ``posts``: totals."""

    per_artifact: pd.DataFrame
    masks: pd.Series
    shares: dict[str, float]
    photos: int
    posts: int


def summarise(table: pd.DataFrame) -> Summary:
    """The :class:`Summary` of a detections table (one row per image and artifact)."""
    missing = {"image", "post_id", "artifact", "detected", "mask", "threshold"} - set(table)
    if missing:
        raise ValueError(
            f"not a detections table: no column(s) {', '.join(sorted(missing))}; "
            "make it with curation.perception.runner.detect_dataset"
        )
    photos = table["image"].nunique()
    posts = table["post_id"].nunique()
    hit = table[table["detected"]]
    per = (
        table.groupby("artifact", sort=True)
        .agg(threshold=("threshold", "first"))
        .join(
            hit.groupby("artifact").agg(photos=("image", "nunique"), posts=("post_id", "nunique"))
        )
        .fillna({"photos": 0, "posts": 0})
        .astype({"photos": int, "posts": int})
    )
    per["photo_share"] = per["photos"] / max(photos, 1)
    per["post_share"] = per["posts"] / max(posts, 1)
    masks = table.drop_duplicates("image")["mask"].value_counts().sort_index()
    shares: dict[str, float] = {}
    if "text" in per.index:
        text = hit[hit["artifact"] == "text"]
        info = [json.loads(i) if isinstance(i, str) else i for i in text.get("info", [])]
        phone = {p for p, i in zip(text["post_id"], info, strict=True) if i.get("phone")}
        place = {p for p, i in zip(text["post_id"], info, strict=True) if i.get("place")}
        shares.update(
            text_photos=per.loc["text", "photo_share"],
            text_posts=per.loc["text", "post_share"],
            phone_posts=len(phone) / max(posts, 1),
            place_posts=len(place) / max(posts, 1),
        )
    if "collage" in per.index:
        shares["collage_photos"] = per.loc["collage", "photo_share"]
    cols = ["photos", "photo_share", "posts", "post_share", "threshold"]
    return Summary(per[cols].reset_index(), masks, shares, photos, posts)
