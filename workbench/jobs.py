"""Background jobs: one training run at a time per workspace, detached from whoever started it.

A job lives in ``<workspace>/jobs/<job_id>/``::

    status.json   job_id, command, cwd, pid, pid_start, pgid, token, started (ISO 8601, UTC)
    log.txt       the command's stdout and stderr, interleaved, unbuffered
    result.json   returncode and finished time, written by the wrapper when the command ends
    cancelled     present once :func:`cancel` asked the job to stop

The job runs under a tiny wrapper (``python -m workbench.jobs JOB_DIR -- COMMAND...``) started in
its own session and process group (``pgid``), so it survives the app or shell that started it.
Every process of the job inherits ``WORKBENCH_JOB_TOKEN=<token>`` in its environment. The wrapper
runs the command, waits for it and writes ``result.json``; the state is recomputed from these
files and the live processes on every call, never cached, so any process can ask:

- ``queued``     the job folder exists, the wrapper has no pid yet;
- ``running``    some process of the job is alive: a process of the group whose environment
                 carries the job's token (the wrapper, or the command after the wrapper was killed);
- ``succeeded``  ``result.json`` says return code 0;
- ``failed``     a non-zero return code, or every process is gone without writing one;
- ``cancelled``  :func:`cancel` stopped it.

A process is only ever counted or signalled after checking it belongs to the job (Linux:
``/proc/<pid>/stat`` names the job's group, ``/proc/<pid>/environ`` carries the token, and the
signal goes through a pidfd opened before that check), so a recycled pid of an unrelated process
is never touched. Job records written before tokens existed are trusted only while the wrapper's
own command line names the job folder.

Only one job per workspace may be queued or running; :func:`start` holds ``jobs/.lock`` while it
checks and starts, and raises :class:`JobRunningError` naming the running job otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from workbench import procs

ACTIVE = ("queued", "running")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
QUEUED_TIMEOUT = 60.0  # seconds a job may stay queued before its starter is presumed dead
_EPOCH_LINE = re.compile(r"epoch\s+(\d+)/(\d+)\s+loss")
_TOTAL_LINE = re.compile(r"for (\d+) epochs")


class JobError(ValueError):
    """A job cannot be started or found as asked; the message says what to do."""


class JobRunningError(JobError):
    """Another job of the workspace is still queued or running."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise JobError(f"{path} is not valid JSON ({exc}); delete the job folder") from exc


def _check_record(path: Path, status: object) -> None:
    """A status.json this module could have written; JobError naming the file otherwise."""

    def bad(why: str) -> JobError:
        return JobError(f"{path} is damaged ({why}); delete the job folder")

    if not isinstance(status, dict):
        raise bad("not a JSON object")
    for name in ("pid", "pgid"):
        value = status.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad(f"{name} {value!r} is not a process id")
        if value is not None and value <= 1:
            raise bad(f"{name} {value} names no job's process")
    command = status.get("command")
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise bad("command is not a list of strings")
    try:
        started = datetime.fromisoformat(str(status.get("started")))
    except ValueError:
        raise bad(f"started {status.get('started')!r} is not an ISO 8601 time") from None
    if started.tzinfo is None:
        raise bad(f"started {status.get('started')!r} has no time zone")


def _processes(job_dir: Path, status: dict) -> list[procs.Proc]:
    """The job's live processes: the group's members that carry the job's token; for a record
    without a token (written by an older workbench), the wrapper alone, and only while its start
    time matches and its command line names the job folder."""
    if status.get("pid") is None:
        return []
    pid = int(status["pid"])
    procs.reap(pid)  # a wrapper this process started and that died is a zombie until reaped
    token, pgid = status.get("token"), status.get("pgid")
    if isinstance(token, str) and token and isinstance(pgid, int):
        return procs.members(pgid, token)
    start = status.get("pid_start")
    if start is None or procs.start_time(pid) != start:
        return []
    if str(job_dir.resolve()) not in procs.cmdline(pid):
        return []
    return [procs.Proc(pid, start)]


def _belongs(job_dir: Path, status: dict):
    """``pid -> bool``: whether a process still is one of the job's (checked before a signal)."""
    token, pgid = status.get("token"), status.get("pgid")
    if isinstance(token, str) and token and isinstance(pgid, int):

        def check(pid: int) -> bool:
            st = procs.stat(pid)
            return st is not None and st[1] == pgid and procs.has_token(pid, token)

        return check
    return lambda pid: str(job_dir.resolve()) in procs.cmdline(pid)


@dataclass(frozen=True)
class Job:
    """A handle on one job folder; every property reads the files again."""

    dir: Path

    @property
    def job_id(self) -> str:
        return self.dir.name

    @property
    def log_path(self) -> Path:
        return self.dir / "log.txt"

    def status(self) -> dict:
        """``job_id``, ``command``, ``pid``, ``started``, ``finished``, ``returncode``, ``state``,
        ``pids`` (the job's live processes) and ``wrapper_alive``, recomputed from the files and
        the processes."""
        status = _read_json(self.dir / "status.json")
        if status is None:
            raise JobError(f"{self.dir} holds no status.json; it is not a job folder")
        _check_record(self.dir / "status.json", status)
        result, alive = self._result(), []
        if "returncode" not in result:
            alive = _processes(self.dir, status)
            if not alive:  # the wrapper writes result.json before it exits: look again
                result = self._result()
        cancelled = (self.dir / "cancelled").exists()
        rc = result.get("returncode")
        if "returncode" in result:
            alive = []
            state = "succeeded" if rc == 0 else "cancelled" if cancelled else "failed"
        elif status.get("pid") is None:
            age = (datetime.now(UTC) - datetime.fromisoformat(status["started"])).total_seconds()
            state = "queued" if age < QUEUED_TIMEOUT else "failed"  # its starter died
        elif alive:  # the wrapper, or the command it left behind when it was killed
            state = "running"
        else:  # every process is gone without a word (killed, machine restarted)
            state = "cancelled" if cancelled else "failed"
        return {
            **status,
            "finished": result.get("finished"),
            "returncode": rc,
            "state": state,
            "pids": [p.pid for p in alive],
            "wrapper_alive": any(p.pid == status.get("pid") for p in alive),
        }

    def _result(self) -> dict:
        result = _read_json(self.dir / "result.json") or {}
        if not isinstance(result, dict):
            raise JobError(f"{self.dir / 'result.json'} is not a job result; delete the job folder")
        return result

    @property
    def state(self) -> str:
        return self.status()["state"]

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE

    def progress(self) -> tuple[int, int]:
        """``(last finished epoch, total epochs)`` parsed from the log; ``(0, 0)`` before the
        training has said how many epochs it runs."""
        return parse_progress(read_log(self, None))

    def wait(self, timeout: float = 60.0, poll: float = 0.1) -> str:
        """Block until the job is neither queued nor running; returns the final state.

        Raises TimeoutError after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while (state := self.state) in ACTIVE:
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {self.job_id} still {state} after {timeout:.0f} s")
            time.sleep(poll)
        return state


def parse_progress(log: str) -> tuple[int, int]:
    """``(epoch, total)`` from ``workbench train`` output: the last ``epoch N/M  loss`` line, or
    the announced ``for M epochs`` with epoch 0 before the first epoch ends."""
    found = _EPOCH_LINE.findall(log)
    if found:
        epoch, total = found[-1]
        return int(epoch), int(total)
    announced = _TOTAL_LINE.findall(log)
    return (0, int(announced[-1])) if announced else (0, 0)


def jobs_dir(workspace_dir: str | Path) -> Path:
    return Path(workspace_dir) / "jobs"


def list_jobs(workspace_dir: str | Path) -> list[Job]:
    """Every job of the workspace, oldest first (job ids sort by start time)."""
    root = jobs_dir(workspace_dir)
    if not root.is_dir():
        return []
    return [Job(d) for d in sorted(root.iterdir()) if (d / "status.json").is_file()]


def current_job(workspace_dir: str | Path) -> Job | None:
    """The workspace's latest job (running or finished), None when it never ran one."""
    jobs = list_jobs(workspace_dir)
    return jobs[-1] if jobs else None


@contextlib.contextmanager
def _locked(workspace_dir: str | Path) -> Iterator[None]:
    root = jobs_dir(workspace_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start(
    workspace_dir: str | Path,
    command: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> Job:
    """Run ``command`` as the workspace's background job; returns at once.

    ``env`` adds to (not replaces) this process's environment. Raises :class:`JobRunningError`
    when another job of the workspace is queued or running.
    """
    if not command or not all(isinstance(c, str) for c in command):
        raise JobError(f"command must be a non-empty list of strings, not {command!r}")
    with _locked(workspace_dir):
        for job in reversed(list_jobs(workspace_dir)):
            st = job.status()
            if st["state"] in ACTIVE:
                raise JobRunningError(
                    f"job {st['job_id']} ({shlex.join(st['command'])}) is still {st['state']} "
                    f"since {st['started']}; wait for it to finish or cancel it first"
                )
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        job = Job(jobs_dir(workspace_dir) / f"{stamp}-{secrets.token_hex(3)}")
        job.dir.mkdir()
        token = secrets.token_hex(16)
        status = {"job_id": job.job_id, "command": list(command), "started": _now(),
                  "cwd": str(Path(cwd or os.getcwd()).resolve()), "pid": None,
                  "token": token}  # fmt: skip
        _write_json(job.dir / "status.json", status)
        wrapper = [sys.executable, "-m", "workbench.jobs", str(job.dir.resolve()), "--", *command]
        with open(os.devnull, "rb") as devnull:
            proc = subprocess.Popen(
                wrapper,
                cwd=status["cwd"],
                env={
                    **os.environ,
                    **(env or {}),
                    "PYTHONUNBUFFERED": "1",
                    procs.TOKEN_VAR: token,
                },
                stdin=devnull,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        # Popen returns once exec has begun, a moment before /proc/<pid>/environ shows the new
        # environment; record the pid only when the token is visible, so no one reads a live
        # job as failed in between.
        deadline = time.monotonic() + 5.0
        while (
            procs.PROC.is_dir()
            and not procs.has_token(proc.pid, token)
            and proc.poll() is None
            and time.monotonic() < deadline
        ):
            time.sleep(0.001)
        _write_json(
            job.dir / "status.json",
            # start_new_session: the wrapper leads its own session and group (pgid == pid)
            {
                **status,
                "pid": proc.pid,
                "pid_start": procs.start_time(proc.pid),
                "pgid": proc.pid,
            },
        )
    return job


def start_training(
    workspace_dir: str | Path, args: Sequence[str], *, cwd: str | Path | None = None
) -> Job:
    """``python -m workbench.cli train ARGS...`` as the workspace's background job, e.g.
    ``["--manifest", "cleaned/manifest.csv", "--out", "series/curated", "--recipe",
    "series/baseline/recipe.json"]``."""
    return start(workspace_dir, [sys.executable, "-m", "workbench.cli", "train", *args], cwd=cwd)


def read_log(job: Job, tail_lines: int | None = 200) -> str:
    """The job's log (the last ``tail_lines`` lines; None: all of it). Carriage-return redraws
    of progress bars are collapsed to their last state."""
    try:
        text = job.log_path.read_bytes().decode(errors="replace")
    except FileNotFoundError:
        return ""
    lines = [line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    return "\n".join(lines)


def cancel(job: Job, timeout: float = 10.0) -> str:
    """Stop a queued or running job: SIGTERM to each of its processes, SIGKILL to those left after
    ``timeout`` seconds; returns the final state. A finished job is left as it is.

    Only processes checked to be the job's are signalled (see the module docstring): a job record
    pointing at someone else's process leaves that process alone.
    """
    st = job.status()
    if st["state"] not in ACTIVE:
        return st["state"]
    (job.dir / "cancelled").write_text(_now() + "\n")
    if st["pid"] is None:
        return job.state
    belongs = _belongs(job.dir, st)
    for proc in _processes(job.dir, st):
        procs.send(proc, signal.SIGTERM, belongs)
    try:
        return job.wait(timeout)
    except TimeoutError:
        for proc in _processes(job.dir, st):
            procs.send(proc, signal.SIGKILL, belongs)
        return job.wait(timeout)


# --------------------------------------------------------------------------- the wrapper


def _run(job_dir: Path, command: list[str]) -> int:
    """Run ``command`` with output to ``log.txt``, then write ``result.json``."""
    children: list[subprocess.Popen] = []
    stopped: list[int] = []

    def forward(signum, _frame) -> None:  # the command gets the signal; the wrapper waits
        stopped.append(signum)
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    with open(job_dir / "log.txt", "ab", buffering=0) as log:
        try:
            children.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL))  # fmt: skip
        except OSError as exc:
            log.write(f"cannot start {command[0]}: {exc}\n".encode())
            rc = 127
        else:
            if stopped:  # the signal came before the command existed
                children[0].send_signal(stopped[0])
            rc = children[0].wait()
    _write_json(job_dir / "result.json", {"returncode": rc, "finished": _now()})
    return rc


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m workbench.jobs JOB_DIR -- COMMAND...\n")
        return 2
    return _run(Path(argv[0]), list(argv[2:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
