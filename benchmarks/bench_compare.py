"""The Compare page's first run on the sample, as its Run button runs it with the page's defaults.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/bench_compare.py [--repeats 2] [--profile]

What the button runs: :func:`explain.compare.series.compare_series` of the sample dataset
(``sample_data/pets``), the baseline series (``sample_data/series/baseline``) against the curated
one (``sample_data/series/curated``), methods ``["gradcam"]``, 6 queries in the heatmap grid,
120 photos with artifacts scored, with a :class:`explain.heatmaps.cache.HeatmapCache` — here a
fresh temporary folder per run, so every run is a first run. One torch thread.

Prints each run's time (compare_series and the report; loading the dataset and the series,
which the page does when it opens, apart) and a breakdown by stage (the progress stages
``compare_series`` reports: embeddings per series, heatmaps, counterfactual drop, grid per
method; "report" is :func:`explain.compare.report.write_report`), then the median total.
``--profile``: one more run under cProfile, the top functions by cumulative time.
``--side-by-side``: the Grad-CAM maps of one checkpoint one photo at a time against
batches, in the same run. ``--after-overview``: the cache first holds what the Overview
computes (the baseline series' embeddings), as after a visit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("WORKBENCH_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

# the page's defaults (app_pages/compare.py)
METHODS = ["gradcam"]
N_QUERIES = 6
LIMIT = 120


def one_run(after_overview: bool = False) -> tuple[float, float, dict[str, float]]:
    """(seconds to load the dataset and both series, seconds of compare_series plus the report,
    seconds per stage) of one run on a fresh cache. ``after_overview``: the Overview's
    evaluation of the baseline series fills the cache first (not timed)."""
    from curation.dataset import load_dataset
    from explain.compare.intervals import series_intervals
    from explain.compare.report import figures, write_report
    from explain.compare.series import compare_series
    from explain.heatmaps.cache import HeatmapCache
    from explain.models.series import load_series
    from explain.retrieval.series import evaluate_series

    stages: dict[str, float] = {}
    state = {"t": time.perf_counter()}

    def note(stage: str, done: int, total: int) -> None:
        # progress comes after each piece of work: the time since the last call is this stage's
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - state["t"]
        state["t"] = now

    with tempfile.TemporaryDirectory() as tmp:
        cache = HeatmapCache(Path(tmp) / "cache")
        t0 = time.perf_counter()
        ds = load_dataset(ROOT / "sample_data" / "pets")
        base = load_series(ROOT / "sample_data" / "series" / "baseline")
        cur = load_series(ROOT / "sample_data" / "series" / "curated")
        loading = time.perf_counter() - t0
        if after_overview:  # what the Overview page computes for the workspace's checkpoints
            evaluate_series(ds, base, cache_dir=cache.root)
        t1 = state["t"] = time.perf_counter()
        comp = compare_series(
            ds, base, cur, methods=METHODS, n_queries=N_QUERIES, limit=LIMIT,
            cache=cache, progress=note,
        )  # fmt: skip
        write_report(comp, Path(tmp) / "report")
        note("report", 1, 1)
        total = time.perf_counter() - t1
        # what the page computes from the comparison before it shows it (not in the total)
        page_t = time.perf_counter()
        figures(comp)
        series_intervals(comp.per_query)
        stages["(page: figures, bootstrap intervals)"] = time.perf_counter() - page_t
    return loading, total, stages


def side_by_side() -> tuple[float, float, int]:
    """(seconds one photo at a time, seconds in batches, photos): the Grad-CAM maps of the
    sample report's photos with the first baseline checkpoint, without a cache, both ways
    in one run (so the ratio holds on a busy machine)."""
    from curation.dataset import load_dataset
    from explain.checks.ground_truth import _photos, report_images
    from explain.heatmaps.batched import cached_self_maps
    from explain.heatmaps.cache import get_or_compute
    from explain.heatmaps.targets import SelfSimilarity
    from explain.models.series import load_series

    ds = load_dataset(ROOT / "sample_data" / "pets")
    member = load_series(ROOT / "sample_data" / "series" / "baseline")[0]
    chosen = report_images(ds.table, LIMIT, 0)
    xs = [x for x, _, _ in _photos(ds, chosen, tuple(member.input_size)).values()]
    t0 = time.perf_counter()
    for x in xs:
        get_or_compute(None, member.model, x, SelfSimilarity(), "gradcam")
    t1 = time.perf_counter()
    cached_self_maps(None, member.model, xs, "gradcam", checkpoint_sha1=None,
                     image_sha1s=[""] * len(xs))  # fmt: skip
    return t1 - t0, time.perf_counter() - t1, len(xs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--side-by-side", action="store_true",
        help="Grad-CAM one photo at a time against batches, in one run",
    )  # fmt: skip
    parser.add_argument(
        "--after-overview", action="store_true",
        help="the Overview's embeddings of the baseline series cached first",
    )  # fmt: skip
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    print(f"torch threads: {torch.get_num_threads()}")
    totals = []
    for i in range(args.repeats):
        loading, total, stages = one_run(args.after_overview)
        totals.append(total)
        print(f"run {i + 1}: compare_series + report {total:.1f} s "
              f"(before it, loading the dataset and both series: {loading:.1f} s)")  # fmt: skip
        for name, sec in sorted(stages.items(), key=lambda kv: -kv[1]):
            print(f"    {name:<28} {sec:7.1f} s")
    if totals:
        what = "after the Overview" if args.after_overview else "fresh cache"
        print(f"median of {len(totals)} run(s), {what}: {statistics.median(totals):.1f} s")
    if args.side_by_side:
        one, batched, n = side_by_side()
        print(f"Grad-CAM of {n} photos, one checkpoint: one at a time {one:.1f} s, in batches "
              f"{batched:.1f} s ({one / batched:.1f}x)")  # fmt: skip
    if args.profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(one_run)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
