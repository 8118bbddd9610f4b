"""The disk cache: arrays stored under keys made of content hashes.

A key is the SHA-1 of a canonical JSON of everything that decides the result (checkpoint hash,
image hash, method, parameters, target reference ...), so a changed file or parameter never hits
a stale entry. Entries are ``.npz`` files written to a temporary name (``.tmp-*.part``), flushed to
disk (fsync) and renamed into place, so concurrent readers never see half an entry and concurrent
writers of the same key are harmless.

Damage is repaired, not reported forever: an entry that does not open as an ``.npz`` archive
(truncated by a crash or a full disk, zero bytes, a manual edit) is deleted, logged once
(logger ``explain.storage.cache``, a warning) and counts as absent, so the caller recomputes it.
Temporary files left by killed writers are never listed as keys and are deleted once older than
:data:`STALE_TEMP_SECONDS` (when a cache is opened, or by :meth:`DiskCache.prune`). What the cache
cannot repair (a folder where an entry belongs, a folder it may not write, a full disk) raises
:class:`CacheError` naming the path and the fix.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

TEMP_PREFIX = ".tmp-"
STALE_TEMP_SECONDS = 15 * 60.0  # a write takes milliseconds; older temporary files are orphans
_KEY_RE = re.compile(r"^[0-9a-f]{8,128}$")
_MOVE_HINT = "point WORKBENCH_CACHE (the app) or --cache (the command line) elsewhere"
_DAMAGE = (EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)
_PRUNED: set[Path] = set()  # cache folders whose stale temporary files this process removed
_REPORTED: set[Path] = set()  # damaged entries already logged by this process


class CacheError(ValueError, OSError):
    """The cache cannot read or write an entry; the message names the path and the fix."""


def make_key(namespace: str, **parts: Any) -> str:
    """Stable hex key for ``parts`` (JSON-serialisable values; tuples become lists)."""
    blob = json.dumps(
        {"ns": namespace, **parts}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()


def write_message(path: Path, exc: OSError, what: str = "the cache entry") -> str:
    """What to tell the user when writing ``path`` failed with ``exc``."""
    if exc.errno == errno.ENOSPC or exc.errno == errno.EDQUOT:
        return (
            f"no space left on the disk holding {path}: cannot write {what}; free space or "
            f"{_MOVE_HINT}"
        )
    return (
        f"cannot write {what} {path} ({exc.strerror or exc}); make {path.parent} writable or "
        f"{_MOVE_HINT}"
    )


def _unreadable(path: Path, exc: OSError) -> CacheError:
    if isinstance(exc, NotADirectoryError):
        return CacheError(
            f"cannot read the cache entry {path}: part of {path.parent} is a file, not a folder; "
            f"{_MOVE_HINT}"
        )
    return CacheError(
        f"cannot read the cache entry {path} ({exc.strerror or exc}); make it readable (entries "
        f"written by a teammate need group read permission) or {_MOVE_HINT}"
    )


def _file_mode() -> int:
    """The mode a plain new file gets under this process's umask (``0o666 & ~umask``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # no /proc: read the umask by setting it, then put it back
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (file systems that cannot fsync a folder are let be)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise CacheError(write_message(folder, exc, "the cache folder")) from exc
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise CacheError(write_message(folder, exc, "the cache folder")) from exc
    finally:
        os.close(fd)


class DiskCache:
    """Arrays on disk under ``root/<namespace>/<key[:2]>/<key>.npz``.

    ``prune``: remove stale temporary files of killed writers when the folder is first opened in
    this process. ``dropped`` lists the damaged entries this instance deleted.
    """

    def __init__(self, root: str | Path, namespace: str, *, prune: bool = True):
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"cache namespace {namespace!r} must be a plain folder name")
        self.root = Path(root)
        self.namespace = namespace
        self.dir = self.root / namespace
        self.dropped: list[Path] = []
        if prune and self.dir.resolve() not in _PRUNED:
            self.prune()
            _PRUNED.add(self.dir.resolve())

    def path(self, key: str) -> Path:
        if not isinstance(key, str) or not _KEY_RE.match(key):
            raise ValueError(f"cache key {key!r} must be a lowercase hex digest (make_key)")
        return self.dir / key[:2] / f"{key}.npz"

    def __contains__(self, key: str) -> bool:
        """True for an entry that opens; a damaged one is deleted and counts as absent."""
        path = self.path(key)
        damage = self._damage(path)
        if damage is None:
            return path.is_file()
        self._drop_path(path, damage)
        return False

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None when absent (or damaged: then the entry is
        deleted and logged once, and the caller recomputes it)."""
        path = self.path(key)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            self._drop_path(path, "a folder where the entry belongs")
            return None
        except (NotADirectoryError, PermissionError) as exc:
            raise _unreadable(path, exc) from exc
        except (*_DAMAGE, OSError) as exc:
            self._drop_path(path, f"{type(exc).__name__}: {exc}")
            return None
        if not isinstance(data, np.lib.npyio.NpzFile):
            self._drop_path(path, "a single array, not an .npz archive")
            return None
        try:
            with data:
                return {name: data[name] for name in data.files}
        except (*_DAMAGE, OSError) as exc:
            self._drop_path(path, f"{type(exc).__name__}: {exc}")
            return None

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Store ``arrays`` atomically (written, fsynced, renamed); returns the entry's path.

        Raises :class:`CacheError` (naming the path and the fix) when the disk is full or the
        folder cannot be written; the temporary file is removed.
        """
        path = self.path(key)
        if path.is_dir():
            self._drop_path(path, "a folder where the entry belongs")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".part")
        except OSError as exc:
            raise CacheError(write_message(path, exc)) from exc
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
                fh.flush()
                os.fsync(fh.fileno())
                os.fchmod(fh.fileno(), _file_mode())  # mkstemp makes 0600: teammates share caches
            os.replace(tmp, path)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise CacheError(write_message(path, exc)) from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)
        return path

    def keys(self) -> list[str]:
        """Keys of the entries present (for reporting cache coverage): temporary files and
        anything not named like an entry are left out; damaged entries are deleted."""
        if not self.dir.is_dir():
            return []
        out = []
        for p in self.dir.glob("??/*.npz"):
            key = p.stem
            if not _KEY_RE.match(key) or p.parent.name != key[:2]:
                continue
            if key in self:
                out.append(key)
        return sorted(out)

    def prune(self, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
        """Delete temporary files of killed writers older than ``max_age`` seconds; returns them.

        Only files named ``.tmp-*`` directly in the entry folders are considered.
        """
        if not self.dir.is_dir():
            return []
        cutoff = time.time() - max_age
        removed = []
        for p in sorted(self.dir.glob(f"??/{TEMP_PREFIX}*")):
            try:
                st = p.lstat()
                if not p.is_symlink() and not p.is_file():
                    continue
                if st.st_mtime < cutoff:
                    p.unlink()
                    removed.append(p)
            except FileNotFoundError:  # another process pruned it first
                continue
            except OSError as exc:
                raise CacheError(
                    f"cannot remove the stale temporary file {p} ({exc.strerror or exc}); "
                    f"delete it by hand, make {p.parent} writable or {_MOVE_HINT}"
                ) from exc
        if removed:
            log.warning("removed %d stale temporary file(s) of killed cache writes from %s",
                        len(removed), self.dir)  # fmt: skip
        return removed

    # -- damage -------------------------------------------------------------------------------

    def _damage(self, path: Path) -> str | None:
        """Why the entry at ``path`` is damaged, or None when it is fine or absent."""
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:  # e.g. a parent that is a file
            raise _unreadable(path, exc) from exc
        if path.is_dir():
            return "a folder where the entry belongs"
        if st.st_size == 0:
            return "an empty file"
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except PermissionError as exc:
            raise _unreadable(path, exc) from exc
        except (*_DAMAGE, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        if not names or not all(n.endswith(".npy") for n in names):
            return "a zip archive that holds no arrays"
        return None

    def drop(self, key: str, reason: str) -> None:
        """Delete the entry of ``key`` as damaged (``reason`` is logged once), e.g. when its
        arrays load but do not decode; the caller recomputes it."""
        self._drop_path(self.path(key), reason)

    def _drop_path(self, path: Path, reason: str) -> None:
        """Delete the damaged entry at ``path`` (a file, a link, or an empty folder) and log it."""
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # only an empty folder: anything inside was not written by the cache
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            what = "a folder that is not empty" if path.is_dir() else "damaged"
            raise CacheError(
                f"the cache entry {path} is {what} ({reason}) and cannot be removed "
                f"({exc.strerror or exc}); delete it by hand (the cache rebuilds it) or "
                f"{_MOVE_HINT}"
            ) from exc
        self.dropped.append(path)
        if path not in _REPORTED:
            _REPORTED.add(path)
            log.warning("cache entry %s was damaged (%s); deleted it, it will be recomputed",
                        path, reason)  # fmt: skip
