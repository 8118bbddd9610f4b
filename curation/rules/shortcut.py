"""Shortcut score: drop the posts a model matches through something other than the animal.

Reads a posts table as ``workbench shortcuts`` writes it (``post_id``, ``split``, ``score``,
``cause``; optional ``confirmed``) and drops every photo of a post, within ``splits``, whose
score is at least ``threshold``. ``confirmed_only``: only posts whose row says ``confirmed``
(true when annotators confirmed the detections behind the score in the store's review; the
table must then have that column).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from curation.rules.base import check_known, check_splits, check_table, removal_frame

RULE = "shortcut"
_TRUE = {"true", "1", "yes"}


def _confirmed(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value) and value == value  # NaN is not confirmed


def shortcut(
    table: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    threshold: float = 0.75,
    confirmed_only: bool = False,
    splits: Sequence[str] = ("train",),
    unknown: str = "raise",
) -> pd.DataFrame:
    """Removal table of the photos of posts with ``score >= threshold`` (``threshold`` in
    [0, 1]), in ``splits``. ``scores``: one row per (post, split); a post without a row is
    kept. ``unknown``: posts in ``scores`` absent from ``table`` raise (default) or are ignored.
    """
    check_table(table, RULE)
    splits = check_splits(splits, RULE)
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"{RULE}: threshold must lie in [0, 1], got {threshold!r}")
    need = {"post_id", "split", "score"}
    if not need <= set(scores.columns):
        raise ValueError(
            f"{RULE}: the scores table lacks {', '.join(sorted(need - set(scores.columns)))}; "
            "pass the posts.csv that `workbench shortcuts` writes"
        )
    if confirmed_only and "confirmed" not in scores.columns:
        raise ValueError(
            f"{RULE}: confirmed_only needs a 'confirmed' column (the store's review of the "
            "detections); this table has none: use confirmed_only=false or add the column"
        )
    s = scores.assign(post_id=scores["post_id"].astype(str), split=scores["split"].astype(str))
    t = table.assign(post_id=table["post_id"].astype(str))
    check_known(s["post_id"], set(t["post_id"]), "post", RULE, unknown)
    score = pd.to_numeric(s["score"], errors="coerce")
    if score.isna().any():
        bad = s.loc[score.isna(), "post_id"].tolist()[:3]
        raise ValueError(f"{RULE}: scores that are not numbers for post(s) {bad}")
    hit = s[(score >= float(threshold)) & s["split"].isin(splits)]
    if confirmed_only:
        hit = hit[hit["confirmed"].map(_confirmed)]
    rows = []
    for r in hit.itertuples(index=False):
        cause = str(getattr(r, "cause", "") or "score")
        photos = t[(t["post_id"] == r.post_id) & (t["split"] == r.split)]
        for img in photos["image"]:
            rows.append({
                "image": img, "post_id": r.post_id, "split": r.split, "rule": RULE,
                "cause": cause.split(" ")[0] if cause != "none" else "score",
                "reason": f"shortcut score {float(r.score):.3f} >= {float(threshold):g} "
                f"({cause})",
            })  # fmt: skip
    return removal_frame(rows)


def with_confirmations(
    scores: pd.DataFrame, table: pd.DataFrame, detections: pd.DataFrame | None
) -> pd.DataFrame:
    """``scores`` with a ``confirmed`` column from the store's review of the detections
    (:meth:`curation.store.TagStore.detections`): a post is confirmed when an annotator
    confirmed a detection of its cause's artifact (the first word of ``cause``) on one of its
    photos and rejected none. A table that already has ``confirmed`` is left as it is; a post
    whose cause is no artifact (``model regions``, ``none``) is never confirmed."""
    if "confirmed" in scores.columns:
        return scores
    out = scores.copy()
    if detections is None or detections.empty:
        out["confirmed"] = False
        return out
    t = table.assign(post_id=table["post_id"].astype(str))
    d = detections.merge(t[["image", "post_id", "split"]], on="image", how="inner")
    yes = set(zip(d.loc[d["review"] == "confirmed", "post_id"],
                  d.loc[d["review"] == "confirmed", "split"],
                  d.loc[d["review"] == "confirmed", "artifact"], strict=True))  # fmt: skip
    no = set(zip(d.loc[d["review"] == "rejected", "post_id"],
                 d.loc[d["review"] == "rejected", "split"],
                 d.loc[d["review"] == "rejected", "artifact"], strict=True))  # fmt: skip
    flags = []
    for r in out.itertuples(index=False):
        kind = str(getattr(r, "cause", "") or "").split(" ")[0]
        key = (str(r.post_id), str(r.split), kind)
        flags.append(key in yes and key not in no)
    out["confirmed"] = flags
    return out
