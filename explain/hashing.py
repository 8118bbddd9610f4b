"""Content hashes of files, remembered within the process (cache keys, duplicate checks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from curation.images import file_sha1

_HASHES: dict[tuple[str, int, int], str] = {}


def content_hashes(paths: Sequence[str | Path]) -> list[str]:
    """Hex SHA-1 of each file's bytes; remembered per (path, size, mtime) within the process, so
    re-opening a dataset costs one ``stat`` per file."""
    out = []
    for p in paths:
        st = os.stat(p)
        key = (os.fspath(p), st.st_size, st.st_mtime_ns)
        if key not in _HASHES:
            _HASHES[key] = file_sha1(p)
        out.append(_HASHES[key])
    return out
