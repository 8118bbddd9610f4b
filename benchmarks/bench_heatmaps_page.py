"""Server time of the Heatmaps page for a new query: the Grad-CAM grid, then the occlusion maps.

    .venv/bin/python benchmarks/bench_heatmaps_page.py [--repeats 3] [--old-ref a792ea9]

Runs the page through Streamlit's AppTest on the sample data (1 torch thread) with the page's
default view (Grad-CAM and occlusion, the query against its top-1 match, 4 epochs: 8 maps per
method). Each repeat starts from an empty heatmap cache (the embeddings are computed once, before
the first repeat) and fresh Streamlit caches, opens the Overview (untimed), then times:

- grid: the Heatmaps page's first run (Grad-CAM drawn, occlusion queued in the background);
- occlusion: from the start of that run until every occlusion map is in the cache;
- blocking: the first run of the page as it is in ``--old-ref`` (git), which computed every map
  before drawing anything (skipped with ``--old-ref ''``).

Prints each repeat and the medians side by side.
"""

from __future__ import annotations

import os

os.environ.setdefault("WORKBENCH_THREADS", "1")

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_app import timed_run as first_run  # the same timing of one script run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # app_pages/ and ui/ are not installed packages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--old-ref",
        default="a792ea9",
        help="git ref of the blocking page ('' off); default: the last commit that had it",
    )
    args = parser.parse_args()

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from explain.heatmaps.background import MapRunner
    from ui import background

    work = MapRunner()
    background.runner = lambda: work  # one runner the benchmark can wait on

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        os.environ["WORKBENCH_CACHE"] = str(cache)
        os.environ["WORKBENCH_STORE"] = str(Path(tmp) / "tags.sqlite")
        old = None
        if args.old_ref:
            old = Path(tmp) / "old_heatmaps.py"
            page = f"{args.old_ref}:app_pages/heatmaps.py"
            old.write_text(subprocess.check_output(["git", "show", page], cwd=ROOT, text=True))

        def fresh(script: str) -> AppTest:
            shutil.rmtree(cache / "heatmaps", ignore_errors=True)
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
            at.run()  # the Overview: loads the series and its embeddings
            if script != "app":
                at = AppTest.from_file(script, default_timeout=1800)
            return at

        fresh("app")  # embeddings of the sample for every checkpoint, into the cache
        print(f"sample data, {os.environ['WORKBENCH_THREADS']} torch thread(s), fresh heatmap "
              "cache per repeat")  # fmt: skip
        print(f"{'repeat':<8}{'grid (s)':>10}{'occlusion (s)':>15}{'blocking (s)':>14}")
        rows = []
        for r in range(args.repeats):
            at = fresh("app")
            at.switch_page("app_pages/heatmaps.py")
            t = time.perf_counter()
            grid = first_run(at)
            if not work.wait_idle(1800):
                raise SystemExit("the occlusion maps did not finish within 30 minutes")
            occlusion = time.perf_counter() - t
            blocking = float("nan")
            if old is not None:
                blocking = first_run(fresh(str(old)))
            rows.append((grid, occlusion, blocking))
            print(f"{r + 1:<8}{grid:>10.2f}{occlusion:>15.2f}{blocking:>14.2f}")
        med = [statistics.median(col) for col in zip(*rows, strict=True)]
        print(f"{'median':<8}{med[0]:>10.2f}{med[1]:>15.2f}{med[2]:>14.2f}")


if __name__ == "__main__":
    main()
