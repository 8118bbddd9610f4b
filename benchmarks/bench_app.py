"""Server time of the app's pages on the sample data, cold (first visit) and warm (cached).

    .venv/bin/python benchmarks/bench_app.py [--repeats 5] [--methods gradcam,occlusion]
        [--pages home,checkpoints,heatmaps,triage,curate,search]

Runs the pages through Streamlit's AppTest (the script run a browser's request triggers, in
this process), with a fresh embedding/heatmap cache in a temporary folder so the first visit
really computes. Prints the cold time and the median of ``--repeats`` warm runs per page; the
warm Heatmaps page should take well under 300 ms. The Heatmaps page's cold time is its first run
(the Grad-CAM grid); the wait for its occlusion maps, computed in the background, is printed
below it (``benchmarks/bench_heatmaps_page.py`` measures both against the blocking page).
"""

from __future__ import annotations

import os

os.environ.setdefault("WORKBENCH_THREADS", "1")

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("home", "checkpoints", "heatmaps", "triage", "curate", "search")


def timed_run(at) -> float:
    t = time.perf_counter()
    at.run()
    elapsed = time.perf_counter() - t
    if at.exception:
        raise SystemExit(f"the page failed: {at.exception[0].message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--methods", default="gradcam,occlusion", help="Heatmaps page methods (the page's default)."
    )
    parser.add_argument("--pages", default=",".join(PAGES), help="Pages to run, in order.")
    parser.add_argument(
        "--precompute",
        action="store_true",
        help="First run what `make run` runs before the server starts (workbench evaluate on the "
        "sample into the fresh cache) and time it; the pages' first visits then read the cache.",
    )
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    from explain.heatmaps.background import MapRunner
    from ui import background

    work = MapRunner()
    background.runner = lambda: work  # the Heatmaps page's background maps, to wait on

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = str(Path(tmp) / "cache")
        os.environ["WORKBENCH_STORE"] = str(Path(tmp) / "tags.sqlite")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        print(f"sample data, {os.environ['WORKBENCH_THREADS']} torch threads, fresh cache")
        if args.precompute:
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "workbench.cli", "evaluate", "--data",
                 str(ROOT / "sample_data" / "pets"), "--checkpoints",
                 str(ROOT / "sample_data" / "series" / "baseline"), "--cache",
                 os.environ["WORKBENCH_CACHE"]],
                check=True, stdout=subprocess.DEVNULL, cwd=ROOT,
            )  # fmt: skip
            print(f"make run's precompute (workbench evaluate): {time.perf_counter() - t:.2f} s")
        print(f"{'page':<12}{'cold (s)':>10}{'warm median (ms)':>18}{'warm runs (ms)':>30}")
        for page in args.pages.split(","):
            at.switch_page(f"app_pages/{page}.py")
            cold = timed_run(at)
            if page == "heatmaps" and at.multiselect(key="hm.methods").value != args.methods.split(
                ","
            ):
                at.multiselect(key="hm.methods").set_value(args.methods.split(","))
                cold += timed_run(at)
            if page == "heatmaps":  # its slow maps fill in afterwards, in the background
                t = time.perf_counter()
                if not work.wait_idle(1800):
                    raise SystemExit("the background heatmaps did not finish within 30 minutes")
                print(f"{'':<12}(then {time.perf_counter() - t:.2f} s more until its occlusion "
                      "maps were all computed in the background)")  # fmt: skip
            warm = [timed_run(at) * 1000 for _ in range(args.repeats)]
            runs = " ".join(f"{w:.0f}" for w in warm)
            print(f"{page:<12}{cold:>10.2f}{statistics.median(warm):>18.0f}{runs:>30}")


if __name__ == "__main__":
    main()
