"""Folders the workbench writes and may later replace: a record of exactly what it wrote.

A tool that owns a folder (an export, a comparison report, a checkpoint series) keeps
``written.json`` in it: the tool's name and every entry it wrote there — files with their size
and SHA-256, symbolic links with their target, folders. Before it replaces or deletes anything,
it scans the folder (never following links) and compares: an entry the record does not list,
or one that changed since (other bytes, another link target, a file where a folder was) means
the folder holds something the tool did not write, and nothing is touched. Entries the record
lists that are gone are fine: nothing of anyone else's would be lost.

The record is not a marker: ``{"tool": ...}`` written by hand proves nothing, the content must
match it entry by entry.

:class:`Staging` fills a temporary folder, checking that every path stays inside it and never
overwriting; :func:`curation.replace.replace_folder` records it and swaps it in. :class:`Ledger`
keeps the record of a folder written file by file (a checkpoint series).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath

RECORD = "written.json"
RECORD_NEW = ".written.json.new"
FORMAT = 1
SHOW = 10  # entries named in a refusal; the rest are counted
MAX_RECORD_BYTES = 256 << 20
_NO_SPACE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded"}
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENAMETOOLONG, errno.ENOTDIR)
_BLOCK = 1 << 20


class FolderError(ValueError):
    """A folder cannot be written or replaced as asked; the message says why and what to do."""


# -- records ---------------------------------------------------------------------------------


def file_sha256(path: str | Path, limit: int | None = None) -> str:
    """SHA-256 (hex) of a file's bytes, or of its first ``limit`` bytes."""
    h = hashlib.sha256()
    left = limit
    with open(path, "rb") as fh:
        while left is None or left > 0:
            block = fh.read(_BLOCK if left is None else min(_BLOCK, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h.hexdigest()


def read_record(folder: Path, tool: str) -> tuple[dict | None, str]:
    """``(record, "")`` when ``folder/written.json`` is a record of ``tool``, else
    ``(None, why not)``. A link in its place is no record."""
    path = Path(folder) / RECORD
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None, f"no {RECORD}"
    except OSError as exc:
        return None, f"{RECORD} cannot be read ({exc.strerror})"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None, f"{RECORD} is not a file"
        blob = fh.read(MAX_RECORD_BYTES + 1)
    try:
        rec = json.loads(blob) if len(blob) <= MAX_RECORD_BYTES else None
    except ValueError:
        rec = None
    if not isinstance(rec, dict) or not isinstance(rec.get("entries"), dict):
        return None, f"{RECORD} is not a record of written files"
    if rec.get("tool") != tool or rec.get("format") != FORMAT:
        return None, f"{RECORD} is not a record of `{tool}` (tool {rec.get('tool')!r})"
    if not all(isinstance(e, dict) for e in rec["entries"].values()):
        return None, f"{RECORD} is not a record of written files"
    return rec, ""


def write_record(folder: Path, tool: str, entries: Mapping[str, Mapping], **extra) -> None:
    """Write ``folder/written.json`` atomically (a new file, flushed, renamed over the old)."""
    rec = {"tool": tool, "format": FORMAT, **extra, "entries": dict(sorted(entries.items()))}
    new = Path(folder) / RECORD_NEW
    _write_new(new, (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode(), replace=True)
    os.replace(new, Path(folder) / RECORD)
    fsync_dir(folder)


def foreign_entries(
    folder: Path,
    entries: Mapping[str, Mapping],
    unhashed: Callable[[str], bool] = lambda r: False,
    *,
    hashes: bool = True,
) -> list[str]:
    """What under ``folder`` the record ``entries`` does not vouch for, sorted: entries it does
    not list (a folder it does not list counts once, ``name/``) and entries that changed
    (``name (changed)``). A file entry vouches only with its size and SHA-256, unless
    ``unhashed(path)`` (a file still being written: any content); ``hashes=False`` compares
    sizes only (a quick first look). The record file itself is not compared. Empty: all ours."""
    bad: list[str] = []

    def walk(path: Path, prefix: str) -> None:
        with os.scandir(path) as it:
            items = sorted(it, key=lambda e: e.name)
        for item in items:
            rel = prefix + item.name
            if rel == RECORD:
                continue
            st = item.stat(follow_symlinks=False)
            want = entries.get(rel)
            is_dir = stat.S_ISDIR(st.st_mode)
            if want is None:
                bad.append(rel + ("/" if is_dir else ""))
            elif not _matches(Path(item.path), st, want, unhashed(rel), hashes):
                bad.append(f"{rel} (changed)")
            elif is_dir:
                walk(Path(item.path), rel + "/")

    walk(Path(folder), "")
    return bad


def _matches(path: Path, st: os.stat_result, want: Mapping, unhashed: bool, hashes: bool) -> bool:
    kind = want.get("kind")
    if stat.S_ISLNK(st.st_mode):
        return kind == "link" and os.readlink(path) == want.get("target")
    if stat.S_ISDIR(st.st_mode):
        return kind == "dir"
    if not stat.S_ISREG(st.st_mode) or kind != "file":
        return False
    if "sha256" not in want:  # being written when the tool stopped: any content is its own
        return unhashed
    size = want.get("size")
    if not isinstance(size, int) or st.st_size < size:
        return False
    if st.st_size != size and not want.get("grows"):
        return False
    if not hashes:
        return True
    return file_sha256(path, size if want.get("grows") else None) == want["sha256"]


def preview(items: list[str], n: int = SHOW) -> str:
    """``a, b, c`` or ``a, b ... and 12 more``."""
    head = ", ".join(items[:n])
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def entries_phrase(items: list[str]) -> str:
    return f"{len(items)} entr{'y' if len(items) == 1 else 'ies'} ({preview(items)})"


class Ledger:
    """The record of a folder written file by file in place (a checkpoint series): a file is
    recorded as pending before it is created and with its size and SHA-256 once written, so
    a killed run leaves a record of everything it wrote."""

    def __init__(self, folder: Path, tool: str, entries: Mapping[str, Mapping] | None = None):
        self.folder, self.tool = Path(folder), tool
        self.entries: dict[str, dict] = {k: dict(v) for k, v in (entries or {}).items()}

    def pending(self, name: str) -> None:
        self.entries[name] = {"kind": "file", "pending": True}
        self.save()

    def done(self, name: str, *, grows: bool = False) -> None:
        """Record ``name`` as written now; ``grows``: a log that may be appended to later
        (its first ``size`` bytes must stay the same)."""
        path = self.folder / name
        size = os.lstat(path).st_size
        entry = {"kind": "file", "size": size, "sha256": file_sha256(path, size)}
        self.entries[name] = {**entry, "grows": True} if grows else entry
        self.save()

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self.save()

    def save(self) -> None:
        write_record(self.folder, self.tool, self.entries, complete=True)


# -- writing inside a temporary folder ---------------------------------------------------------


def relative_parts(rel: str) -> tuple[str, ...]:
    """The components of a relative POSIX path (``./a//b`` -> ``('a', 'b')``); ValueError for
    an empty or absolute path, ``..``, or a NUL character."""
    if not isinstance(rel, str) or not rel.strip():
        raise ValueError("is empty")
    if "\x00" in rel:
        raise ValueError("contains a NUL character")
    p = PurePosixPath(rel)
    if p.is_absolute():
        raise ValueError("is an absolute path")
    if ".." in p.parts:
        raise ValueError("climbs out with '..'")
    if not p.parts:
        raise ValueError("names no file")
    return p.parts


class Staging:
    """A temporary folder being filled by this process. Every destination is checked: relative,
    no ``..``, no link among its parent folders (the parent's real path is inside the folder),
    never an existing entry. ``entries`` records what was written (the folder's record)."""

    def __init__(self, root: Path, error: type[Exception] = FolderError):
        self.root = Path(root)
        self._real = os.path.realpath(self.root)
        self.error = error
        self.entries: dict[str, dict] = {}
        self.kept_aside: Path | None = None

    def dest(self, rel: str) -> tuple[str, Path]:
        """The normalised relative path and the absolute destination (parents created)."""
        try:
            parts = relative_parts(rel)
        except ValueError as exc:
            raise self.error(f"{rel!r}: {exc}; cannot write it inside {self.root}") from exc
        parent = self.root
        for i, part in enumerate(parts[:-1]):
            parent = parent / part
            rel_dir = "/".join(parts[: i + 1])
            if rel_dir not in self.entries:
                if os.path.lexists(parent):
                    raise self.error(f"{rel}: {rel_dir} is a file or link, not a folder")
                with oserrors(parent, self.error):
                    os.mkdir(parent)
                self.entries[rel_dir] = {"kind": "dir"}
            elif self.entries[rel_dir]["kind"] != "dir":
                raise self.error(f"{rel}: {rel_dir} is a file or link, not a folder")
        if os.path.realpath(parent) != os.path.join(self._real, *parts[:-1]):
            raise self.error(f"{rel}: its folder leaves {self.root} through a link")
        name = "/".join(parts)
        if name in self.entries or os.path.lexists(self.root / name):
            raise self.error(f"{rel}: written twice (two entries claim that path)")
        return name, self.root / name

    def mkdir(self, rel: str) -> None:
        name, path = self.dest(rel)
        with oserrors(path, self.error):
            os.mkdir(path)
        self.entries[name] = {"kind": "dir"}

    def write_bytes(self, rel: str, data: bytes) -> None:
        name, path = self.dest(rel)
        with oserrors(path, self.error):
            digest = _write_new(path, data, sync=False)  # flushed all at once before the swap
        self.entries[name] = {"kind": "file", "size": len(data), "sha256": digest}

    def copy(self, rel: str, src: Path, same_as: os.stat_result | None = None) -> None:
        """Copy the regular file ``src`` (not a link); ``same_as``: the stat it must still have
        (the file planned on, not one swapped in since)."""
        name, path = self.dest(rel)
        try:
            fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            raise self.error(f"{src}: cannot be read ({exc.strerror}); cannot copy it") from exc
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (
                same_as is not None and (st.st_dev, st.st_ino) != (same_as.st_dev, same_as.st_ino)
            ):
                raise self.error(f"{src}: changed while the export ran; run it again")
            with oserrors(path, self.error):
                size, digest = _copy_new(fh, path)
        self.entries[name] = {"kind": "file", "size": size, "sha256": digest}

    def link(self, rel: str, target: str | Path) -> None:
        name, path = self.dest(rel)
        with oserrors(path, self.error):
            os.symlink(str(target), path)
        self.entries[name] = {"kind": "link", "target": str(target)}


def _write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte (os.write may write part of a buffer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_new(path: Path, replace: bool = False) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_TRUNC if replace else os.O_EXCL
    return os.open(path, flags, 0o666)  # the umask decides the mode


def _write_new(path: Path, data: bytes, replace: bool = False, sync: bool = True) -> str:
    fd = _open_new(path, replace)
    try:
        _write_all(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return hashlib.sha256(data).hexdigest()


def _copy_new(src, path: Path) -> tuple[int, str]:
    fd = _open_new(path)
    h, size = hashlib.sha256(), 0
    try:
        while block := src.read(_BLOCK):
            _write_all(fd, block)
            h.update(block)
            size += len(block)
    finally:
        os.close(fd)
    return size, h.hexdigest()


@contextlib.contextmanager
def oserrors(path: str | Path, error: type[Exception] = FolderError) -> Iterator[None]:
    """A full disk or a refused write inside the block becomes ``error`` naming the path."""
    try:
        yield
    except OSError as exc:
        converted = os_error(exc, path, error)
        if converted is exc:
            raise
        raise converted from exc


def os_error(exc: OSError, path: str | Path, error: type[Exception]) -> Exception:
    """The message for an OSError a user can fix (full disk, no permission), else ``exc``."""
    where = exc.filename or path
    if exc.errno in _NO_SPACE:
        return error(f"{_NO_SPACE[exc.errno]} while writing {where}; free space or choose "
                     "another --out")  # fmt: skip
    if exc.errno in _NO_WRITE:
        return error(f"cannot write {where} ({exc.strerror}); choose another --out")
    return exc


def fsync_dir(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def umask_mode() -> int:
    """``0o777 & ~umask``: the mode a new folder gets (read without changing the umask)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o777 & ~int(line.split()[1], 8)
    mask = os.umask(0o022)  # not Linux: read it by setting it (and put it back at once)
    os.umask(mask)
    return 0o777 & ~mask
