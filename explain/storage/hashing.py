"""Content hashes of files, remembered within the process (cache keys, duplicate checks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from curation.images import file_sha1

MAX_REMEMBERED = 500_000  # hashes kept per process (about 100 MB at most); then start afresh
_HASHES: dict[tuple, str] = {}


def _identity(path: str | Path) -> tuple:
    """What must be unchanged for a remembered hash to hold: the path, the file's device and
    inode, its size, and its modification and change times (ns). The change time cannot be set
    by hand, so a file replaced by one of the same size and copied mtime (``cp -p``, an archive)
    is hashed again."""
    st = os.stat(path)
    return (os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def content_hashes(paths: Sequence[str | Path]) -> list[str]:
    """Hex SHA-1 of each file's bytes; remembered per file identity (:func:`_identity`) within
    the process, so re-opening a dataset costs one ``stat`` per file."""
    out = []
    for p in paths:
        key = _identity(p)
        if key not in _HASHES:
            if len(_HASHES) >= MAX_REMEMBERED:
                _HASHES.clear()
            _HASHES[key] = file_sha1(p)
        out.append(_HASHES[key])
    return out
