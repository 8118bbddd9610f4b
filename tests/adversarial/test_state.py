"""Hostile and careless state: damaged cache entries, bad tag stores, killed job wrappers.

Each bad input is one test case with an id; each asserts the exact outcome (the message, what is
left on disk, which processes live). Read-only files and folders and a full disk are real where
the machine allows it: the command runs in a private mount namespace (``unshare -m``) with a
read-only bind mount or a tiny tmpfs (the tests run as root, which ignores file modes). Where
``unshare`` is not available those cases are skipped; the disk-full cases of the cache and the CSV
export are also simulated in-process by a monkeypatched ``OSError(ENOSPC)``.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from curation import migrations
from curation.store import StoreError, TagStore
from explain.storage.cache import DiskCache, make_key
from tests.adversarial.conftest import ROOT, assert_clean_error, workbench
from tests.conftest import write_image

Q = "query/201_1.jpg"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_THREADS": "1", "OMP_NUM_THREADS": "1"}


def _unshare_works() -> bool:
    try:
        probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


UNSHARE = _unshare_works()
needs_mounts = pytest.mark.skipif(
    not UNSHARE, reason="no private mount namespace (unshare -m): read-only / full-disk mounts"
)


def mounted(setup: list[str], *cli: str) -> subprocess.CompletedProcess:
    """``workbench CLI...`` in a private mount namespace after the ``setup`` shell commands (e.g.
    a read-only bind mount); the mounts vanish with the process."""
    script = " && ".join(
        [*setup, shlex.join([sys.executable, "-m", "workbench.cli", *cli])]
    )  # fmt: skip
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300,
        cwd=ROOT, env=_env(),
    )  # fmt: skip


def read_only(path: Path) -> list[str]:
    p = shlex.quote(str(path))
    return [f"mount --bind {p} {p}", f"mount -o remount,bind,ro {p}"]


def tiny_disk(path: Path, kib: int) -> list[str]:
    return [f"mount -t tmpfs -o size={kib}k tmpfs {shlex.quote(str(path))}"]


# =========================================================================== caches


def _entry(tmp_path: Path) -> tuple[DiskCache, str]:
    cache = DiskCache(tmp_path / "cache", "maps")
    key = make_key("maps", x=1)
    cache.put(key, {"map": np.arange(6, dtype=np.float32)})
    return cache, key


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _single_array(path: Path) -> None:
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))


def _foreign_zip(path: Path) -> None:
    path.unlink()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", "hello")


def _empty_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGED = {
    "truncated-npz": _truncate,
    "zero-byte-npz": lambda p: p.write_bytes(b""),
    "text-not-npz": lambda p: p.write_bytes(b"not an npz"),
    "single-npy-array": _single_array,
    "zip-without-arrays": _foreign_zip,
    "empty-folder-for-entry": _empty_folder,
}


@pytest.mark.parametrize("damage", list(DAMAGED), ids=list(DAMAGED))
def test_damaged_entry_is_deleted_logged_once_and_recomputed(tmp_path, damage, caplog):
    cache, key = _entry(tmp_path)
    path = cache.path(key)
    DAMAGED[damage](path)
    fresh = DiskCache(tmp_path / "cache", "maps")
    with caplog.at_level(logging.WARNING, logger="explain.storage.cache"):
        assert key not in fresh  # detected by a membership test too, not counted as cached
        assert fresh.keys() == []
        assert fresh.get(key) is None
    assert not path.exists() and fresh.dropped == [path]
    said = [r.getMessage() for r in caplog.records if "was damaged" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0] and "recomputed" in said[0]
    fresh.put(key, {"map": np.ones(2)})  # recomputed and stored again
    assert key in fresh and np.array_equal(fresh.get(key)["map"], np.ones(2))


def test_folder_with_content_where_an_entry_belongs_is_left_and_named(tmp_path, watch):
    cache, key = _entry(tmp_path)
    path = cache.path(key)
    path.unlink()
    path.mkdir()
    (path / "keep.txt").write_text("someone's file")
    seen = watch(path)
    with pytest.raises(ValueError, match="is a folder that is not empty") as err:
        cache.get(key)
    assert str(path) in str(err.value) and "delete it by hand" in str(err.value)
    with pytest.raises(ValueError, match="delete it by hand"):
        cache.put(key, {"map": np.zeros(1)})
    seen.assert_unchanged()


def test_cache_folder_that_is_a_file(tmp_path, watch):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder belongs")
    seen = watch(tmp_path)
    cache = DiskCache(blocker, "maps")
    key = make_key("maps", x=1)
    with pytest.raises(ValueError, match="is a file, not a folder; point WORKBENCH_CACHE"):
        cache.get(key)
    with pytest.raises(OSError, match=r"cannot write the cache entry .*--cache"):
        cache.put(key, {"map": np.zeros(1)})
    seen.assert_unchanged()


def test_temp_leftovers_are_never_keys_and_stale_ones_are_pruned(tmp_path):
    cache, key = _entry(tmp_path)
    folder = cache.path(key).parent
    old = [folder / ".tmp-killed.npz", folder / ".tmp-abc123.part"]  # old and new naming
    for p in old:
        p.write_bytes(b"PK\x03\x04 half a write")
        stamp = time.time() - 3600
        os.utime(p, (stamp, stamp))
    young = folder / ".tmp-inflight.part"  # a write in progress right now
    young.write_bytes(b"PK")
    stray = folder / "README.npz"  # not named like an entry: not a key, not touched
    stray.write_bytes(b"x")
    assert cache.keys() == [key]
    reopened = DiskCache(tmp_path / "cache", "maps", prune=False)
    assert reopened.prune() == sorted(old)
    assert not any(p.exists() for p in old) and young.exists() and stray.exists()
    assert reopened.keys() == [key]


KILLED_WRITER = """
import sys, time
import numpy as np
from explain.storage.cache import DiskCache, make_key

def slow_savez(fh, **arrays):
    fh.write(b"PK\\x03\\x04 the first bytes of an entry")
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)

np.savez = slow_savez
DiskCache(sys.argv[1], "maps").put(make_key("maps", x=7), {"map": np.zeros(3)})
"""


def test_a_killed_writer_leaves_no_key_and_its_temp_file_is_pruned(tmp_path):
    cache, key = _entry(tmp_path)
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "cache")],
                              stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)  # fmt: skip
    assert writer.stdout.readline().strip() == "writing"
    writer.kill()  # kill -9 in the middle of a cache write
    writer.wait()
    leftovers = list(cache.dir.rglob(".tmp-*"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    assert cache.keys() == [key]  # the half-written temp file is no key
    assert make_key("maps", x=7) not in cache
    assert DiskCache(tmp_path / "cache", "maps", prune=False).prune(max_age=0) == leftovers
    assert not leftovers[0].exists() and cache.keys() == [key]


def test_stale_temps_are_pruned_when_a_cache_is_opened(tmp_path):
    import explain.storage.cache as cache_mod

    cache, key = _entry(tmp_path)
    stale = cache.path(key).parent / ".tmp-killed.npz"
    stale.write_bytes(b"PK")
    os.utime(stale, (time.time() - 3600,) * 2)
    cache_mod._PRUNED.discard(cache.dir.resolve())
    DiskCache(tmp_path / "cache", "maps")
    assert not stale.exists()


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_an_entry(tmp_path, monkeypatch):
    cache = DiskCache(tmp_path / "cache", "maps")
    key = make_key("maps", x=9)
    monkeypatch.setattr(np, "savez", _enospc)
    with pytest.raises(OSError) as err:
        cache.put(key, {"map": np.zeros(3)})
    message = str(err.value)
    assert message.startswith(f"no space left on the disk holding {cache.path(key)}")
    assert "free space or point WORKBENCH_CACHE (the app) or --cache" in message
    assert isinstance(err.value, ValueError)  # commands turn it into a message
    assert [p.name for p in cache.path(key).parent.iterdir()] == []  # no temp file left


def test_cache_write_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    cache = DiskCache(tmp_path / "cache", "maps")
    cache.put(make_key("maps", x=2), {"map": np.zeros(2)})
    assert calls == ["fsync", "replace", "fsync"]  # the file, the rename, then the folder


def test_entries_honour_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        cache, key = _entry(tmp_path)
    finally:
        os.umask(old)
    assert cache.path(key).stat().st_mode & 0o777 == 0o644  # teammates can read a shared cache


def test_malformed_heatmap_entry_is_named_and_left(tmp_path, watch):
    from explain.heatmaps.cache import HeatmapCache, heatmap_key

    cache = HeatmapCache(tmp_path)
    key = heatmap_key("c" * 40, "d" * 40, "randomcam", {"layer": "0"}, "self", (8, 4))
    path = cache.disk.put(key, {"map": np.zeros((8, 4), np.float16)})  # no meta, no raw
    seen = watch(tmp_path)
    with pytest.raises(ValueError) as err:
        cache.get(key)
    assert str(err.value) == (
        f"{path}: a heatmap cache entry is malformed ('meta'): arrays that are not a heatmap; "
        "delete that file to recompute it"
    )
    seen.assert_unchanged()  # arrays that read are not damage: the file is someone's to judge


def test_bad_keys_cannot_name_paths(tmp_path):
    cache = DiskCache(tmp_path, "maps")
    for key in ("../../../etc/passwd", "", "ABC", "zz" * 20):
        with pytest.raises(ValueError, match="lowercase hex digest"):
            cache.path(key)


@needs_mounts
def test_cli_disk_full_during_a_cache_write(tmp_path):
    data = tmp_path / "data"
    for i, name in enumerate(["train/101_1.jpg", "train/101_2.jpg", "query/201_1.jpg",
                              "gallery/201_2.jpg"]):  # fmt: skip
        write_image(data / name, seed=i)
    disk = tmp_path / "disk"
    disk.mkdir()
    fill = f"dd if=/dev/zero of={shlex.quote(str(disk / 'fill'))} bs=1k count=64 2>/dev/null; true"
    proc = mounted([*tiny_disk(disk, 16), fill], "duplicates", "--data", str(data),
                   "--cache", str(disk / "cache"))  # fmt: skip
    assert_clean_error(proc, f"no space left on the disk holding {disk / 'cache' / 'phash'}",
                       "free space or point WORKBENCH_CACHE")  # fmt: skip


# =========================================================================== tag stores


def _good_store(path: Path) -> Path:
    with TagStore(path) as s:
        s.set_bucket(Q, "worked", "ann")
    return path


def _newer_schema(path: Path) -> Path:
    _good_store(path)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO schema_version VALUES (?, 'from the future', '2030-01-01')",
                (migrations.LATEST + 7,))  # fmt: skip
    con.commit()
    con.close()
    return path


def _foreign_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    con.commit()
    con.close()
    return path


STORES = {
    # id: (make the file at path, message, stays byte-identical)
    "text-file": (
        lambda p: p.write_text("name,bucket\nq.jpg,worked\n"),
        "is not a tag store (the file is not an SQLite database)",
    ),
    "binary-garbage": (
        lambda p: p.write_bytes(bytes(range(256)) * 64),
        "is not a tag store (the file is not an SQLite database)",
    ),
    "truncated-sqlite-header": (
        lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 10),
        "is not a tag store",
    ),
    "other-programs-database": (_foreign_db, "holds tables (invoices) but no tag store schema"),
    "newer-schema": (
        _newer_schema,
        f"has schema version {migrations.LATEST + 7}, written by a newer workbench (this one "
        f"knows up to {migrations.LATEST}); upgrade the workbench",
    ),
}


SUBCOMMANDS = {
    "list": ["list"],
    "history": ["history"],
    "vocab": ["vocab"],
    "bucket": ["bucket", Q, "worked"],
    "artifacts": ["artifacts", Q, "tongue"],
    "flag": ["flag", "201", "exclude"],
    "note": ["note", Q, "hello"],
    "undo": ["undo"],
    "export": ["export", "{out}"],
}
# every subcommand meets two bad stores; the other bad stores are met by `list`
STORE_CASES = [(c, sub) for c in ("text-file", "newer-schema") for sub in SUBCOMMANDS] + [
    (c, "list") for c in STORES if c not in ("text-file", "newer-schema")
]


@pytest.mark.parametrize("case,sub", STORE_CASES, ids=[f"{c}-{s}" for c, s in STORE_CASES])
def test_tags_with_an_unusable_store(tmp_path, watch, case, sub):
    make, message = STORES[case]
    store = tmp_path / "tags.sqlite"
    make(store)
    seen = watch(tmp_path)
    args = [a.format(out=tmp_path / "tags.csv") for a in SUBCOMMANDS[sub]]
    proc = workbench("tags", "--store", str(store), "--annotator", "ann", *args)
    assert_clean_error(proc, message)
    assert str(store) in proc.stderr
    seen.assert_unchanged()  # nothing written beside it (no -wal, no -shm, no new tables)


@pytest.mark.parametrize("case", ["text-file", "newer-schema"])
def test_export_with_an_unusable_store(tmp_path, tree, watch, case):
    make, message = STORES[case]
    store = tmp_path / "tags.sqlite"
    make(store)
    seen = watch(tmp_path)
    proc = workbench("export", "--data", str(tree), "--store", str(store),
                     "--out", str(tmp_path / "out"))  # fmt: skip
    assert_clean_error(proc, message)
    seen.assert_unchanged()


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_store_that_is_not_a_regular_file(tmp_path, kind):
    store = tmp_path / "tags.sqlite"
    if kind == "folder":
        store.mkdir()
        message = f"{store} is a folder; give a file path such as {store}/tags.sqlite"
    else:
        os.mkfifo(store)
        message = f"{store} is not a regular file; give the path of a tags.sqlite file"
    names = sorted(p.name for p in tmp_path.iterdir())  # (a watch would block reading the fifo)
    assert_clean_error(workbench("tags", "--store", str(store), "list", timeout=60), message)
    assert sorted(p.name for p in tmp_path.iterdir()) == names and not any(store.iterdir()
                                                                          if kind == "folder"
                                                                          else [])  # fmt: skip


def test_store_path_inside_a_file(tmp_path, watch):
    (tmp_path / "notes.txt").write_text("x")
    seen = watch(tmp_path)
    proc = workbench("tags", "--store", str(tmp_path / "notes.txt" / "tags.sqlite"), "list")
    assert_clean_error(proc, "cannot create the folder of the tag store",
                       "give a store path in a folder you can write")  # fmt: skip
    seen.assert_unchanged()


@pytest.mark.parametrize("url,message", [
    ("nosuchdb://host/db", "check the scheme"),
    ("postgresql+psycopg://nobody@127.0.0.1:1/db", "check the URL, that the database server runs"),
], ids=["unknown-scheme", "server-not-running"])  # fmt: skip
def test_store_url_that_does_not_work(url, message):
    if "psycopg" in url:
        pytest.importorskip("psycopg")
    assert_clean_error(workbench("tags", "--store", url, "list"), message)


def _rollback_journal(path: Path) -> Path:
    _good_store(path)
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    con.close()
    return path


@needs_mounts
@pytest.mark.parametrize("make", [_good_store, _rollback_journal], ids=["wal", "rollback-journal"])
def test_read_only_store_file_reads_and_refuses_writes(tmp_path, make):
    store = make(tmp_path / "tags.sqlite")
    listed = mounted(read_only(store), "tags", "--store", str(store), "list", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].startswith(f"{Q},worked,")
    before = store.read_bytes()
    wrote = mounted(read_only(store), "tags", "--store", str(store), "--annotator", "ann",
                    "bucket", Q, "missed")  # fmt: skip
    assert_clean_error(wrote, f"the tag store {store} is read-only", "nothing was saved",
                       "copy it to a writable folder and pass that copy as --store")  # fmt: skip
    assert store.read_bytes() == before


@needs_mounts
@pytest.mark.parametrize("exists", [True, False], ids=["existing-store", "new-store"])
def test_store_in_a_read_only_folder(tmp_path, exists):
    folder = tmp_path / "shared"
    folder.mkdir()
    store = folder / "tags.sqlite"
    if exists:
        _good_store(store)
    proc = mounted(read_only(folder), "tags", "--store", str(store), "list")
    assert_clean_error(proc, f"cannot open the tag store {store}: its folder {folder} is "
                       "read-only", "make the folder writable")  # fmt: skip
    assert sorted(p.name for p in folder.iterdir()) == (["tags.sqlite"] if exists else [])


@needs_mounts
def test_disk_full_while_saving_an_event(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    store = disk / "tags.sqlite"
    big_note = "x" * 120_000  # more than the 96 KiB disk can hold
    proc = mounted(tiny_disk(disk, 96), "tags", "--store", str(store), "--annotator", "ann",
                   "note", Q, big_note)  # fmt: skip
    assert_clean_error(proc, f"no space left on the disk holding the tag store {store}",
                       "free space on that disk")  # fmt: skip


def test_disk_full_while_exporting_the_tag_csv(tmp_path, monkeypatch):
    store = TagStore(_good_store(tmp_path / "tags.sqlite"))
    out = tmp_path / "tags.csv"
    out.write_text("the previous export\n")
    monkeypatch.setattr(os, "fsync", _enospc)
    with pytest.raises(StoreError, match=f"no space left on the disk holding {out}; free space"):
        store.export_csv(out)
    store.close()
    assert out.read_text() == "the previous export\n"  # the old export stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tags.csv", "tags.sqlite"]


def test_tag_csv_export_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    store = TagStore(_good_store(tmp_path / "tags.sqlite"))
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b)))
    store.export_csv(tmp_path / "tags.csv")
    store.close()
    assert calls == ["fsync", "replace", "fsync"]
    assert (tmp_path / "tags.csv").read_text().startswith("image,bucket")


def test_tag_csv_export_into_a_missing_folder(tmp_path):
    store = _good_store(tmp_path / "tags.sqlite")
    proc = workbench("tags", "--store", str(store), "export", str(tmp_path / "nope" / "t.csv"))
    assert_clean_error(proc, f"cannot write {tmp_path / 'nope' / 't.csv'}",
                       "choose a folder you can write")  # fmt: skip


@pytest.mark.parametrize("max_wait", [1.0, 2.0])
def test_max_wait_below_thirty_seconds_is_honoured(tmp_path, max_wait):
    from curation.store import StoreBusyError

    store = _good_store(tmp_path / "tags.sqlite")
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        s = TagStore(store, max_wait=max_wait)
        t0 = time.monotonic()
        with pytest.raises(StoreBusyError, match=f"max_wait {max_wait:g} s") as err:
            s.set_bucket(Q, "missed", "ann")
        waited = time.monotonic() - t0
        s.close()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "another process holds it" in str(err.value) and str(store) in str(err.value)
    # it waited about max_wait (retries with backoff), not SQLite's 30 s busy timeout
    assert max_wait * 0.9 <= waited < max_wait + 5.0, waited


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "abc", True])
def test_max_wait_must_be_seconds(tmp_path, bad):
    with pytest.raises(StoreError, match="max_wait must be a"):
        TagStore(tmp_path / "t.sqlite", max_wait=bad)
    assert not (tmp_path / "t.sqlite").exists()


def test_journal_size_limit_is_set(tmp_path):
    s = _good_store(tmp_path / "t.sqlite")
    with TagStore(s) as store, store._engine.connect() as conn:
        limit = conn.exec_driver_sql("PRAGMA journal_size_limit").scalar()
    assert limit == 64 * 1024 * 1024  # SQLite's default is -1: no limit


def test_wal_shrinks_back_after_a_held_reader_lets_go(tmp_path, monkeypatch):
    from curation import store_db

    limit = 256 * 1024
    monkeypatch.setattr(store_db, "JOURNAL_SIZE_LIMIT", limit)
    path = tmp_path / "t.sqlite"
    store = TagStore(path)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM events").fetchone()  # holds a snapshot: no WAL reset
    for i in range(120):
        store.set_note(f"query/{i}_1.jpg", "n" * 10_000, "ann")
    wal = Path(f"{path}-wal")
    grown = wal.stat().st_size
    reader.execute("COMMIT")
    reader.close()
    for _ in range(2):  # the first commit checkpoints, the next write resets and trims the WAL
        store.set_note(Q, "after", "ann")
    assert grown > 4 * limit and wal.stat().st_size <= limit, (grown, wal.stat().st_size)
    assert store.count() == 122
    store.close()


# =========================================================================== jobs

ORPHAN = """
    import os, sys, time
    print("child", os.getpid(), flush=True)
    while True:
        open(sys.argv[1], "a").write("checkpoint\\n")
        time.sleep(0.1)
"""


def _wait_for_log(job, text: str, timeout: float = 20.0) -> str:
    from workbench.jobs import read_log

    deadline = time.monotonic() + timeout
    while text not in (log := read_log(job, None)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared in the log: {log!r}")
        time.sleep(0.05)
    return log


def _gone(pid: int, within: float = 5.0) -> bool:
    """True once ``pid`` has exited (or is a zombie) -- a killed process takes a moment to finish
    exiting on a loaded machine, after it stopped counting as the job's (its memory is gone)."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state in ("Z", "X") or time.monotonic() > deadline:
            return state in ("Z", "X")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
def test_killed_wrapper_leaves_a_running_job_that_cancel_stops(tmp_path):
    from workbench.jobs import JobRunningError, cancel, start

    ticks = tmp_path / "ticks.txt"
    job = start(tmp_path / "ws", [sys.executable, "-c", textwrap.dedent(ORPHAN), str(ticks)])
    child = int(_wait_for_log(job, "child").split()[1])
    wrapper = job.status()["pid"]
    os.kill(wrapper, signal.SIGKILL)  # the recorded pid dies; the training lives on
    deadline = time.monotonic() + 10
    while job.status()["wrapper_alive"] and time.monotonic() < deadline:
        time.sleep(0.05)
    st = job.status()
    assert (st["state"], st["wrapper_alive"], st["pids"]) == ("running", False, [child])
    with pytest.raises(JobRunningError, match=f"(?s)job {job.job_id} .* is still running"):
        start(tmp_path / "ws", [sys.executable, "-c", "print('second')"])
    assert cancel(job, timeout=5) == "cancelled"
    assert _gone(child)
    size = ticks.stat().st_size
    time.sleep(0.4)
    assert ticks.stat().st_size == size  # the orphan writes no more checkpoints
    assert job.status()["returncode"] is None and job.status()["pids"] == []


def _fake_job(workspace: Path, pid: int, **fields) -> Path:
    folder = workspace / "jobs" / "20240101-000000-abcdef"
    folder.mkdir(parents=True)
    status = {
        "job_id": folder.name,
        "command": ["sleep", "60"],
        "cwd": str(workspace),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "pid": pid,
        **fields,
    }
    (folder / "status.json").write_text(json.dumps(status))  # fmt: skip
    return folder


def _start_time(pid: int) -> str:
    """The process's start time as /proc/<pid>/stat gives it (field 22, clock ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


UNRELATED = {
    # the record names a live process that is not the job's, with its true start time
    "token-mismatch": lambda pid: {"pid_start": _start_time(pid), "pgid": pid, "token": "0" * 32},
    "no-token-old-record": lambda pid: {"pid_start": _start_time(pid)},
    # the job's wrapper died long ago and its pid now belongs to someone else
    "recycled-pid": lambda pid: {"pid_start": "1"},
}


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("case", list(UNRELATED), ids=list(UNRELATED))
def test_a_job_record_naming_someone_elses_process_never_signals_it(tmp_path, case):
    from workbench.jobs import Job, cancel, start

    other = subprocess.Popen(["sleep", "60"], start_new_session=True)  # an unrelated program
    try:
        job = Job(_fake_job(tmp_path, other.pid, **UNRELATED[case](other.pid)))
        assert job.state == "failed"  # nothing of the job is alive
        assert cancel(job, timeout=1) == "failed"
        time.sleep(0.2)
        assert other.poll() is None  # still running: never signalled
        assert start(tmp_path, [sys.executable, "-c", "print('ok')"]).wait(20) == "succeeded"
    finally:
        other.kill()
        other.wait()


DAMAGED_RECORDS = {
    "pid-zero": ({"pid": 0}, "pid 0 names no job's process"),
    "pid-minus-one": ({"pid": -1}, "pid -1 names no job's process"),
    "pid-text": ({"pid": "abc"}, "pid 'abc' is not a process id"),
    "pid-bool": ({"pid": True}, "pid True is not a process id"),
    "pgid-one": ({"pid": 4242, "pgid": 1, "token": "t"}, "pgid 1 names no job's process"),
    "command-text": ({"pid": None, "command": "rm -rf /"}, "command is not a list of strings"),
    "started-garbage": (
        {"pid": None, "started": "yesterday"},
        "started 'yesterday' is not an ISO 8601 time",
    ),
}


@pytest.mark.parametrize("case", list(DAMAGED_RECORDS), ids=list(DAMAGED_RECORDS))
def test_a_damaged_job_record_is_named_not_acted_on(tmp_path, case):
    from workbench.jobs import Job, JobError, cancel

    fields, why = DAMAGED_RECORDS[case]
    folder = _fake_job(tmp_path, 4242)
    status = json.loads((folder / "status.json").read_text())
    (folder / "status.json").write_text(json.dumps({**status, **fields}))
    job = Job(folder)
    for call in (job.status, lambda: cancel(job, timeout=1)):
        with pytest.raises(JobError) as err:
            call()
        assert (
            str(err.value) == f"{folder / 'status.json'} is damaged ({why}); delete the job folder"
        )
    assert not (folder / "cancelled").exists()
