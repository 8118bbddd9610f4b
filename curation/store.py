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

Events and their checks live in :mod:`curation.store_events`, the folding into the current state
in :mod:`curation.store_state`, the database plumbing in :mod:`curation.store_db`.

Actions and their payload:

``bucket``     ``bucket`` in :data:`BUCKETS` (None clears it), optional ``suggested`` bucket
``artifacts``  the image's full artifact set (replaces the previous one) and its ``regions``
``flags``      the full flag set of an image or a post (:data:`FLAGS`)
``note``       free text (also allowed on any other action)
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (
    Connection,
    text,
)

from curation import migrations, store_db
from curation.regions import regions_json
from curation.store_db import StoreBusyError, StoreError, StoreSchemaError
from curation.store_events import (
    ACTIONS,
    COLUMNS,
    INSERT,
    TARGET_KINDS,
    EventChecker,
    TagEvent,
    check_annotator,
    check_tag_name,
    now,
)
from curation.store_state import HISTORY_COLUMNS, decode, image_state, post_state, undone_ids
from curation.vocabulary import BUCKETS, FLAGS, SUGGESTIONS

DEFAULT_VOCABULARY = migrations.DEFAULT_VOCABULARY
_T = TypeVar("_T")
__all__ = [
    "ACTIONS", "BUCKETS", "DEFAULT_VOCABULARY", "FLAGS", "SUGGESTIONS", "TARGET_KINDS",
    "StoreBusyError", "StoreError", "StoreSchemaError", "TagEvent", "TagStore",
]  # fmt: skip


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
        self._checker = EventChecker(dataset, self.vocabulary)
        try:
            self._open(vocabulary)
        except BaseException:
            self._engine.dispose()  # no connection left open on a store that was refused
            raise

    def _open(self, vocabulary: Iterable[str] | None) -> None:
        """Check the schema version, create or upgrade the schema, extend the vocabulary."""
        seed = tuple(vocabulary) if vocabulary is not None else DEFAULT_VOCABULARY
        for tag in seed:
            check_tag_name(tag)
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
        return store_db.run_retrying(
            self._engine, fn, immediate=immediate, retry_integrity=retry_integrity,
            max_wait=self.max_wait, where=self.where,
        )  # fmt: skip

    # -- writing ----------------------------------------------------------------------------

    def add(self, ev: TagEvent) -> int:
        """Validate and append one event; return its id."""
        return self.add_many([ev])[0]

    def add_many(self, events: Iterable[TagEvent]) -> list[int]:
        """Validate every event, then append them all in one transaction; return their ids."""
        rows = [self._checker.row(ev) for ev in events]
        if not rows:
            return []

        def insert(conn: Connection) -> list[int]:
            ids = []
            for row in rows:
                row = {**row, "ts": now()}
                result = conn.execute(INSERT, row)
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
        annotator = check_annotator(annotator)

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
                INSERT,
                {
                    **dict.fromkeys(COLUMNS),
                    "ts": now(),
                    "annotator": annotator,
                    "target_kind": row["target_kind"],
                    "target": row["target"],
                    "action": "undo",
                    "undoes": row["id"],
                },
            )
            return decode(dict(row))

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
        tag = check_tag_name(tag)
        annotator = check_annotator(annotator)

        def step(conn: Connection) -> bool:
            if conn.execute(text("SELECT 1 FROM vocabulary WHERE tag = :t"), {"t": tag}).first():
                return False
            pos = conn.execute(text("SELECT COALESCE(MAX(position), -1) + 1 FROM vocabulary"))
            conn.execute(
                text(
                    "INSERT INTO vocabulary (tag, position, added_by, added_at) "
                    "VALUES (:t, :p, :a, :now)"
                ),
                {"t": tag, "p": int(pos.scalar()), "a": annotator, "now": now()},
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
        return [decode(dict(r)) for r in rows]

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
        return image_state(self._events(where, params, view="effective_events"))

    def post_flags(self) -> pd.DataFrame:
        """Current flags and note of each post that has one: ``post_id``, ``flags``
        (``;``-joined), ``note``, ``annotator``, ``time``, ``events``; sorted by post_id."""
        return post_state(self._events("WHERE target_kind = 'post'", view="effective_events"))

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
        undone = set(self._read(undone_ids))
        for ev in events:
            ev["undone"] = ev["id"] in undone
            ev["time"] = ev.pop("ts")
        df = pd.DataFrame(events, columns=HISTORY_COLUMNS)
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
