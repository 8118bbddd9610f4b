"""Which dataset a tag store's events belong to: dataset keys, the registry, moves and legacy.

Every event carries a **dataset key**, ``NAME@HASH``: ``NAME`` is the dataset's name (the
manifest file's stem, or the folder's name for a torchreid folder or a ``manifest.csv``),
``HASH`` the first 12 hex digits of the SHA-1 of its resolved root folder. Two datasets with the
same relative paths therefore never mix, and a store shows only the events of the dataset it
was opened for.

The ``datasets`` table registers each key with its name, root, size and **fingerprint** (SHA-1
of its sorted image paths). Aliases map one key onto another (``alias_of``); a store opened for
a key reads the events of that key and of every key aliased to it, and writes under the key
itself (or its target when it is an alias).

- **A moved folder** gets a new key (the root changed). When no dataset is registered under it
  but exactly one registered dataset has the same name and fingerprint and its old root no
  longer exists, the new key becomes an alias of the old one, with a :class:`ScopeWarning`:
  the tags follow the move. A copy (the old root still exists) is a new dataset with no tags.
- **Legacy events**: events written before stores kept datasets (schema 2 and older), or by a
  store opened without a dataset while it held no dataset yet, carry :data:`LEGACY`. The first
  dataset opened while legacy events exist adopts them (``legacy`` becomes its alias) with a
  :class:`ScopeWarning`.
- **A store opened without a dataset** (``TagStore(url)``, ``workbench tags`` without
  ``--data``) works on the one dataset the store holds, or on the legacy events while it holds
  none; when it holds several it refuses (:func:`unscoped`) rather than mix them. It looks
  again on every use, so it follows a dataset registered meanwhile by another process.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from curation.store_db import StoreError
from curation.store_events import now

LEGACY = "legacy"
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,199}$")


class ScopeWarning(UserWarning):
    """A store's events were given to a dataset on open (a moved folder, legacy events)."""


@dataclass(frozen=True)
class Identity:
    """A dataset as the registry knows it: ``key``, ``name``, resolved ``root``, ``images``
    (count) and ``fingerprint`` (SHA-1 hex of the sorted image paths)."""

    key: str
    name: str
    root: str
    images: int
    fingerprint: str


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "dataset"
    return slug[:80]


def dataset_name(dataset: Any) -> str:
    """The dataset's name: the manifest file's stem, else the root folder's name."""
    source = str(getattr(dataset, "source", "") or "")
    if source.startswith("manifest "):
        stem = Path(source[len("manifest ") :]).stem
        if stem and stem != "manifest":
            return _slug(stem)
    return _slug(Path(dataset.root).resolve().name)


def identity(dataset: Any) -> Identity:
    """The :class:`Identity` of a :class:`curation.dataset.Dataset`, or of a plain key (a str,
    for callers that have no dataset object: no root, no fingerprint)."""
    if isinstance(dataset, str):
        key = check_key(dataset)
        return Identity(key, key, "", 0, "")
    root = str(Path(dataset.root).resolve())
    name = dataset_name(dataset)
    images = sorted(str(i) for i in dataset.table["image"])
    fingerprint = hashlib.sha1("\n".join(images).encode()).hexdigest()
    key = f"{name}@{hashlib.sha1(root.encode()).hexdigest()[:12]}"
    return Identity(key, name, root, len(images), fingerprint)


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY_RE.match(key) or key == LEGACY:
        raise StoreError(
            f"invalid dataset key {key!r}: use letters, digits and . _ @ - (at most 200 "
            "characters), e.g. pets@1a2b3c4d5e6f; or pass the Dataset itself"
        )
    return key


def _row(conn: Connection, key: str) -> dict | None:
    row = conn.execute(text("SELECT * FROM datasets WHERE key = :k"), {"k": key}).mappings()
    found = row.first()
    return dict(found) if found is not None else None


def _insert(conn: Connection, ident: Identity, alias_of: str | None) -> None:
    conn.execute(
        text(
            "INSERT INTO datasets (key, name, root, fingerprint, images, alias_of, first_seen) "
            "VALUES (:k, :n, :r, :f, :i, :a, :t)"
        ),
        {"k": ident.key, "n": ident.name, "r": ident.root, "f": ident.fingerprint,
         "i": ident.images, "a": alias_of, "t": now()},
    )  # fmt: skip


def members(conn: Connection, canonical: str) -> list[str]:
    """The keys whose events a store for ``canonical`` reads: itself and its aliases."""
    rows = conn.execute(
        text("SELECT key FROM datasets WHERE alias_of = :k ORDER BY key"), {"k": canonical}
    ).all()
    return sorted({canonical, *(r[0] for r in rows)})


def _legacy_events(conn: Connection) -> int:
    sql = "SELECT COUNT(*) FROM events WHERE dataset = :k"
    return int(conn.execute(text(sql), {"k": LEGACY}).scalar())


def unscoped(conn: Connection, where: str) -> str:
    """The key a store opened without a dataset works on: the store's one dataset, else
    :data:`LEGACY`; StoreError when it holds several (``where``: the store, for the message)."""
    rows = conn.execute(
        text("SELECT key, root FROM datasets WHERE alias_of IS NULL AND key <> :k ORDER BY key"),
        {"k": LEGACY},
    ).all()
    if len(rows) > 1:
        shown = ", ".join(f"{k} ({r})" if r else k for k, r in rows[:5])
        raise StoreError(
            f"the tag store {where} holds the tags of {len(rows)} datasets ({shown}); say "
            "which one: --data DIR (or TagStore(url, dataset=...))"
        )
    return rows[0][0] if rows else LEGACY


def needs_write(conn: Connection, ident: Identity) -> bool:
    """Whether opening ``ident`` changes the registry (a new key, legacy events to adopt)."""
    if _row(conn, ident.key) is None:
        return True
    legacy = _row(conn, LEGACY)
    return (legacy is None or legacy["alias_of"] is None) and _legacy_events(conn) > 0


def resolve(conn: Connection, ident: Identity, *, write: bool) -> str:
    """The key a store opened for ``ident`` writes under (itself, or the key it is an alias
    of); with ``write``, registers a new key, aliases a moved folder and adopts legacy events
    (warning for each)."""
    row = _row(conn, ident.key)
    if row is None and not write:  # what registering would find (a read-only store)
        return _moved_from(conn, ident) or ident.key
    if row is None:
        moved = _moved_from(conn, ident)
        _insert(conn, ident, moved)
        if moved is not None:
            old = _row(conn, moved)
            warnings.warn(
                f"the dataset {ident.name} was moved from {old['root']} to {ident.root}: its "
                f"tags (dataset key {moved}) follow it",
                ScopeWarning,
                stacklevel=4,
            )
        row = _row(conn, ident.key)
    canonical = (row or {}).get("alias_of") or ident.key
    if write:
        _adopt_legacy(conn, canonical, ident)
    return canonical


def unadopted(conn: Connection) -> list[str]:
    """``[LEGACY]`` when legacy events exist that no dataset adopted yet, else ``[]``."""
    legacy = _row(conn, LEGACY)
    adopted = legacy is not None and legacy["alias_of"] is not None
    return [] if adopted or _legacy_events(conn) == 0 else [LEGACY]


def _moved_from(conn: Connection, ident: Identity) -> str | None:
    if not ident.fingerprint:
        return None
    rows = conn.execute(
        text(
            "SELECT key, root FROM datasets WHERE name = :n AND fingerprint = :f "
            "AND alias_of IS NULL AND key <> :k"
        ),
        {"n": ident.name, "f": ident.fingerprint, "k": ident.key},
    ).all()
    gone = [r[0] for r in rows if r[1] and not Path(r[1]).exists()]
    return gone[0] if len(gone) == 1 else None


def _adopt_legacy(conn: Connection, canonical: str, ident: Identity) -> None:
    legacy = _row(conn, LEGACY)
    if legacy is not None and legacy["alias_of"] is not None:
        return
    n = _legacy_events(conn)
    if n == 0:
        return
    if legacy is None:
        _insert(conn, Identity(LEGACY, LEGACY, "", 0, ""), canonical)
    else:
        conn.execute(
            text("UPDATE datasets SET alias_of = :a WHERE key = :k"), {"a": canonical, "k": LEGACY}
        )
    warnings.warn(
        f"{n} event(s) in this store were written before tags were kept per dataset (or "
        f"without a dataset); they now belong to {ident.name} ({ident.root or canonical}), the "
        "first dataset opened on this store. If they were made on another dataset, restore the "
        "store from before this open and open that dataset first",
        ScopeWarning,
        stacklevel=4,
    )


def registry(conn: Connection) -> list[dict]:
    """Every registered dataset key (``key, name, root, images, alias_of, first_seen``)."""
    rows = conn.execute(text("SELECT * FROM datasets ORDER BY key")).mappings().all()
    return [dict(r) for r in rows]
