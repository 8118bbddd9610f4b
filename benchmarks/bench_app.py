"""Server time of the app's pages on the sample data, cold (first visit) and warm (cached).

    .venv/bin/python benchmarks/bench_app.py [--repeats 5] [--methods gradcam,occlusion]

Runs the pages through Streamlit's AppTest (the script run a browser's request triggers, in
this process), with a fresh embedding/heatmap cache in a temporary folder so the first visit
really computes. Prints the cold time and the median of ``--repeats`` warm runs per page; the
warm Heatmaps page should take well under 300 ms.
"""

from __future__ import annotations

import os

os.environ.setdefault("WORKBENCH_THREADS", "1")

import argparse
import statistics
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
    args = parser.parse_args()

    from streamlit.testing.v1 import AppTest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = str(Path(tmp) / "cache")
        os.environ["WORKBENCH_STORE"] = str(Path(tmp) / "tags.sqlite")
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1800)
        print(f"sample data, {os.environ['WORKBENCH_THREADS']} torch threads, fresh cache")
        print(f"{'page':<12}{'cold (s)':>10}{'warm median (ms)':>18}{'warm runs (ms)':>30}")
        for page in PAGES:
            at.switch_page(f"app_pages/{page}.py")
            cold = timed_run(at)
            if page == "heatmaps" and at.multiselect(key="hm.methods").value != args.methods.split(
                ","
            ):
                at.multiselect(key="hm.methods").set_value(args.methods.split(","))
                cold += timed_run(at)
            warm = [timed_run(at) * 1000 for _ in range(args.repeats)]
            runs = " ".join(f"{w:.0f}" for w in warm)
            print(f"{page:<12}{cold:>10.2f}{statistics.median(warm):>18.0f}{runs:>30}")


if __name__ == "__main__":
    main()
