"""The tag store: annotators' decisions as append-only events in a SQL database.

Every action is one row of ``events`` (who, when in UTC, which image or post, which model and
epoch were on screen, and what was decided); nothing is updated or deleted. Undo appends an
``undo`` event pointing at the annotator's latest effective event, so history stays complete.
The current state (:meth:`TagStore.current`) folds the effective events (not undone) in id order:
the latest bucket, artifact set (with its regions), flags and note of each image win.

Storage: a SQLite file by default (WAL journal capped at :data:`JOURNAL_SIZE_LIMIT` once
readers let go, busy timeout, ``BEGIN IMMEDIATE`` for writes, retry with backoff when the file is
locked, never longer than ``max_wait``), or any SQLAlchemy URL, e.g.
``postgresql+psycopg://user@host/db`` for a team sharing one server. The schema is versioned
(:mod:`curation.migrations`) and upgraded on open.

Every problem with the store itself (not a database, read-only, a full disk, a newer schema, a
server that does not answer) raises :class:`StoreError` naming the store and the fix; a read-only
SQLite file can still be read (listing works, saving says it is read-only).

Actions and their payload:

``bucket``     ``bucket`` in :data:`BUCKETS` (None clears it), optional ``suggested`` bucket
``artifacts``  the image's full artifact set (replaces the previous one) and its ``regions``
``flags``      the full flag set of an image or a post (:data:`FLAGS`)
``note``       free text (also allowed on any other action)
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import numbers
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from PIL import Image
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from curation import migrations, store_db
from curation.regions import regions_json, validate_regions
from curation.store_db import StoreBusyError, StoreError, StoreSchemaError
from curation.vocabulary import BUCKETS, FLAGS, SUGGESTIONS

ACTIONS = ("bucket", "artifacts", "flags", "note")
TARGET_KINDS = ("image", "post")
DEFAULT_VOCABULARY = migrations.DEFAULT_VOCABULARY
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_T = TypeVar("_T")


@dataclass(frozen=True)
class TagEvent:
    """One annotator action, before it is stored (``id`` and time are assigned on insert).

    ``target`` is a manifest ``image`` path (``target_kind='image'``) or a ``post_id``.
    ``model``/``epoch`` name the checkpoint that was on screen when the decision was made.
    """

    target: str
    annotator: str
    action: str
    target_kind: str = "image"
    bucket: str | None = None
    suggested: str | None = None
    artifacts: Sequence[str] | None = None
    regions: Sequence[dict] | None = None
    flags: Sequence[str] | None = None
    note: str | None = None
    model: str | None = None
    epoch: int | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class TagStore:
    """Append-only tag events in SQLite (a file path) or any SQLAlchemy database (a URL).

    ``dataset``: when given (a :class:`curation.dataset.Dataset`), image ids and post ids are
    checked against it and region points against the image size.
    ``vocabulary``: artifact tags for a new store (default :data:`DEFAULT_VOCABULARY`); for an
    existing store, tags missing from its vocabulary are added.
    ``max_wait``: seconds to keep retrying a locked database before :class:`StoreBusyError`.
    """

    def __init__(
        self,
        url_or_path: str | Path,
        *,
        dataset: Any = None,
        vocabulary: Iterable[str] | None = None,
        max_wait: float = 120.0,
    ):
        if isinstance(max_wait, bool) or not isinstance(max_wait, numbers.Real):
            raise StoreError(f"max_wait must be a number of seconds, not {max_wait!r}")
        if not math.isfinite(max_wait) or max_wait < 0:
            raise StoreError(f"max_wait must be a finite number of seconds >= 0, not {max_wait}")
        self.max_wait = float(max_wait)
        self._engine = store_db.engine(
            url_or_path, busy_timeout=min(self.max_wait, store_db.MAX_BUSY_TIMEOUT)
        )
        self._images: set[str] | None = None
        self._posts: set[str] | None = None
        self._dataset = dataset
        if dataset is not None:
            self._images = set(dataset.table["image"])
            self._posts = set(dataset.table["post_id"])
        try:
            self._open(vocabulary)
        except BaseException:
            self._engine.dispose()  # no connection left open on a store that was refused
            raise

    def _open(self, vocabulary: Iterable[str] | None) -> None:
        """Check the schema version, create or upgrade the schema, extend the vocabulary."""
        seed = tuple(vocabulary) if vocabulary is not None else DEFAULT_VOCABULARY
        for tag in seed:
            _check_tag_name(tag)
        have = self._read(migrations.current_version)
        if have > migrations.LATEST:  # before any write: a read-only newer store says so too
            raise StoreSchemaError(
                f"the tag store {self.where} has schema version {have}, written by a newer "
                f"workbench (this one knows up to {migrations.LATEST}); upgrade the workbench "
                "to open it, or give another --store"
            )
        if have != migrations.LATEST:
            try:
                self._write(lambda conn: migrations.upgrade(conn, seed=seed))
            except migrations.SchemaError as exc:  # e.g. another program's database
                raise StoreSchemaError(f"the tag store {self.where}: {exc}") from exc
        if vocabulary is not None:
            missing = [t for t in seed if t not in self.vocabulary()]
            for tag in missing:
                self.add_tag(tag, "config")

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to log or record)."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def where(self) -> str:
        """The SQLite file's path, or the URL with any password hidden (for messages)."""
        return store_db.describe(self._engine)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> TagStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TagStore({self.url!r})"

    def schema_version(self) -> int:
        return self._read(migrations.current_version)

    def _write(self, fn: Callable[[Connection], _T], *, retry_integrity: bool = False) -> _T:
        return self._retry(fn, immediate=True, retry_integrity=retry_integrity)

    def _read(self, fn: Callable[[Connection], _T]) -> _T:
        return self._retry(fn, immediate=False, retry_integrity=False)

    def _retry(self, fn, *, immediate: bool, retry_integrity: bool):
        """Run ``fn`` in a transaction, retrying while the database is locked, for at most
        ``max_wait`` seconds (each SQLite statement waits for a lock at most the rest of that
        time, and never more than ``store_db.MAX_BUSY_TIMEOUT``)."""
        started = time.monotonic()
        deadline = started + self.max_wait
        attempt = 0
        while True:
            try:
                with self._engine.connect() as conn:
                    if self._engine.dialect.name == "sqlite":  # wait no longer than max_wait
                        left = max(0.0, min(deadline - time.monotonic(), store_db.MAX_BUSY_TIMEOUT))
                        raw = conn.connection.dbapi_connection
                        raw.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
                    conn.execution_options(wb_immediate=immediate)
                    with conn.begin():
                        return fn(conn)
            except (OperationalError, IntegrityError, DBAPIError) as exc:
                if not (
                    store_db.is_busy(exc) or (retry_integrity and isinstance(exc, IntegrityError))
                ):
                    problem = store_db.store_problem(exc, self._engine)
                    if problem is None:
                        raise
                    raise problem from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreBusyError(
                        f"the tag store {self.where} stayed locked for "
                        f"{time.monotonic() - started:.1f} s (max_wait {self.max_wait:g} s; "
                        f"{exc.orig}); another process holds it; try again, or raise max_wait"
                    ) from exc
                attempt += 1
                pause = min(0.01 * 2 ** min(attempt, 7), 1.0) * random.uniform(0.5, 1.5)
                time.sleep(min(pause, left))

    # -- writing ----------------------------------------------------------------------------

    def add(self, ev: TagEvent) -> int:
        """Validate and append one event; return its id."""
        return self.add_many([ev])[0]

    def add_many(self, events: Iterable[TagEvent]) -> list[int]:
        """Validate every event, then append them all in one transaction; return their ids."""
        rows = [self._row(ev) for ev in events]
        if not rows:
            return []

        def insert(conn: Connection) -> list[int]:
            ids = []
            for row in rows:
                row = {**row, "ts": _now()}
                result = conn.execute(_INSERT, row)
                ids.append(int(result.inserted_primary_key[0]))
            return ids

        return self._write(insert)

    def set_bucket(
        self,
        image: str,
        bucket: str | None,
        annotator: str,
        *,
        suggested: str | None = None,
        model: str | None = None,
        epoch: int | None = None,
        note: str | None = None,
    ) -> int:
        """Put ``image`` in ``bucket`` (``worked``/``missed``/``spurious``; None clears it).

        ``suggested``: the bucket the workbench suggested, so confirmations and overrides can be
        told apart later.
        """
        return self.add(
            TagEvent(image, annotator, "bucket", bucket=bucket, suggested=suggested,
                     model=model, epoch=epoch, note=note)
        )  # fmt: skip

    def set_artifacts(
        self,
        image: str,
        artifacts: Iterable[str],
        annotator: str,
        regions: Sequence[dict] | None = None,
        *,
        model: str | None = None,
        epoch: int | None = None,
        note: str | None = None,
    ) -> int:
        """Set the full artifact set of ``image`` (replaces the previous set; ``[]`` clears it).

        ``regions``: boxes/polygons in the format of :mod:`curation.regions`; each region's
        artifact must be one of ``artifacts``.
        """
        if isinstance(artifacts, str):
            raise StoreError(
                f"artifacts must be a list of tags, e.g. ['tongue'], not {artifacts!r}"
            )
        return self.add(
            TagEvent(image, annotator, "artifacts", artifacts=tuple(artifacts),
                     regions=regions, model=model, epoch=epoch, note=note)
        )  # fmt: skip

    def flag_post(
        self,
        post_id: str,
        flags: Iterable[str] | str,
        annotator: str,
        *,
        note: str | None = None,
        model: str | None = None,
        epoch: int | None = None,
    ) -> int:
        """Set the flags of a whole post (e.g. ``multiple-animals``, ``exclude``; ``[]`` clears)."""
        flags = (flags,) if isinstance(flags, str) else tuple(flags)
        return self.add(
            TagEvent(post_id, annotator, "flags", target_kind="post", flags=flags,
                     note=note, model=model, epoch=epoch)
        )  # fmt: skip

    def flag_image(
        self,
        image: str,
        flags: Iterable[str] | str,
        annotator: str,
        *,
        note: str | None = None,
        model: str | None = None,
        epoch: int | None = None,
    ) -> int:
        """Set the flags of one image (e.g. ``exclude``; ``[]`` clears)."""
        flags = (flags,) if isinstance(flags, str) else tuple(flags)
        return self.add(
            TagEvent(image, annotator, "flags", flags=flags, note=note, model=model, epoch=epoch)
        )

    def set_note(
        self, target: str, note: str, annotator: str, *, target_kind: str = "image"
    ) -> int:
        """Attach a note to an image or a post (``""`` clears it)."""
        return self.add(TagEvent(target, annotator, "note", target_kind=target_kind, note=note))

    def undo(self, annotator: str) -> dict | None:
        """Undo ``annotator``'s latest effective action; return that event, or None if none.

        Repeated calls walk further back. Other annotators' events are never touched.
        """
        annotator = _check_annotator(annotator)

        def step(conn: Connection) -> dict | None:
            row = (
                conn.execute(
                    text(
                        "SELECT * FROM effective_events WHERE annotator = :a "
                        "ORDER BY id DESC LIMIT 1"
                    ),
                    {"a": annotator},
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            conn.execute(
                _INSERT,
                {
                    **dict.fromkeys(_COLUMNS),
                    "ts": _now(),
                    "annotator": annotator,
                    "target_kind": row["target_kind"],
                    "target": row["target"],
                    "action": "undo",
                    "undoes": row["id"],
                },
            )
            return _decode(dict(row))

        return self._write(step, retry_integrity=True)

    # -- vocabulary -------------------------------------------------------------------------

    def vocabulary(self) -> list[str]:
        """Artifact tags annotators may use, in display order."""
        rows = self._read(
            lambda c: c.execute(text("SELECT tag FROM vocabulary ORDER BY position, tag")).all()
        )
        return [r[0] for r in rows]

    def add_tag(self, tag: str, annotator: str) -> bool:
        """Add an artifact tag to the vocabulary; False when it was already there."""
        tag = _check_tag_name(tag)
        annotator = _check_annotator(annotator)

        def step(conn: Connection) -> bool:
            if conn.execute(text("SELECT 1 FROM vocabulary WHERE tag = :t"), {"t": tag}).first():
                return False
            pos = conn.execute(text("SELECT COALESCE(MAX(position), -1) + 1 FROM vocabulary"))
            conn.execute(
                text(
                    "INSERT INTO vocabulary (tag, position, added_by, added_at) "
                    "VALUES (:t, :p, :a, :now)"
                ),
                {"t": tag, "p": int(pos.scalar()), "a": annotator, "now": _now()},
            )
            return True

        return self._write(step, retry_integrity=True)

    def remove_tag(self, tag: str) -> None:
        """Stop accepting ``tag`` in new events (events already stored keep it)."""

        def step(conn: Connection) -> None:
            gone = conn.execute(text("DELETE FROM vocabulary WHERE tag = :t"), {"t": tag})
            if gone.rowcount == 0:
                raise StoreError(f"{tag!r} is not in the vocabulary; nothing to remove")

        self._write(step)

    # -- reading ----------------------------------------------------------------------------

    def _events(self, where: str = "", params: dict | None = None, *, view: str) -> list[dict]:
        sql = f"SELECT * FROM {view} {where} ORDER BY id"
        rows = self._read(lambda c: c.execute(text(sql), params or {}).mappings().all())
        return [_decode(dict(r)) for r in rows]

    def current(self, *, annotator: str | None = None) -> pd.DataFrame:
        """Current state: one row per image that has an effective event, sorted by image.

        Columns: ``image``, ``bucket``, ``suggested``, ``artifacts`` (``;``-joined, sorted, as
        in the manifest), ``regions`` (list of region dicts), ``flags`` (``;``-joined), ``note``,
        ``annotator``/``time`` of the latest effective event, ``model``/``epoch`` of the latest
        one that named the checkpoint on screen, ``events`` (number of effective events).
        ``annotator``: only that annotator's events.
        """
        where, params = "WHERE target_kind = 'image'", {}
        if annotator is not None:
            where, params = where + " AND annotator = :a", {"a": annotator}
        state: dict[str, dict] = {}
        for ev in self._events(where, params, view="effective_events"):
            row = state.setdefault(ev["target"], _empty_state(ev["target"]))
            _fold(row, ev)
        return _frame(list(state.values()), _CURRENT_COLUMNS, key="image")

    def post_flags(self) -> pd.DataFrame:
        """Current flags and note of each post that has one: ``post_id``, ``flags``
        (``;``-joined), ``note``, ``annotator``, ``time``, ``events``; sorted by post_id."""
        state: dict[str, dict] = {}
        for ev in self._events("WHERE target_kind = 'post'", view="effective_events"):
            row = state.setdefault(ev["target"], _empty_state(ev["target"]))
            _fold(row, ev)
        rows = [{**r, "post_id": r["image"]} for r in state.values()]
        return _frame(rows, _POST_COLUMNS, key="post_id")

    def history(
        self, image: str | None = None, *, post: str | None = None, annotator: str | None = None
    ) -> pd.DataFrame:
        """Every event (including undo events) in order, with ``undone`` marking reverted ones.

        Filters: ``image`` (events on that image), ``post`` (events on that post itself),
        ``annotator``.
        """
        clauses, params = [], {}
        if image is not None:
            clauses.append("target_kind = 'image' AND target = :img")
            params["img"] = image
        if post is not None:
            clauses.append("target_kind = 'post' AND target = :post")
            params["post"] = post
        if annotator is not None:
            clauses.append("annotator = :a")
            params["a"] = annotator
        where = ("WHERE " + " AND ".join(f"({c})" for c in clauses)) if clauses else ""
        events = self._events(where, params, view="events")
        undone = set(self._read(_undone_ids))
        for ev in events:
            ev["undone"] = ev["id"] in undone
            ev["time"] = ev.pop("ts")
        df = pd.DataFrame(events, columns=_HISTORY_COLUMNS)
        df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
        df["epoch"] = df["epoch"].astype("Int64")
        df["undoes"] = df["undoes"].astype("Int64")
        return df

    def count(self) -> int:
        """Number of stored events (undo events included)."""
        return int(self._read(lambda c: c.execute(text("SELECT COUNT(*) FROM events")).scalar()))

    def snapshot_sha256(self) -> str:
        """SHA-256 of the canonical CSV of the current state of images and posts."""
        images = self.current()
        images = images.assign(regions=[regions_json(r) for r in images["regions"]])
        h = hashlib.sha256()
        h.update(images.drop(columns=["time"]).to_csv(index=False, lineterminator="\n").encode())
        posts = self.post_flags().drop(columns=["time"])
        h.update(posts.to_csv(index=False, lineterminator="\n").encode())
        return h.hexdigest()

    def export_csv(self, path: str | Path) -> Path:
        """Write :meth:`current` to ``path`` as CSV (regions as JSON text), atomically."""
        path = Path(path)
        df = self.current()
        df = df.assign(regions=[regions_json(r) for r in df["regions"]])
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                df.to_csv(fh, index=False, lineterminator="\n")
                fh.flush()
                os.fsync(fh.fileno())  # the data is on disk before the name points at it
            os.replace(tmp, path)  # readers never see half a file
            store_db.fsync_dir(path.parent)
        except OSError as exc:
            raise StoreError(store_db.write_problem(path, exc)) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return path

    # -- validation -------------------------------------------------------------------------

    def _row(self, ev: TagEvent) -> dict:
        annotator = _check_annotator(ev.annotator)
        if ev.action not in ACTIONS:
            raise StoreError(
                f"unknown action {ev.action!r}; use one of {', '.join(ACTIONS)} (undo has its "
                "own method)"
            )
        if ev.target_kind not in TARGET_KINDS:
            raise StoreError(f"target_kind must be 'image' or 'post', not {ev.target_kind!r}")
        target = self._check_target(ev.target, ev.target_kind)
        row = {**dict.fromkeys(_COLUMNS), "annotator": annotator, "target": target}
        row.update(target_kind=ev.target_kind, action=ev.action, note=_check_note(ev.note))
        row.update(model=_check_model(ev.model), epoch=_check_epoch(ev.epoch))
        if ev.action == "bucket":
            if ev.target_kind != "image":
                raise StoreError("buckets apply to images (queries), not to posts")
            if ev.bucket is not None and ev.bucket not in BUCKETS:
                raise StoreError(
                    f"unknown bucket {ev.bucket!r}; use one of {', '.join(BUCKETS)} "
                    "(or None to clear)"
                )
            if ev.suggested is not None and ev.suggested not in SUGGESTIONS:
                raise StoreError(
                    f"unknown suggested bucket {ev.suggested!r}; "
                    f"use one of {', '.join(SUGGESTIONS)}"
                )
            row.update(bucket=ev.bucket, suggested=ev.suggested)
        elif ev.action == "artifacts":
            if ev.target_kind != "image":
                raise StoreError("artifacts are tagged per image; tag each photo of the post")
            row.update(self._artifacts(target, ev.artifacts, ev.regions))
        elif ev.action == "flags":
            row["flags"] = json.dumps(_check_flags(ev.flags))
        elif ev.note is None:
            raise StoreError("a note action needs a note (use '' to clear the note)")
        return row

    def _check_target(self, target: str, kind: str) -> str:
        if not isinstance(target, str) or not target.strip():
            raise StoreError(f"the {kind} id must be a non-empty string, got {target!r}")
        target = target.strip()
        known = self._images if kind == "image" else self._posts
        if known is not None and target not in known:
            close = difflib.get_close_matches(target, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            what = "manifest image path (split/file)" if kind == "image" else "post_id"
            raise StoreError(
                f"unknown {kind} {target!r}: not in the dataset ({len(known)} {kind}s); "
                f"use its {what}{hint}"
            )
        return target

    def _artifacts(self, image: str, artifacts, regions) -> dict:
        if artifacts is None or isinstance(artifacts, str):
            raise StoreError("artifacts must be a list of tags, e.g. ['tongue', 'grass']")
        vocab = self.vocabulary()
        tags = sorted({a.strip() for a in artifacts})
        unknown = [a for a in tags if a not in vocab]
        if unknown:
            raise StoreError(
                f"unknown artifact tag(s) {', '.join(unknown)}; use {', '.join(vocab)} "
                "(or add the tag to the vocabulary first)"
            )
        size = self._image_size(image) if regions else None
        try:
            regs = validate_regions(regions, vocabulary=vocab, image_size=size)
        except ValueError as exc:
            raise StoreError(f"{image}: {exc}") from exc
        stray = sorted({r["artifact"] for r in regs} - set(tags))
        if stray:
            raise StoreError(
                f"{image}: region(s) marked {', '.join(stray)} but the artifact list does not "
                "contain it; add the tag to the artifacts or remove the region"
            )
        return {"artifacts": json.dumps(tags), "regions": regions_json(regs)}

    def _image_size(self, image: str) -> tuple[int, int] | None:
        """Displayed (EXIF-rotated) ``(width, height)``; None without a dataset."""
        if self._dataset is None:
            return None
        path = self._dataset.path(image)
        try:
            with Image.open(path) as img:
                width, height = img.size
                if img.getexif().get(0x0112) in (5, 6, 7, 8):
                    width, height = height, width
        except OSError as exc:
            raise StoreError(f"{image}: cannot read the image size from {path} ({exc})") from exc
        return width, height


# -- module helpers ----------------------------------------------------------------------------

_COLUMNS = (
    "ts", "annotator", "target_kind", "target", "action", "bucket", "suggested", "artifacts",
    "regions", "flags", "note", "model", "epoch", "undoes",
)  # fmt: skip
# The events table as written by migration 1 (the DDL lives in curation.migrations).
_EVENTS = Table(
    "events",
    MetaData(),
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    *(Column(c, Integer() if c in ("epoch", "undoes") else String()) for c in _COLUMNS),
)
_INSERT = _EVENTS.insert()
_CURRENT_COLUMNS = (
    "image", "bucket", "suggested", "artifacts", "regions", "flags", "note", "annotator", "time",
    "model", "epoch", "events",
)  # fmt: skip
_POST_COLUMNS = ("post_id", "flags", "note", "annotator", "time", "events")
_HISTORY_COLUMNS = ("id", "time", *_COLUMNS[1:], "undone")


def _undone_ids(conn: Connection) -> list[int]:
    rows = conn.execute(text("SELECT undoes FROM events WHERE undoes IS NOT NULL")).all()
    return [int(r[0]) for r in rows]


def _decode(row: dict) -> dict:
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
    if ev["model"] is not None or ev["epoch"] is not None:
        row.update(model=ev["model"], epoch=ev["epoch"])
    row["events"] += 1


def _frame(rows: list[dict], columns: Sequence[str], *, key: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns))
    df = df.sort_values(key, kind="mergesort").reset_index(drop=True)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    if "epoch" in df.columns:
        df["epoch"] = df["epoch"].astype("Int64")
    df["events"] = df["events"].astype("int64")
    return df


def _check_annotator(annotator: Any) -> str:
    if not isinstance(annotator, str) or not annotator.strip():
        raise StoreError("every event needs an annotator name (who made the decision)")
    if len(annotator) > 200:
        raise StoreError("the annotator name is longer than 200 characters")
    return annotator.strip()


def _check_tag_name(tag: Any) -> str:
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise StoreError(
            f"invalid tag name {tag!r}: use lowercase letters, digits and '-', "
            "e.g. 'text-overlay' (at most 64 characters)"
        )
    return tag


def _check_flags(flags: Any) -> list[str]:
    if flags is None or isinstance(flags, str):
        raise StoreError(f"flags must be a list drawn from {', '.join(FLAGS)}")
    flags = sorted(set(flags))
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise StoreError(f"unknown flag(s) {', '.join(unknown)}; use {', '.join(FLAGS)}")
    return flags


def _check_note(note: Any) -> str | None:
    if note is not None and not isinstance(note, str):
        raise StoreError(f"a note must be text, not {type(note).__name__}")
    return note


def _check_model(model: Any) -> str | None:
    if model is not None and (not isinstance(model, str) or len(model) > 500):
        raise StoreError("model must be a short text naming the checkpoint (or series) on screen")
    return model


def _check_epoch(epoch: Any) -> int | None:
    if epoch is None:
        return None
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise StoreError(f"epoch must be a non-negative whole number, got {epoch!r}")
    return int(epoch)
