"""What the damage checks of the cache and the tag store cost, measured side by side.

    .venv/bin/python benchmarks/bench_state.py [--entries 2000] [--events 300]

Cache: a membership test as it was (one ``stat``) against the checked one (the entry must open as
a zip), ``keys()`` over every entry, and ``put`` with and without the fsyncs (the file and its
folder), on entries of the size of a Grad-CAM map (64 KB). Job state: one ``Job.status()`` (it
scans ``/proc`` for the job's processes). Store: events added one by one (one transaction each)
with ``synchronous = NORMAL`` as configured. Prints times and ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explain.storage.cache import DiskCache, make_key  # noqa: E402


def per_call(fn, items) -> float:
    """Median seconds per call of ``fn`` over ``items`` (3 passes)."""
    runs = []
    for _ in range(3):
        t = time.perf_counter()
        for item in items:
            fn(item)
        runs.append((time.perf_counter() - t) / len(items))
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--events", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = DiskCache(tmp, "maps")
        keys = [make_key("maps", i=i) for i in range(args.entries)]
        arrays = {"map": np.zeros((256, 128), np.float16)}
        t = time.perf_counter()
        for key in keys:
            cache.put(key, arrays)
        put_sync = (time.perf_counter() - t) / len(keys)
        with mock.patch.object(os, "fsync", lambda fd: None):
            t = time.perf_counter()
            for key in keys:
                cache.put(key, arrays)
            put_nosync = (time.perf_counter() - t) / len(keys)
        stat_only = per_call(lambda k: cache.path(k).is_file(), keys)
        checked = per_call(lambda k: k in cache, keys)
        t = time.perf_counter()
        listed = cache.keys()
        keys_s = time.perf_counter() - t
        got = per_call(cache.get, keys[:500])
        assert len(listed) == len(keys)
        print(f"cache, {len(keys)} entries of 64 KB")
        print(f"  membership: stat only {stat_only * 1e6:.1f} us, checked (zip opens) "
              f"{checked * 1e6:.1f} us  -> x{checked / stat_only:.1f}")  # fmt: skip
        print(f"  get (reads the arrays): {got * 1e6:.1f} us; keys() over all: {keys_s:.3f} s")
        print(f"  put: with fsync {put_sync * 1e3:.2f} ms, without {put_nosync * 1e3:.2f} ms  "
              f"-> x{put_sync / put_nosync:.1f}")  # fmt: skip

        from workbench.jobs import start

        job = start(Path(tmp) / "ws", [sys.executable, "-c", "import time; time.sleep(30)"])
        status = per_call(lambda _: job.status(), range(20))
        from workbench.jobs import cancel

        cancel(job, timeout=5)
        print(f"job status of a running job (scans /proc): {status * 1e3:.2f} ms")

        from curation.store import TagStore

        with TagStore(Path(tmp) / "tags.sqlite") as store:
            t = time.perf_counter()
            for i in range(args.events):
                store.set_bucket(f"query/{i}_1.jpg", "worked", "bench")
            per_event = (time.perf_counter() - t) / args.events
        print(f"tag store: {per_event * 1e3:.2f} ms per event added alone ({args.events} events)")


if __name__ == "__main__":
    main()
