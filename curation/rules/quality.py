"""Quality flags: drop photos that are too dark, glare-blown, blurry or tiny.

The measures come from :func:`curation.quality.measure_images` (pixels); this rule only compares
them with thresholds, so it stays pure and testable with hand-made numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from curation.quality import issues
from curation.rules.base import check_known, check_splits, check_table, removal_frame

RULE = "quality_flags"


def quality_flags(
    table: pd.DataFrame,
    quality: pd.DataFrame,
    *,
    dark: float = 60.0,
    glare: float = 0.15,
    blur: float = 30.0,
    min_side: int = 64,
    min_foreground: float = 0.03,
    splits: Sequence[str] = ("train",),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Removal table of photos failing a quality threshold; ``cause`` is the issue name.

    ``quality``: measures per image (``image`` + :data:`curation.quality.MEASURES`).
    Thresholds as in :func:`curation.quality.issues`: ``dark`` (0-255, on the brightest 1% of
    the animal), ``glare`` (share blown to white), ``blur`` (variance of Laplacian),
    ``min_side`` (pixels), ``min_foreground`` (share of the frame).
    """
    check_table(table, RULE)
    splits = check_splits(splits, RULE)
    check_known(quality["image"], set(table["image"]), "measured image", RULE, unknown)
    found = issues(quality, dark=dark, glare=glare, blur=blur, min_side=min_side,
                   min_foreground=min_foreground)  # fmt: skip
    meta = table[table["split"].isin(splits)].set_index("image")
    rows = []
    for rec in found.to_dict("records"):
        if rec["image"] not in meta.index:
            continue
        post, split = meta.loc[rec["image"], ["post_id", "split"]]
        reason = f"{rec['image']}: {rec['reason']}"
        rows.append({"image": rec["image"], "post_id": post, "split": split, "rule": RULE,
                     "cause": rec["issue"], "reason": reason})  # fmt: skip
    return removal_frame(rows)
