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

:func:`replace_folder` builds a new folder in a temporary folder beside the target (through a
:class:`Staging`, which checks that every path stays inside it and never overwrites), records
it, flushes it to disk and swaps it in atomically; leftovers of interrupted runs are removed
only when their own record proves them ours. :class:`Ledger` keeps the record of a folder
written file by file (a checkpoint series).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

RECORD = "written.json"
_RECORD_NEW = ".written.json.new"
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
    new = Path(folder) / _RECORD_NEW
    _write_new(new, (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode(), replace=True)
    os.replace(new, Path(folder) / RECORD)
    _fsync_dir(folder)


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


def _fsync_dir(path: str | Path) -> None:
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


# -- replacing a folder ----------------------------------------------------------------------


def check_replaceable(
    out_dir: Path, tool: str, what: str, error: type[Exception], *, hashes: bool = True
) -> None:
    """Refuse unless ``out_dir`` is absent, empty, or holds exactly what ``tool`` recorded
    (``hashes=False``: sizes only, a quick look before the full check)."""
    if os.path.islink(out_dir):
        raise error(f"{out_dir} is a symbolic link (to {os.readlink(out_dir)}); give a real "
                    "folder as --out, not a link")  # fmt: skip
    if not os.path.lexists(out_dir):
        return
    if not out_dir.is_dir():
        raise error(f"{out_dir} exists and is not a folder; choose another --out")
    names = sorted(os.listdir(out_dir))
    if not names:
        return
    rec, why = read_record(out_dir, tool)
    if rec is None or rec.get("complete") is not True:
        shown = [n + ("/" if (out_dir / n).is_dir() and not (out_dir / n).is_symlink() else "")
                 for n in names]  # fmt: skip
        raise error(
            f"{out_dir} is not empty and holds no {what} ({why or 'an unfinished record'}); "
            f"refusing to replace its {entries_phrase(shown)}; move them out or choose "
            "another --out"
        )
    try:
        bad = foreign_entries(out_dir, rec["entries"], hashes=hashes)
        if bad and not hashes:  # refused: name everything that differs
            bad = foreign_entries(out_dir, rec["entries"])
    except OSError as exc:
        raise error(f"{out_dir}: cannot read {exc.filename} ({exc.strerror}), so cannot tell "
                    "whether it is ours to replace; choose another --out") from exc  # fmt: skip
    if bad:
        raise error(
            f"{out_dir} holds {entries_phrase(bad)} that `{tool}` did not write there or that "
            "changed since; refusing to replace it; move them out or choose another --out"
        )


@contextlib.contextmanager
def replace_folder(
    out_dir: Path,
    tool: str,
    *,
    what: str,
    plan: Mapping[str, Mapping],
    error: type[Exception] = FolderError,
    before_swap: Callable[[Path], None] | None = None,
) -> Iterator[Staging]:
    """Build the new ``out_dir`` in the yielded :class:`Staging`, then swap it in.

    ``plan``: every entry the caller will write (relative path -> ``{"kind": "file"}``,
    ``{"kind": "link", "target": ...}`` or ``{"kind": "dir"}``); it is recorded in the
    temporary folder first, so a killed run's leftovers can be proven ours and removed.
    On success: the folder's record, every file and folder flushed, the mode set from the
    umask, then an atomic swap; the previous folder is removed if it still matches its record
    (else it is kept beside, ``Staging.kept_aside``). On failure: the temporary folder is
    removed and the previous folder is untouched.
    """
    out_dir = Path(os.path.abspath(out_dir))
    parent = Path(os.path.realpath(out_dir.parent))
    out_dir = parent / out_dir.name
    check_replaceable(out_dir, tool, what, error, hashes=False)  # before writing a lock file
    with oserrors(parent, error):
        parent.mkdir(parents=True, exist_ok=True)
    with _lock(parent / f".{out_dir.name}.lock", out_dir, error):
        _recover(out_dir, tool)
        check_replaceable(out_dir, tool, what, error)
        with oserrors(parent, error):
            tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
        staging = Staging(tmp, error)
        try:
            with oserrors(tmp / RECORD, error):
                write_record(tmp, tool, plan, target=str(out_dir), complete=False)
            yield staging
            with oserrors(tmp, error):
                _finish(tmp, staging, tool, out_dir, plan)
            if before_swap is not None:
                before_swap(tmp)
            with oserrors(out_dir, error):
                old = _swap(tmp, out_dir)
                _fsync_dir(parent)
        except BaseException:
            with contextlib.suppress(OSError):  # the error that got us here is what to report
                _remove_owned(tmp)  # created by this process: ours to remove
            raise
        if old is not None:
            staging.kept_aside = _dispose(old, out_dir, tool)


def _finish(tmp: Path, staging: Staging, tool: str, out_dir: Path, plan: Mapping) -> None:
    found = {rel for rel in _walk(tmp) if rel not in (RECORD, _RECORD_NEW)}
    unplanned = sorted(set(staging.entries) - set(plan))
    if unplanned:
        raise staging.error(f"{tmp}: wrote {unplanned[:5]} that were not planned")
    if found != set(staging.entries):
        raise staging.error(f"{tmp}: holds {sorted(found ^ set(staging.entries))[:5]} besides "
                            "what was written; refusing to swap it in")  # fmt: skip
    write_record(tmp, tool, staging.entries, target=str(out_dir), complete=True,
                 written_utc=datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    os.chmod(tmp, umask_mode())  # mkdtemp's 0700 would hide it from the team
    _flush(tmp, staging.entries)


def _flush(tmp: Path, entries: Mapping[str, Mapping]) -> None:
    """Every file and folder under ``tmp`` on disk before the rename: one syncfs(2) of its file
    system (a fraction of the cost of one fsync per file), else an fsync of each."""
    fn = getattr(_libc(), "syncfs", None)
    if fn is not None:
        fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            if fn(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"cannot flush {tmp} to disk: {os.strerror(err)}", str(tmp))
        finally:
            os.close(fd)
        return
    for rel, e in entries.items():
        if e["kind"] == "file":
            fd = os.open(tmp / rel, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif e["kind"] == "dir":
            _fsync_dir(tmp / rel)
    _fsync_dir(tmp)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _walk(folder: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for name in [*dirnames, *filenames]:
            yield name if rel == "." else f"{rel}/{name}"


@contextlib.contextmanager
def _lock(path: Path, out_dir: Path, error: type[Exception]) -> Iterator[None]:
    """Serialise writers of one folder (a lock file next to it; never followed if a link)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise error(f"{path} is a symbolic link; remove it (it is the lock file for "
                        f"{out_dir})") from exc  # fmt: skip
        raise os_error(exc, path, error) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _ours(folder: Path, tool: str, out_dir: Path, *, finished: bool) -> bool:
    """True when ``folder`` (a leftover beside ``out_dir``) is provably ours to remove."""
    with contextlib.suppress(OSError):
        os.rmdir(folder)  # empty: nothing to lose
        return False
    if not finished and os.listdir(folder) == [_RECORD_NEW]:
        return (folder / _RECORD_NEW).is_file()  # killed while writing its first record
    rec, _ = read_record(folder, tool)
    if rec is None or rec.get("target") != str(out_dir):
        return False
    if finished and rec.get("complete") is not True:
        return False
    entries = {**rec["entries"], _RECORD_NEW: {"kind": "file"}}
    try:
        return not foreign_entries(folder, entries, unhashed=lambda rel: not finished)
    except OSError:
        return False  # cannot be read: cannot be proven ours


def _recover(out_dir: Path, tool: str) -> None:
    """Leftovers of interrupted runs: put back a previous folder moved aside mid-swap, remove
    temporary and old folders that their record proves ours; leave anything else alone."""
    parent, name = out_dir.parent, out_dir.name
    pattern = re.compile(rf"\.{re.escape(name)}\.(tmp|old)-[A-Za-z0-9_]+")
    found = [parent / n for n in sorted(os.listdir(parent)) if pattern.fullmatch(n)]
    found = [p for p in found if p.is_dir() and not p.is_symlink()]
    olds = sorted((p for p in found if p.name.startswith(f".{name}.old-")),
                  key=lambda p: p.stat().st_mtime)  # fmt: skip
    if olds and not os.path.lexists(out_dir):
        rec, _ = read_record(olds[-1], tool)
        if rec is not None and rec.get("target") == str(out_dir):
            os.rename(olds.pop(), out_dir)
    for old in olds:
        if _ours(old, tool, out_dir, finished=True):
            _remove_owned(old)
    for tmp in (p for p in found if p.name.startswith(f".{name}.tmp-")):
        if _ours(tmp, tool, out_dir, finished=False):
            _remove_owned(tmp)


def _remove_owned(folder: Path) -> None:
    """Remove a folder proven ours, its record last: a kill midway leaves a folder whose
    record still vouches for what is left (or an empty one)."""
    for name in sorted(os.listdir(folder)):
        path = folder / name
        if name == RECORD:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            os.unlink(path)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(folder / RECORD)
    os.rmdir(folder)


def _swap(tmp: Path, out_dir: Path) -> Path | None:
    """Put ``tmp`` at ``out_dir``; returns where the previous folder now is (or None)."""
    if not os.path.lexists(out_dir):
        os.rename(tmp, out_dir)
        return None
    if _exchange(tmp, out_dir):
        return tmp  # now holds the previous folder
    old = out_dir.with_name(f".{out_dir.name}.old-{secrets.token_hex(4)}")
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)  # a crash between the two: the next run puts `old` back
    return old


def _dispose(old: Path, out_dir: Path, tool: str) -> Path | None:
    """Remove the previous folder if it is still what it was; else keep it beside."""
    with contextlib.suppress(OSError):
        os.rmdir(old)
        return None
    rec, _ = read_record(old, tool)
    with contextlib.suppress(OSError):  # unreadable: keep it
        if rec is not None and not foreign_entries(old, rec["entries"]):
            _remove_owned(old)
            return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    kept = out_dir.with_name(f"{out_dir.name}.kept-{stamp}-{secrets.token_hex(2)}")
    os.rename(old, kept)  # something was added while this run wrote: not ours to delete
    return kept


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's renameat2(RENAME_EXCHANGE); False if unsupported."""
    fn = getattr(_libc(), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: two renames instead
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")
