"""Saved views: a named set of a page's filters (its query-parameter dict), per dataset.

A view is a row of ``views``: ``dataset`` key, ``name`` (unique within the dataset), ``page``
(the page's address, e.g. ``triage``), ``params`` (JSON object of text values, as in the page's
address), ``annotator`` who saved it and ``saved_at`` (UTC). Saving a name again replaces it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from curation.store_db import StoreError
from curation.store_events import check_annotator, now

VIEW_COLUMNS = ("name", "page", "params", "annotator", "saved_at")
MAX_PARAMS = 16_000  # characters of JSON a view may hold


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise StoreError(f"a view's {what} must be non-empty text of at most {limit} characters")
    return value.strip()


def check(name: Any, page: Any, params: Any, annotator: Any) -> dict:
    """The checked row of a view (no dataset, no time)."""
    if not isinstance(params, Mapping):
        raise StoreError("a view's params must be a dict of filters, e.g. {'bucket': 'missed'}")
    clean = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise StoreError(f"a view's filter names must be text, got {key!r}")
        if isinstance(value, list | tuple):
            value = [str(v) for v in value]
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise StoreError(f"filter {key!r}: {type(value).__name__} cannot be saved in a view")
        clean[key] = value
    blob = json.dumps(clean, sort_keys=True, ensure_ascii=False)
    if len(blob) > MAX_PARAMS:
        raise StoreError(f"a view's filters are longer than {MAX_PARAMS} characters")
    return {"name": _text(name, "name", 200), "page": _text(page, "page", 100),
            "params": blob, "annotator": check_annotator(annotator)}  # fmt: skip


def save(conn: Connection, dataset: str, row: dict) -> None:
    args = {**row, "dataset": dataset, "t": now()}
    conn.execute(text("DELETE FROM views WHERE dataset = :dataset AND name = :name"), args)
    conn.execute(
        text(
            "INSERT INTO views (dataset, name, page, params, annotator, saved_at) "
            "VALUES (:dataset, :name, :page, :params, :annotator, :t)"
        ),
        args,
    )


def listed(conn: Connection, dataset: str, page: str | None) -> pd.DataFrame:
    sql, args = "SELECT * FROM views WHERE dataset = :d", {"d": dataset}
    if page is not None:
        sql, args = sql + " AND page = :p", {**args, "p": page}
    rows = conn.execute(text(sql + " ORDER BY page, name"), args).mappings().all()
    df = pd.DataFrame([dict(r) for r in rows], columns=["dataset", *VIEW_COLUMNS])
    df["params"] = [json.loads(p) for p in df["params"]]
    df["saved_at"] = pd.to_datetime(df["saved_at"], utc=True, format="ISO8601")
    return df[list(VIEW_COLUMNS)]


def delete(conn: Connection, dataset: str, name: str) -> None:
    gone = conn.execute(
        text("DELETE FROM views WHERE dataset = :d AND name = :n"), {"d": dataset, "n": name}
    )
    if gone.rowcount == 0:
        sql = text("SELECT name FROM views WHERE dataset = :d ORDER BY name")
        have = [r[0] for r in conn.execute(sql, {"d": dataset})]
        raise StoreError(
            f"no saved view {name!r} for this dataset (saved: {', '.join(have) or 'none'})"
        )
