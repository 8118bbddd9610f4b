"""The first open of the app in a real browser, as a visitor meets it after ``make run``.

    .venv/bin/python benchmarks/bench_first_open.py [--repeats 3]

What ``make run`` does before the server starts (the sample's embeddings for every checkpoint,
``workbench evaluate`` into a fresh cache) is timed once. Then, for each way of starting the
server — ``streamlit run app.py`` (the libraries load on the first visit) and ``streamlit run
serve.py`` (they load at server start, before the first visitor) — a fresh server process is
started ``--repeats`` times (alternating), and the time from the browser's request to the
Overview's last section ("Tag store", after the checkpoints table with rank-1 and mAP) is
measured. Prints the medians side by side. Needs Chromium (/usr/bin/chromium) and playwright.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_open(entry: str, env: dict[str, str], log: Path) -> tuple[float, float]:
    """(seconds from process start to healthy server, seconds from request to the page)."""
    from playwright.sync_api import sync_playwright

    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true",
           "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none"]  # fmt: skip
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.1)
        started = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            t1 = time.perf_counter()
            page.goto(url)
            page.get_by_role("heading", name="Tag store").wait_for(timeout=300_000)
            opened = time.perf_counter() - t1
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return started, opened


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"WORKBENCH_CACHE": f"{tmp}/cache", "WORKBENCH_STORE": f"{tmp}/tags.sqlite",
               "WORKBENCH_WORKSPACE": f"{tmp}/ws"}  # fmt: skip
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "workbench.cli", "evaluate", "--data", "sample_data/pets",
             "--checkpoints", "sample_data/series/baseline", "--cache", env["WORKBENCH_CACHE"]],
            cwd=ROOT, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"make run's precompute (embeddings of 308 photos x 4 checkpoints): "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        times: dict[str, list[tuple[float, float]]] = {"app.py": [], "serve.py": []}
        for i in range(args.repeats):
            for entry in times:
                times[entry].append(first_open(entry, env, Path(tmp) / f"log-{i}.txt"))
        print(f"{'entry':<10}{'server ready (s)':>18}{'first open (s)':>16}   runs")
        for entry, runs in times.items():
            ready = statistics.median(r[0] for r in runs)
            opened = statistics.median(r[1] for r in runs)
            shown = " ".join(f"{r[1]:.1f}" for r in runs)
            print(f"{entry:<10}{ready:>18.1f}{opened:>16.1f}   {shown}")


if __name__ == "__main__":
    main()
