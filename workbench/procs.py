"""Processes of a background job: find them and signal them without touching anyone else's.

A job's processes share a process group (the wrapper starts a new session) and carry a token in
their environment (:data:`TOKEN_VAR`). On Linux both are read from ``/proc``; a process counts as
the job's only when its group is the job's *and* its environment holds the job's token, so a pid
or process group id recycled by an unrelated program is never mistaken for the job. Signals go
through a pidfd opened before the final check, so the process checked is the process signalled.

Without ``/proc`` (macOS, BSD) a process cannot be checked; :func:`members` then falls back to
asking whether the group exists at all (``killpg(pgid, 0)``).
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path

TOKEN_VAR = "WORKBENCH_JOB_TOKEN"
PROC = Path("/proc")


@dataclass(frozen=True)
class Proc:
    """One live process: its pid and start time (clock ticks since boot, as in /proc)."""

    pid: int
    start: str | None


def stat(pid: int) -> tuple[str, int, str] | None:
    """``(state, process group id, start time)`` from ``/proc/<pid>/stat``; None if gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return fields[0], int(fields[2]), fields[19]  # state, pgrp, starttime (fields 3, 5, 22)


def start_time(pid: int) -> str | None:
    """The process's start time (clock ticks since boot); None when gone, a zombie or not Linux."""
    st = stat(pid)
    return None if st is None or st[0] in ("Z", "X") else st[2]


def has_token(pid: int, token: str) -> bool:
    """Whether the process's environment holds ``WORKBENCH_JOB_TOKEN=<token>`` (False when it
    cannot be read: gone, or another user's)."""
    try:
        environ = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return f"{TOKEN_VAR}={token}".encode() in environ.split(b"\0")


def cmdline(pid: int) -> list[str]:
    """The process's arguments (empty when gone or unreadable)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def members(pgid: int, token: str) -> list[Proc]:
    """Live (not zombie) processes of group ``pgid`` that carry ``token``, by pid."""
    if not PROC.is_dir():
        return [Proc(pgid, None)] if group_exists(pgid) else []
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        st = stat(pid)
        if st is None or st[0] in ("Z", "X") or st[1] != pgid:
            continue
        if has_token(pid, token):
            found.append(Proc(pid, st[2]))
    return sorted(found, key=lambda p: p.pid)


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap(pid: int) -> None:
    """Collect ``pid``'s exit status if this process started it (no zombie left behind)."""
    with contextlib.suppress(ChildProcessError):  # not our child: its parent reaps it
        os.waitpid(pid, os.WNOHANG)


def send(proc: Proc, sig: int, belongs) -> bool:
    """Send ``sig`` to ``proc`` if ``belongs(pid)`` still holds and its start time is unchanged;
    True when sent. ``belongs`` is checked after a pidfd is opened, so the process checked is the
    process signalled even if the pid is recycled in between."""
    if not PROC.is_dir():
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return False
        return True
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return False
    except OSError:  # no pidfd (kernel < 5.3): check and signal as close together as we can
        fd = None
    try:
        if start_time(proc.pid) != proc.start or not belongs(proc.pid):
            return False
        if fd is None:
            os.kill(proc.pid, sig)
        else:
            signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        return False
    finally:
        if fd is not None:
            os.close(fd)
    return True
