"""The tag store's current state: the effective events (not undone) folded in id order, so the
latest bucket, artifact set (with its regions), flags and note of each image or post win."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import Connection, text

from curation.store_events import COLUMNS

CURRENT_COLUMNS = (
    "image", "bucket", "suggested", "artifacts", "regions", "flags", "note", "annotator", "time",
    "model", "epoch", "events",
)  # fmt: skip
POST_COLUMNS = ("post_id", "flags", "note", "annotator", "time", "events")
HISTORY_COLUMNS = ("id", "time", *COLUMNS[1:], "undone")


def undone_ids(conn: Connection) -> list[int]:
    rows = conn.execute(text("SELECT undoes FROM events WHERE undoes IS NOT NULL")).all()
    return [int(r[0]) for r in rows]


def decode(row: dict) -> dict:
    for key in ("artifacts", "regions", "flags"):
        if row.get(key) is not None:
            row[key] = json.loads(row[key])
    return row


def _empty_state(target: str) -> dict:
    return {
        "image": target, "bucket": None, "suggested": None, "artifacts": "", "regions": [],
        "flags": "", "note": None, "annotator": None, "time": None, "model": None,
        "epoch": None, "events": 0,
    }  # fmt: skip


def _fold(row: dict, ev: dict) -> None:
    if ev["action"] == "bucket":
        row["bucket"], row["suggested"] = ev["bucket"], ev["suggested"]
    elif ev["action"] == "artifacts":
        row["artifacts"] = ";".join(ev["artifacts"])
        row["regions"] = ev["regions"] or []
    elif ev["action"] == "flags":
        row["flags"] = ";".join(ev["flags"])
    if ev["note"] is not None:
        row["note"] = ev["note"]
    row.update(annotator=ev["annotator"], time=ev["ts"])
    # an event that names only the epoch (or only the model) keeps the other one known
    if ev["model"] is not None:
        row["model"] = ev["model"]
    if ev["epoch"] is not None:
        row["epoch"] = ev["epoch"]
    row["events"] += 1


def _frame(rows: list[dict], columns: Sequence[str], *, key: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    df = df.sort_values(key, kind="mergesort").reset_index(drop=True)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    if "epoch" in df.columns:
        df["epoch"] = df["epoch"].astype("Int64")
    df["events"] = df["events"].astype("int64")
    return df


def image_state(events: Iterable[dict], *, by_annotator: bool = False) -> pd.DataFrame:
    """One row per image of the effective ``events`` (decoded, in id order), sorted by image:
    the columns of :data:`CURRENT_COLUMNS`. ``by_annotator``: one row per (image, annotator),
    each folding only that annotator's events, sorted by image then annotator."""
    state: dict[tuple[str, str], dict] = {}
    for ev in events:
        key = (ev["target"], ev["annotator"] if by_annotator else "")
        _fold(state.setdefault(key, _empty_state(ev["target"])), ev)
    df = _frame(list(state.values()), CURRENT_COLUMNS, key="image")
    if by_annotator:
        df = df.sort_values(["image", "annotator"], kind="mergesort").reset_index(drop=True)
    return df


def post_state(events: Iterable[dict]) -> pd.DataFrame:
    """One row per post of the effective post ``events``, sorted by post_id: the columns of
    :data:`POST_COLUMNS`."""
    state: dict[str, dict] = {}
    for ev in events:
        _fold(state.setdefault(ev["target"], _empty_state(ev["target"])), ev)
    rows = [{**r, "post_id": r["image"]} for r in state.values()]
    return _frame(rows, POST_COLUMNS, key="post_id")
