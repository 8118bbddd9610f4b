"""Detections as machine tags: how detector results become events and how they read back.

A detection is one event with ``action='detection'`` signed ``detector:NAME@VERSION``: one
image, one artifact (a vocabulary tag), the ``score`` in [0, 1], the detector's ``threshold``
(the score from which it counts as detected) and the ``regions`` it found (the polygons of
:func:`curation.perception.runner.regions_of`). Every result is stored, detected or not, so a
new version's verdict replaces the old one's even where it no longer detects anything.

- Per (image, artifact, detector NAME) the latest detection event wins: writing a new version
  supersedes the old version's results; writing the same version again adds nothing.
- A review is an event by a person (``action='review'``): ``verdict`` ``confirm`` or
  ``reject`` of the detection of (image, artifact) by one ``detector:NAME@VERSION``; the latest
  effective review wins, and it is undone like any other event. A review belongs to that exact
  version: a new version's detection starts unreviewed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from curation.regions import regions_json, validate_regions
from curation.store_db import StoreError
from curation.store_events import COLUMNS, VERDICTS, EventChecker, check_score, parse_detector

INPUT_COLUMNS = ("image", "artifact", "score", "threshold", "region", "detector")
DETECTION_COLUMNS = (
    "image", "artifact", "score", "threshold", "detected", "detector", "name", "version",
    "regions", "review", "reviewed_by", "reviewed_at", "time",
)  # fmt: skip
UNREVIEWED = "unreviewed"


@dataclass(frozen=True)
class DetectionWrite:
    """What writing detections did: ``added`` events, ``unchanged`` results (already stored at
    that version), ``superseded`` results of an older version replaced, ``new_tags`` added to
    the vocabulary (a detector's artifact the store did not know)."""

    added: int
    unchanged: int
    superseded: int
    new_tags: tuple[str, ...] = ()


def as_tags(found: pd.DataFrame) -> pd.DataFrame:
    """``found`` with the store's column names: the runner's table
    (:func:`curation.perception.runner.detect_dataset`: ``artifact`` is the detector's name,
    ``annotator`` its signature) gets ``detector`` and the vocabulary tag in ``artifact``
    (``text`` -> ``text-overlay``); a table already in the store's terms is returned as it is."""
    if "detector" in found.columns and "annotator" not in found.columns:
        return found
    if "annotator" not in found.columns:
        return found  # check_rows names what is missing
    from curation.perception.catalog import TAGS  # the detectors' names for vocabulary tags

    return found.assign(
        detector=found["annotator"], artifact=[TAGS.get(a, a) for a in found["artifact"]]
    )


def check_rows(found: pd.DataFrame, checker: EventChecker, vocabulary: list[str]) -> list[dict]:
    """The ``events`` rows (no time, no dataset yet) of a detection table with
    :data:`INPUT_COLUMNS` (``region``: JSON text or a list of regions)."""
    missing = [c for c in INPUT_COLUMNS if c not in found.columns]
    if missing:
        raise StoreError(
            f"the detections lack column(s) {', '.join(missing)}; pass the table of "
            "curation.perception.runner.detect_dataset with 'artifact' set to the vocabulary tag"
        )
    rows = []
    for rec in found[list(INPUT_COLUMNS)].to_dict("records"):
        parse_detector(rec["detector"])
        image = checker.check_target(rec["image"], "image")
        artifact = rec["artifact"]
        if artifact not in vocabulary:
            raise StoreError(f"{image}: detected artifact {artifact!r} is not in the vocabulary")
        raw = rec["region"]
        regions = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        size = checker.image_size(image) if regions else None
        try:
            regs = validate_regions(regions, vocabulary=vocabulary, image_size=size)
        except ValueError as exc:
            raise StoreError(f"{image}: detection by {rec['detector']}: {exc}") from exc
        if any(r["artifact"] != artifact for r in regs):
            raise StoreError(f"{image}: a region of the {artifact} detection names another tag")
        row = dict.fromkeys(COLUMNS)
        row.update(annotator=rec["detector"], target_kind="image", target=image,
                   action="detection", artifacts=json.dumps([artifact]),
                   regions=regions_json(regs), score=check_score(rec["score"], "score"),
                   threshold=check_score(rec["threshold"], "threshold"),
                   detector=rec["detector"])  # fmt: skip
        rows.append(row)
    return rows


def _key(ev: dict) -> tuple[str, str, str]:
    return ev["target"], ev["artifacts"][0], parse_detector(ev["annotator"])[0]


def plan(existing: Iterable[dict], rows: list[dict]) -> tuple[list[dict], int, int]:
    """``(rows to insert, unchanged, superseded)``: ``existing`` are the effective detection
    events (decoded, id order); a row whose (image, artifact, name) is stored at the same
    version is left out."""
    latest = {_key(ev): ev["annotator"] for ev in existing}
    todo, unchanged, superseded = [], 0, 0
    for row in rows:
        key = (row["target"], json.loads(row["artifacts"])[0], parse_detector(row["detector"])[0])
        have = latest.get(key)
        if have == row["detector"]:
            unchanged += 1
            continue
        superseded += have is not None
        latest[key] = row["detector"]
        todo.append(row)
    return todo, unchanged, superseded


def fold(detections: Iterable[dict], reviews: Iterable[dict]) -> pd.DataFrame:
    """The current detections (:data:`DETECTION_COLUMNS`), one row per (image, artifact,
    detector name), sorted by image, artifact, detector; ``review`` is ``confirmed``,
    ``rejected`` or ``unreviewed``."""
    latest: dict[tuple[str, str, str], dict] = {}
    for ev in detections:
        latest[_key(ev)] = ev
    verdicts: dict[tuple[str, str, str], dict] = {}
    for ev in reviews:
        verdicts[(ev["target"], ev["artifacts"][0], ev["detector"])] = ev
    rows = []
    for (image, artifact, name), ev in latest.items():
        review = verdicts.get((image, artifact, ev["annotator"]))
        rows.append({
            "image": image, "artifact": artifact, "score": ev["score"],
            "threshold": ev["threshold"], "detected": ev["score"] >= ev["threshold"],
            "detector": ev["annotator"], "name": name,
            "version": parse_detector(ev["annotator"])[1], "regions": ev["regions"] or [],
            "review": VERDICTS[review["verdict"]] if review else UNREVIEWED,
            "reviewed_by": review["annotator"] if review else None,
            "reviewed_at": review["ts"] if review else None, "time": ev["ts"],
        })  # fmt: skip
    df = pd.DataFrame(rows, columns=list(DETECTION_COLUMNS))
    df = df.sort_values(["image", "artifact", "detector"], kind="mergesort")
    df["detected"] = df["detected"].astype(bool)
    for col in ("reviewed_at", "time"):
        df[col] = pd.to_datetime(df[col], utc=True, format="ISO8601")
    return df.reset_index(drop=True)


def find(current: pd.DataFrame, image: str, artifact: str, detector: str) -> tuple[str, str]:
    """``(signature, tag)`` of the current detection of ``artifact`` (a vocabulary tag, or the
    detector's name) on ``image`` by ``detector`` (a signature ``detector:NAME@VERSION``,
    ``NAME@VERSION`` or ``NAME``)."""
    name = detector.removeprefix("detector:")
    full = f"detector:{name}" if "@" in name else None
    # the artifact as a vocabulary tag (text-overlay) or as its detector's name (text)
    same = (current["artifact"] == artifact) | (current["name"] == artifact)
    here = current[(current["image"] == image) & same]
    hit = here[here["detector"] == full] if full else here[here["name"] == name]
    if hit.empty:
        have = ", ".join(here["detector"]) or "none"
        raise StoreError(
            f"no current detection of {artifact} on {image} by {detector} (detections of "
            f"{artifact} there: {have}); run `workbench detect --to-store` first, or name one "
            "of those"
        )
    return str(hit["detector"].iloc[0]), str(hit["artifact"].iloc[0])
