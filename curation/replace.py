"""Replace a folder the workbench owns: build the new one beside it, record it, swap it in.

:func:`replace_folder` refuses a target that holds anything its record (``written.json``, see
:mod:`curation.owned`) does not vouch for; takes a lock file next to it; removes the leftovers of
interrupted runs that their own record proves ours (names matched exactly, never as a glob);
records the plan in the temporary folder first, so a killed run's leftover is provable; flushes
the finished folder to disk, gives it the umask's mode and swaps it in atomically (Linux's
renameat2 exchange, else two renames that the next run completes); removes the previous folder
record last, or keeps it beside if something was added to it meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from curation.owned import (
    RECORD,
    RECORD_NEW,
    FolderError,
    Staging,
    entries_phrase,
    foreign_entries,
    fsync_dir,
    os_error,
    oserrors,
    read_record,
    umask_mode,
    write_record,
)


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
                fsync_dir(parent)
        except BaseException:
            with contextlib.suppress(OSError):  # the error that got us here is what to report
                _remove_owned(tmp)  # created by this process: ours to remove
            raise
        if old is not None:
            staging.kept_aside = _dispose(old, out_dir, tool)


def _finish(tmp: Path, staging: Staging, tool: str, out_dir: Path, plan: Mapping) -> None:
    found = {rel for rel in _walk(tmp) if rel not in (RECORD, RECORD_NEW)}
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
            fsync_dir(tmp / rel)
    fsync_dir(tmp)


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
    if not finished and os.listdir(folder) == [RECORD_NEW]:
        return (folder / RECORD_NEW).is_file()  # killed while writing its first record
    rec, _ = read_record(folder, tool)
    if rec is None or rec.get("target") != str(out_dir):
        return False
    if finished and rec.get("complete") is not True:
        return False
    entries = {**rec["entries"], RECORD_NEW: {"kind": "file"}}
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
