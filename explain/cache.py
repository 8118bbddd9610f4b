"""The disk cache: arrays stored under keys made of content hashes.

A key is the SHA-1 of a canonical JSON of everything that decides the result (checkpoint hash,
image hash, method, parameters, target reference ...), so a changed file or parameter never hits
a stale entry. Entries are ``.npz`` files written to a temporary name and renamed into place, so
concurrent readers never see half an entry and concurrent writers of the same key are harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def make_key(namespace: str, **parts: Any) -> str:
    """Stable hex key for ``parts`` (JSON-serialisable values; tuples become lists)."""
    blob = json.dumps(
        {"ns": namespace, **parts}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()


class DiskCache:
    """Arrays on disk under ``root/<namespace>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | Path, namespace: str):
        if not namespace or "/" in namespace or namespace.startswith("."):
            raise ValueError(f"cache namespace {namespace!r} must be a plain folder name")
        self.root = Path(root)
        self.namespace = namespace
        self.dir = self.root / namespace

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.npz"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under ``key``, or None when absent.

        An unreadable entry (disk full during an old write, a manual edit) raises ValueError
        naming the file, rather than being silently recomputed.
        """
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"cache entry {path} is unreadable ({exc}); delete it (or the cache folder) "
                "and it will be recomputed"
            ) from exc

    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> Path:
        """Store ``arrays`` atomically; returns the entry's path."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def keys(self) -> list[str]:
        """Keys present (for reporting cache coverage)."""
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*/*.npz"))
