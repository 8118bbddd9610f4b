"""Paths a manifest gives: one spelling per file, and never a file outside the dataset root.

Every path column of a manifest (``image``, ``animal_mask``, ``mask_<any artifact>``,
``counterfactual``) names a file *relative to the dataset root*. Such an entry is refused when

- it is empty, absolute (``/etc/passwd``, ``C:\\x``), holds ``..`` or a control character, or is
  longer than :data:`MAX_PATH_CHARS`;
- its real path (every symbolic link resolved) lies outside the real path of the root, unless the
  caller allows links out of the root (``follow_links``: True for any target, or a list of folders
  the targets may lie in). ``..`` is refused even then, so ``somelink/../../x`` never passes.

Accepted entries are normalised to one POSIX spelling (``./query//x.jpg`` -> ``query/x.jpg``),
so two spellings of one file are one file.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from curation.findings import DatasetError

MAX_PATH_CHARS = 1024
PATH_COLUMNS_FIXED = ("image", "animal_mask", "counterfactual")
MASK_PREFIX = "mask_"
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# a path already in its one spelling: names of letters, digits, '_', '-' with inner dots only
_CLEAN = re.compile(r"[\w-]+(?:\.[\w-]+)*(?:/[\w-]+(?:\.[\w-]+)*)*\Z", re.ASCII)

LinkPolicy = bool | Iterable[str | os.PathLike]


class PathError(DatasetError):
    """A manifest path is unusable or points outside the dataset root; ``code`` is the finding
    code (``bad-path``, ``escapes-root``, ``link-outside-root``)."""

    def __init__(self, message: str, code: str = "bad-path"):
        super().__init__(message)
        self.code = code


def is_path_column(column: str) -> bool:
    """True for the columns the workbench reads files from."""
    return column in PATH_COLUMNS_FIXED or column.startswith(MASK_PREFIX)


def path_columns(columns: Iterable[str]) -> list[str]:
    """The path columns among ``columns``, ``image`` first, then in the order given."""
    cols = [c for c in columns if is_path_column(str(c))]
    return sorted(cols, key=lambda c: c != "image")


def normalise(entry: str) -> str:
    """One POSIX spelling of a relative entry, or raise :class:`PathError` with the reason.

    Backslashes count as separators; ``.`` and repeated or trailing separators are removed.
    """
    if not isinstance(entry, str):
        raise PathError(f"{entry!r} is not a path (a {type(entry).__name__}); give a text path")
    if len(entry) <= MAX_PATH_CHARS and _CLEAN.match(entry):
        return entry
    if len(entry) > MAX_PATH_CHARS:
        raise PathError(
            f"path of {len(entry)} characters (more than {MAX_PATH_CHARS}); "
            "give a short path relative to the dataset root"
        )
    if _CONTROL.search(entry):
        raise PathError(f"{entry!r} holds a control character; rename the file")
    text = entry.strip().replace("\\", "/")
    if not text:
        raise PathError("the path is empty; give a path relative to the dataset root")
    if text.startswith("/") or _DRIVE.match(text):
        raise PathError(
            f"{entry!r} is an absolute path and escapes the dataset root; "
            "use a path relative to the root",
            "escapes-root",
        )
    parts = text.split("/")
    if ".." in parts:
        raise PathError(
            f"{entry!r} holds '..' and escapes the dataset root; "
            "use a path relative to the root without '..'",
            "escapes-root",
        )
    if "" not in parts and "." not in parts:
        return text  # already the one spelling
    norm = posixpath.normpath(text)
    if norm == ".":
        raise PathError(f"{entry!r} names the dataset root itself, not a file")
    return norm


def real_path(path: str | os.PathLike) -> str:
    """``os.path.realpath`` (links resolved; a link loop is left for the file's reader to
    report); PathError when the path cannot be resolved at all."""
    try:
        return os.path.realpath(path, strict=False)
    except (OSError, ValueError) as exc:
        raise PathError(f"cannot resolve {os.fspath(path)!r} ({exc})") from exc


def _inside(real: str, folder: str) -> bool:
    return real == folder or real.startswith(folder.rstrip(os.sep) + os.sep)


def _regular_or_missing(entry: str, real: Path) -> Path:
    """``real``, unless it exists and is not a regular file (a folder, a pipe that would block
    the reader, a device)."""
    try:
        mode = os.stat(real).st_mode
    except OSError:
        return real  # missing or unreadable: the caller says so when it opens the file
    if not stat.S_ISREG(mode):
        raise PathError(
            f"{entry!r} is not a regular file (a folder, pipe or device); replace it with a file",
            "not-a-file",
        )
    return real


def resolve(
    root: str | Path, entry: str, *, follow_links: LinkPolicy = False, real_root: str = ""
) -> Path:
    """The real path of ``entry`` under ``root``, refused (:class:`PathError`) when the entry is
    unusable or resolves outside the root (see the module docstring for ``follow_links``).

    Touches the file system only to resolve links and to refuse what is not a regular file
    (a folder, a pipe, a device); no file is opened. ``real_root``: ``real_path(root)`` when the
    caller resolves many entries at once.
    """
    norm = normalise(entry)
    real_root = real_root or real_path(root)
    real = real_path(os.path.join(real_root, norm))
    if _inside(real, real_root) or follow_links is True:
        return _regular_or_missing(entry, Path(real))
    if follow_links is not False:
        allowed = [real_path(f) for f in follow_links]
        if any(_inside(real, a) for a in allowed):
            return _regular_or_missing(entry, Path(real))
    raise PathError(
        f"{entry!r} leads through a symbolic link to {real}, outside the dataset root; allow "
        "links out of the root with --allow-external-links (Python: follow_links=True) or copy "
        "the file into the root",
        "link-outside-root",
    )
