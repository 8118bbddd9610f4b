"""The database side of the tag store: the SQLAlchemy engine, SQLite's settings, and the
errors of a store that cannot be used, each explained with the path and the fix.

SQLite: WAL journal, ``synchronous = NORMAL``, ``journal_size_limit`` (:data:`JOURNAL_SIZE_LIMIT`:
the WAL a long-held reader made grow is cut back to this size once a checkpoint resets it) and a
busy timeout of at most :data:`MAX_BUSY_TIMEOUT` seconds per statement (the store's retry loop
waits the rest of its ``max_wait``). A read-only SQLite file can still be read; a write then fails
with a message saying it is read-only.
"""

from __future__ import annotations

import errno
import os
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError

from curation import migrations

_T = TypeVar("_T")

JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes of WAL kept on disk after a checkpoint resets it
MAX_BUSY_TIMEOUT = 30.0  # seconds one SQLite statement may wait for a lock before a retry


class StoreError(ValueError):
    """An event was refused or the store cannot be used; the message says what was wrong and how
    to fix it."""


class StoreBusyError(StoreError, RuntimeError):
    """The database stayed locked longer than the store was willing to wait."""


class StoreSchemaError(StoreError, migrations.SchemaError):
    """The store's schema cannot be used: written by a newer workbench (a version this one does
    not know), or the database is another program's."""


def engine(url_or_path: str | Path, *, busy_timeout: float = MAX_BUSY_TIMEOUT) -> Engine:
    """The SQLAlchemy engine of a store; ``busy_timeout``: seconds a SQLite statement waits for a
    lock (the retry loop of :class:`TagStore` waits the rest of ``max_wait``)."""
    raw = str(url_or_path)
    if "://" in raw:
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError) as exc:
            raise StoreError(
                f"{raw!r} is not a database URL ({exc}); give a file path or a URL such as "
                "postgresql+psycopg://user@host/db"
            ) from exc
    else:
        if raw in ("", ":memory:"):
            raise StoreError("give the tag store a file path (e.g. workspace/tags.sqlite) or a URL")
        path = Path(raw).expanduser().resolve()
        if path.is_dir():
            raise StoreError(f"{path} is a folder; give a file path such as {path}/tags.sqlite")
        if path.exists() and not path.is_file():
            raise StoreError(f"{path} is not a regular file; give the path of a tags.sqlite file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the folder of the tag store {path} ({exc.strerror or exc}); "
                "give a store path in a folder you can write"
            ) from exc
        url = make_url(f"sqlite:///{path}")
    if url.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except (ArgumentError, ImportError) as exc:  # an unknown dialect or a missing driver
            raise StoreError(
                f"cannot use the tag store URL {url.render_as_string(hide_password=True)} "
                f"({exc}); check the scheme (sqlite:///PATH, postgresql+psycopg://...) and that "
                "its driver is installed"
            ) from exc
    if url.database in (None, "", ":memory:"):
        raise StoreError("an in-memory SQLite store cannot be shared; give a file path")
    engine = create_engine(url, connect_args={"timeout": busy_timeout})
    limit = int(JOURNAL_SIZE_LIMIT)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun explicitly below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        cur.execute(f"PRAGMA journal_size_limit = {limit}")
        tables = {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            cur.close()  # another program's database: leave it as it is (migrations refuse it)
            return
        try:
            cur.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            # A read-only store not yet in WAL mode can still be read; any write then fails
            # with "attempt to write a readonly database", which _store_problem explains.
            if "readonly" not in str(exc).lower():
                raise
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get("wb_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def sqlite_path(engine: Engine) -> Path | None:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    return Path(engine.url.database)


def describe(engine: Engine) -> str:
    """The store as the user named it: the SQLite file's path, or the URL without password."""
    path = sqlite_path(engine)
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


def store_problem(exc: DBAPIError, engine: Engine) -> StoreError | None:
    """A :class:`StoreError` explaining a database error the user can fix, or None for others
    (programming errors stay as they are)."""
    orig = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc.orig)
    msg = orig.lower()
    path = sqlite_path(engine)
    where = describe(engine)
    if "database or disk is full" in msg or "no space left" in msg or "disk full" in msg:
        return StoreError(
            f"no space left on the disk holding the tag store {where}; nothing was saved; "
            "free space on that disk (or move the store) and try again"
        )
    if path is None:
        if isinstance(exc, OperationalError):
            return StoreError(
                f"cannot use the tag store {where} ({orig}); check the URL, that the database "
                "server runs and that you may connect to it"
            )
        return None
    if "file is not a database" in msg or "file is encrypted" in msg:
        return StoreError(
            f"{path} is not a tag store (the file is not an SQLite database); give the path of "
            "a tags.sqlite file, or a new file name to start an empty store"
        )
    if "malformed" in msg or "corrupt" in msg:
        return StoreError(
            f"the tag store {path} is damaged ({orig}); restore it from a backup, or recover "
            f"what is left with: sqlite3 {path} .recover | sqlite3 recovered.sqlite"
        )
    if "readonly" in msg or "read-only" in msg:
        return StoreError(
            f"the tag store {path} is read-only ({orig}); nothing was saved; make it (and "
            f"{path.parent}) writable, or copy it to a writable folder and pass that copy as "
            "--store"
        )
    if "unable to open database file" in msg:
        if not os.access(path.parent, os.W_OK):
            return StoreError(
                f"cannot open the tag store {path}: its folder {path.parent} is read-only and "
                f"SQLite keeps {path.name}-wal and {path.name}-shm beside the store; make the "
                "folder writable, or copy the store to a writable folder and pass that copy as "
                "--store"
            )
        return StoreError(
            f"cannot open the tag store {path} ({orig}); check that the file can be read and "
            "written"
        )
    if "disk i/o error" in msg:
        return StoreError(
            f"the disk failed while using the tag store {path} ({orig}); nothing was saved; "
            "check the disk (is it full, removed, or a network share that went away?) and try "
            "again"
        )
    return None


def write_problem(path: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left on the disk holding {path}; free space or write it elsewhere"
    return f"cannot write {path} ({exc.strerror or exc}); choose a folder you can write"


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (file systems that cannot fsync a folder are let be)."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


def is_busy(exc: DBAPIError) -> bool:
    msg = str(exc.orig).lower()
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return (
        "database is locked" in msg
        or "database is busy" in msg
        or "database table is locked" in msg
        or sqlstate in ("40001", "40P01")  # PostgreSQL serialization failure, deadlock
    )


def run_retrying(
    engine: Engine,
    fn: Callable[[Connection], _T],
    *,
    immediate: bool,
    retry_integrity: bool,
    max_wait: float,
    where: str,
) -> _T:
    """Run ``fn`` in a transaction, retrying while the database is locked, for at most
    ``max_wait`` seconds (each SQLite statement waits for a lock at most the rest of that
    time, and never more than ``MAX_BUSY_TIMEOUT``)."""
    started = time.monotonic()
    deadline = started + max_wait
    attempt = 0
    while True:
        try:
            with engine.connect() as conn:
                if engine.dialect.name == "sqlite":  # wait no longer than max_wait
                    left = max(0.0, min(deadline - time.monotonic(), MAX_BUSY_TIMEOUT))
                    raw = conn.connection.dbapi_connection
                    raw.execute(f"PRAGMA busy_timeout = {int(left * 1000)}")
                conn.execution_options(wb_immediate=immediate)
                with conn.begin():
                    return fn(conn)
        except (OperationalError, IntegrityError, DBAPIError) as exc:
            if not (is_busy(exc) or (retry_integrity and isinstance(exc, IntegrityError))):
                problem = store_problem(exc, engine)
                if problem is None:
                    raise
                raise problem from exc
            left = deadline - time.monotonic()
            if left <= 0:
                raise StoreBusyError(
                    f"the tag store {where} stayed locked for "
                    f"{time.monotonic() - started:.1f} s (max_wait {max_wait:g} s; "
                    f"{exc.orig}); another process holds it; try again, or raise max_wait"
                ) from exc
            attempt += 1
            pause = min(0.01 * 2 ** min(attempt, 7), 1.0) * random.uniform(0.5, 1.5)
            time.sleep(min(pause, left))
