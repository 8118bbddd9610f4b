"""Where the artifact rules read artifacts from: annotators' tags, detections, or both.

``source`` of an artifact rule (:data:`SOURCES`, labels in :data:`SOURCE_LABELS`):

``tags``           annotators' artifact tags (the store's human tags)
``detected``       detections (the store's machine tags): a detection counts when its score
                   reaches its detector's threshold and ``min_score``, and no one rejected it;
                   a confirmed detection always counts; ``confirmed_only``: only confirmed ones
``both``           the union of the two, per photo
``manifest``       the manifest's ground-truth ``artifacts`` column (the sample data only: for
                   measuring the workbench, not for real data)
``tags+manifest``  annotators' tags and the ground truth

The detections table is :meth:`TagStore.detections` (``image, artifact, score, threshold,
detected, detector, review``).
"""

from __future__ import annotations

import pandas as pd

from curation.rules.base import tag_set

SOURCE_LABELS = {
    "tags": "annotators' tags",
    "detected": "detections (machine tags) above the score",
    "both": "annotators' tags and detections",
    "manifest": "the manifest's ground truth (sample data)",
    "tags+manifest": "annotators' tags and the ground truth",
}
SOURCES = tuple(SOURCE_LABELS)
STORE_SOURCES = ("tags", "detected", "both")  # for rules that only read the store
DETECTION_COLUMNS = ("image", "artifact", "score", "threshold", "detected", "detector", "review")


def counted(
    detections: pd.DataFrame, *, min_score: float = 0.0, confirmed_only: bool = False
) -> pd.DataFrame:
    """The detections that count as artifacts (see the module docstring), same columns."""
    missing = [c for c in DETECTION_COLUMNS if c not in detections.columns]
    if missing:
        raise ValueError(
            f"the detections lack column(s) {', '.join(missing)}; pass TagStore.detections()"
        )
    if not 0.0 <= float(min_score) <= 1.0:
        raise ValueError(f"min_score must be a score in [0, 1], got {min_score!r}")
    confirmed = detections["review"] == "confirmed"
    if confirmed_only:
        keep = confirmed
    else:
        above = detections["detected"].astype(bool) & (detections["score"] >= float(min_score))
        keep = confirmed | (above & (detections["review"] != "rejected"))
    return detections[keep]


def _needs(rule: str, source: str, what: str, flag: str) -> str:
    return f"{rule}:source={source} reads {what}; {flag}"


def artifact_table(
    table: pd.DataFrame,
    tags: pd.DataFrame | None,
    detections: pd.DataFrame | None,
    source: str,
    *,
    rule: str,
    min_score: float = 0.0,
    confirmed_only: bool = False,
    choices: tuple[str, ...] = SOURCES,
) -> pd.DataFrame:
    """``image, artifacts`` (``;``-joined, sorted) per photo from ``source``; ValueError naming
    the missing input and how to give it."""
    if source not in choices:
        raise ValueError(f"{rule}: source must be one of {', '.join(choices)}, not {source!r}")
    parts = []
    if source in ("tags", "both", "tags+manifest"):
        if tags is None:
            raise ValueError(_needs(rule, source, "the store's artifact tags",
                                    "pass the tag store (--store)"))  # fmt: skip
        parts.append(tags[["image", "artifacts"]])
    if source in ("manifest", "tags+manifest"):
        if "artifacts" not in table.columns:
            raise ValueError(
                f"{rule}:source={source} needs the manifest's ground-truth 'artifacts' column; "
                "this dataset has none, use the store's tags (source=tags) or detections "
                "(source=detected)"
            )
        parts.append(table[["image", "artifacts"]])
    if source in ("detected", "both"):
        if detections is None:
            raise ValueError(_needs(rule, source, "the store's detections",
                                    "pass the tag store (--store) after `workbench detect "
                                    "--to-store`"))  # fmt: skip
        hits = counted(detections, min_score=min_score, confirmed_only=confirmed_only)
        parts.append(pd.DataFrame({"image": hits["image"], "artifacts": hits["artifact"]}))
    merged: dict[str, frozenset[str]] = {}
    for frame in parts:
        for image, value in zip(frame["image"], frame["artifacts"], strict=True):
            merged[image] = merged.get(image, frozenset()) | tag_set(value)
    images = sorted(merged)
    return pd.DataFrame(
        {"image": images, "artifacts": [";".join(sorted(merged[i])) for i in images]}
    )


def detected_rows(
    detections: pd.DataFrame, *, min_score: float = 0.0, confirmed_only: bool = False
) -> pd.DataFrame:
    """The counted detections with a readable ``by`` (``detector:hands@1, score 0.91,
    confirmed by ann``), for rules that say why a photo goes."""
    hits = counted(detections, min_score=min_score, confirmed_only=confirmed_only)
    by = []
    for rec in hits.to_dict("records"):
        text = f"{rec['detector']}, score {float(rec['score']):.2f}"
        if rec["review"] == "confirmed":
            text += f", confirmed by {rec.get('reviewed_by') or 'an annotator'}"
        by.append(text)
    return hits.assign(by=by)
