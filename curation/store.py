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

Every event carries the key of the dataset it was made on, and a store reads only its
dataset's events (:mod:`curation.store_scope`: keys, moved folders, legacy stores). Events and
their checks live in :mod:`curation.store_events`, the folding into the current state in
:mod:`curation.store_state`, detections in :mod:`curation.store_detections`, agreement between
annotators in :mod:`curation.store_agreement`, saved views in :mod:`curation.store_views`, the
database plumbing in :mod:`curation.store_db`.

Actions and their payload:

``bucket``     ``bucket`` in :data:`BUCKETS` (None clears it), optional ``suggested`` bucket
``artifacts``  the image's full artifact set (replaces the previous one) and its ``regions``
``flags``      the full flag set of an image or a post (:data:`FLAGS`)
``note``       free text (also allowed on any other action)
``detection``  a machine tag, signed ``detector:NAME@VERSION``: one artifact, ``score``,
               ``threshold``, ``regions`` (:meth:`TagStore.add_detections`)
``review``     a person's ``verdict`` (confirm / reject) on one ``detector``'s detection
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import (
    Connection,
    bindparam,
    text,
)

from curation import (
    migrations,
    store_agreement,
    store_db,
    store_detections,
    store_scope,
    store_views,
)
from curation.regions import regions_json
from curation.store_db import StoreBusyError, StoreError, StoreSchemaError
from curation.store_events import (
    ACTIONS,
    COLUMNS,
    INSERT,
    TARGET_KINDS,
    VERDICTS,
    EventChecker,
    TagEvent,
    check_annotator,
    check_human,
    check_note,
    check_score,
    check_tag_name,
    now,
)
from curation.store_state import HISTORY_COLUMNS, decode, image_state, post_state, undone_ids
from curation.vocabulary import BUCKETS, FLAGS, SUGGESTIONS

DEFAULT_VOCABULARY = migrations.DEFAULT_VOCABULARY
_HUMAN = ", ".join(f"'{a}'" for a in ACTIONS)  # the actions people take (not detections)
_T = TypeVar("_T")
__all__ = [
    "ACTIONS", "BUCKETS", "DEFAULT_VOCABULARY", "FLAGS", "SUGGESTIONS", "TARGET_KINDS",
    "StoreBusyError", "StoreError", "StoreSchemaError", "TagEvent", "TagStore",
]  # fmt: skip


class TagStore:
    """Append-only tag events in SQLite (a file path) or any SQLAlchemy database (a URL).

    ``dataset``: the dataset the store works on (a :class:`curation.dataset.Dataset`, or a
    dataset key as text): every event written carries its key and every read sees only its
    events (see :mod:`curation.store_scope`; None: the one dataset the store holds, or the
    legacy events of a store that holds none yet; a store holding several refuses to guess).
    A Dataset also checks image ids and post ids against it and region points against the
    image size.
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
        self._checker = EventChecker(None if isinstance(dataset, str) else dataset, self.vocabulary)
        ident = store_scope.identity(dataset) if dataset is not None else None
        self._also_read: list[str] = []  # keys a read-only store reads without registering
        # what opening did to the dataset registry (a moved folder, legacy events adopted)
        self.notices: list[str] = []
        try:
            self._open(vocabulary)
            self._canonical = self._scope(ident) if ident is not None else None
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

    def _scope(self, ident: store_scope.Identity) -> str:
        """Register the dataset (when new); the key this store writes under. A read-only store
        cannot register it: its events are read as registering would have found them (a moved
        folder's, the legacy ones), and saving says the store is read-only."""
        if self._read(lambda c: store_scope.needs_write(c, ident)):
            try:  # two processes registering one dataset at once: the second one retries
                with warnings.catch_warnings(record=True) as said:
                    warnings.simplefilter("always", store_scope.ScopeWarning)
                    key = self._write(
                        lambda c: store_scope.resolve(c, ident, write=True), retry_integrity=True
                    )
                for w in said:  # kept for pages to show, and passed on
                    self.notices.append(str(w.message))
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                return key
            except StoreError as exc:
                if "read-only" not in str(exc):
                    raise
                self._also_read = self._read(store_scope.unadopted)
        return self._read(lambda c: store_scope.resolve(c, ident, write=False))

    def _key(self, conn: Connection) -> str:
        """The dataset key events are written under (a store opened without a dataset finds
        it on every use: the datasets in the store may change)."""
        return self._canonical or store_scope.unscoped(conn, self.where)

    def _keys(self, conn: Connection) -> list[str]:
        """The dataset keys whose events this store reads (its key and its aliases)."""
        return sorted({*store_scope.members(conn, self._key(conn)), *self._also_read})

    @property
    def dataset_key(self) -> str:
        """The key of the dataset this store reads and writes (see :mod:`curation.store_scope`)."""
        return self._canonical or self._read(lambda c: store_scope.unscoped(c, self.where))

    def datasets(self) -> pd.DataFrame:
        """Every dataset key the store has seen: ``key, name, root, images, alias_of,
        first_seen`` (``alias_of``: the key whose events it shares, after a move or for the
        legacy events)."""
        cols = ["key", "name", "root", "images", "alias_of", "first_seen"]
        return pd.DataFrame(self._read(store_scope.registry), columns=cols)

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
                row = {**row, "ts": now(), "dataset": self._key(conn)}
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
                    self._sql(
                        "SELECT * FROM effective_events WHERE annotator = :a AND dataset IN "
                        ":keys ORDER BY id DESC LIMIT 1"
                    ),
                    {"a": annotator, "keys": self._keys(conn)},
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
                    "dataset": self._key(conn),
                },
            )
            return decode(dict(row))

        return self._write(step, retry_integrity=True)

    # -- detections (machine tags) -----------------------------------------------------------

    def add_detections(self, found: pd.DataFrame) -> store_detections.DetectionWrite:
        """Store detector results as machine tags (see :mod:`curation.store_detections`).

        ``found``: one row per (image, artifact) with ``image``, ``artifact`` (the vocabulary
        tag), ``score`` and ``threshold`` in [0, 1], ``region`` (JSON text or a list of
        regions) and ``detector`` (``detector:NAME@VERSION``); or the table of
        :func:`curation.perception.runner.detect_dataset` as it comes. Results already stored
        at the same version are left out; an artifact tag missing from the vocabulary is added
        (signed by its detector) and named in the result.
        """
        found = store_detections.as_tags(found)
        vocab = self.vocabulary()
        new_tags = sorted({str(a) for a in found.get("artifact", [])} - set(vocab))
        for tag in new_tags:
            check_tag_name(tag)
        signer = dict(zip(found.get("artifact", []), found.get("detector", []), strict=True))
        for tag in new_tags:
            self.add_tag(tag, str(signer[tag]))
        rows = store_detections.check_rows(found, self._checker, self.vocabulary())

        def write(conn: Connection) -> tuple[int, int]:
            existing = self._conn_events(conn, "AND action = 'detection'")
            todo, unchanged, superseded = store_detections.plan(existing, rows)
            if todo:
                stamp = now()
                conn.execute(INSERT, [{**r, "ts": stamp, "dataset": self._key(conn)}
                                      for r in todo])  # fmt: skip
            return len(todo), unchanged, superseded

        added, unchanged, superseded = self._write(write)
        return store_detections.DetectionWrite(added, unchanged, superseded, tuple(new_tags))

    def detections(
        self, *, min_score: float | None = None, detected_only: bool = False
    ) -> pd.DataFrame:
        """Current detections: one row per (image, artifact, detector name), the newest
        version's result, with its review. Columns (:data:`store_detections.DETECTION_COLUMNS`):
        ``image``, ``artifact``, ``score``, ``threshold``, ``detected`` (score >= threshold),
        ``detector`` (``detector:NAME@VERSION``), ``name``, ``version``, ``regions``,
        ``review`` (``confirmed`` / ``rejected`` / ``unreviewed``), ``reviewed_by``,
        ``reviewed_at``, ``time``. ``min_score``: only scores >= it; ``detected_only``: only
        results at or above their detector's threshold."""
        dets = self._events("AND action = 'detection'", view="effective_events")
        reviews = self._events("AND action = 'review'", view="effective_events")
        df = store_detections.fold(dets, reviews)
        if min_score is not None:
            df = df[df["score"] >= check_score(min_score, "min_score")]
        if detected_only:
            df = df[df["detected"]]
        return df.reset_index(drop=True)

    def review_detection(
        self,
        image: str,
        artifact: str,
        detector: str,
        verdict: str = "confirm",
        *,
        annotator: str,
        note: str | None = None,
    ) -> int:
        """Confirm or reject the current detection of ``artifact`` (the vocabulary tag, or the
        detector's name) on ``image`` by ``detector`` (``detector:NAME@VERSION``,
        ``NAME@VERSION`` or ``NAME`` for its current version);
        ``verdict``: ``confirm`` or ``reject``. An event like any other: undo reverts it."""
        if verdict not in VERDICTS:
            raise StoreError(f"verdict must be confirm or reject, not {verdict!r}")
        who = check_human(annotator)
        image = self._checker.check_target(image, "image")
        signature, tag = store_detections.find(self.detections(), image, artifact, detector)
        row = {**dict.fromkeys(COLUMNS), "annotator": who, "target_kind": "image",
               "target": image, "action": "review", "artifacts": json.dumps([tag]),
               "detector": signature, "verdict": verdict, "note": check_note(note)}  # fmt: skip

        def insert(conn: Connection) -> int:
            result = conn.execute(INSERT, {**row, "ts": now(), "dataset": self._key(conn)})
            return int(result.inserted_primary_key[0])

        return self._write(insert)

    def _conn_events(self, conn: Connection, where: str) -> list[dict]:
        sql = f"SELECT * FROM effective_events WHERE dataset IN :keys {where} ORDER BY id"
        rows = conn.execute(self._sql(sql), {"keys": self._keys(conn)}).mappings().all()
        return [decode(dict(r)) for r in rows]

    # -- saved views ------------------------------------------------------------------------

    def save_view(self, name: str, page: str, params: dict, annotator: str) -> None:
        """Save (or replace) the view ``name``: a page's filters (its query-parameter dict),
        for this dataset."""
        row = store_views.check(name, page, params, annotator)
        self._write(lambda c: store_views.save(c, self._key(c), row))

    def views(self, page: str | None = None) -> pd.DataFrame:
        """This dataset's saved views (of one ``page``, or all): ``name``, ``page``,
        ``params`` (dict), ``annotator``, ``saved_at``; sorted by page and name."""
        return self._read(lambda c: store_views.listed(c, self._key(c), page))

    def delete_view(self, name: str) -> None:
        """Delete this dataset's saved view ``name`` (StoreError when there is none)."""
        self._write(lambda c: store_views.delete(c, self._key(c), name))

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

    @staticmethod
    def _sql(sql: str):
        return text(sql).bindparams(bindparam("keys", expanding=True))

    def _events(self, where: str = "", params: dict | None = None, *, view: str) -> list[dict]:
        """Events of this store's dataset (``where``: further ``AND`` clauses), in id order."""
        sql = f"SELECT * FROM {view} WHERE dataset IN :keys {where} ORDER BY id"

        def read(conn: Connection) -> list:
            args = {**(params or {}), "keys": self._keys(conn)}
            return conn.execute(self._sql(sql), args).mappings().all()

        rows = self._read(read)
        return [decode(dict(r)) for r in rows]

    def current(self, *, annotator: str | None = None, by: str = "image") -> pd.DataFrame:
        """Current human tags: one row per image that has an effective event, sorted by image
        (detections are machine tags: see :meth:`detections`).

        Columns: ``image``, ``bucket``, ``suggested``, ``artifacts`` (``;``-joined, sorted, as
        in the manifest), ``regions`` (list of region dicts), ``flags`` (``;``-joined), ``note``,
        ``annotator``/``time`` of the latest effective event, ``model``/``epoch`` of the latest
        one that named the checkpoint on screen, ``events`` (number of effective events).
        ``annotator``: only that annotator's events. ``by="annotator"``: one row per (image,
        annotator), each folding only that annotator's events (every vote kept), sorted by
        image then annotator; ``by="image"``: the latest decision of anyone wins.
        """
        if by not in ("image", "annotator"):
            raise StoreError(f"by must be 'image' or 'annotator', not {by!r}")
        where, params = f"AND target_kind = 'image' AND action IN ({_HUMAN})", {}
        if annotator is not None:
            where, params = where + " AND annotator = :a", {"a": annotator}
        events = self._events(where, params, view="effective_events")
        return image_state(events, by_annotator=by == "annotator")

    def consensus(self) -> pd.DataFrame:
        """One row per image some annotator put in a bucket: the majority bucket and how the
        votes split (see :func:`curation.store_agreement.consensus`)."""
        return store_agreement.consensus(self.current(by="annotator"))

    def agreement(self) -> store_agreement.Agreement:
        """Cohen's kappa per pair of annotators, Fleiss' kappa over all, and the conflicts
        (see :func:`curation.store_agreement.agreement`)."""
        return store_agreement.agreement(self.current(by="annotator"))

    def post_flags(self) -> pd.DataFrame:
        """Current flags and note of each post that has one: ``post_id``, ``flags``
        (``;``-joined), ``note``, ``annotator``, ``time``, ``events``; sorted by post_id."""
        return post_state(self._events("AND target_kind = 'post'", view="effective_events"))

    def history(
        self, image: str | None = None, *, post: str | None = None, annotator: str | None = None
    ) -> pd.DataFrame:
        """Every event (including undo events) in order, with ``undone`` marking reverted ones.

        Filters: ``image`` (events on that image), ``post`` (events on that post itself),
        ``annotator``. Detections (``action='detection'``, annotator ``detector:NAME@VERSION``)
        and reviews of them are events too.
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
        where = "".join(f" AND ({c})" for c in clauses)
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
        """Number of stored events of this store's dataset (undo events included)."""
        sql = self._sql("SELECT COUNT(*) FROM events WHERE dataset IN :keys")
        return int(self._read(lambda c: c.execute(sql, {"keys": self._keys(c)}).scalar()))

    def snapshot_sha256(self) -> str:
        """SHA-256 of the canonical CSV of the current state of images, posts and detections
        (with their reviews) of this store's dataset."""
        images = self.current()
        images = images.assign(regions=[regions_json(r) for r in images["regions"]])
        h = hashlib.sha256()
        h.update(images.drop(columns=["time"]).to_csv(index=False, lineterminator="\n").encode())
        posts = self.post_flags().drop(columns=["time"])
        h.update(posts.to_csv(index=False, lineterminator="\n").encode())
        dets = self.detections()
        if not dets.empty:  # a store without detections keeps the hash it had before them
            dets = dets.assign(regions=[regions_json(r) for r in dets["regions"]])
            h.update(dets.drop(columns=["time"]).to_csv(index=False, lineterminator="\n").encode())
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
