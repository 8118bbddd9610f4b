"""Our rank metrics vs torchreid's ``evaluate_rank`` (python) on a Market-1501-sized problem.

    .venv/bin/python benchmarks/bench_metrics.py [--repeats 3] [--queries 3368] [--gallery 15913]

One thread, both timed side by side in the same run (alternating), medians of ``--repeats``;
prints both times, the ratio and the largest differences of the results (they must be ≤ 1e-6).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402


def market_like(queries: int, gallery: int, seed: int = 0):
    """Random float32 distances; 751 identities over 6 cameras, like Market-1501's test set."""
    rng = np.random.default_rng(seed)
    g_pids, g_cams = rng.integers(0, 751, gallery), rng.integers(0, 6, gallery)
    q_pids, q_cams = rng.integers(0, 751, queries), rng.integers(0, 6, queries)
    distmat = rng.random((queries, gallery), dtype=np.float32)
    return distmat, q_pids, g_pids, q_cams, g_cams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--max-rank", type=int, default=50)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from explain.models.adapter import evaluate_rank_reference
    from explain.retrieval.metrics import rank_metrics

    case = market_like(args.queries, args.gallery)
    ours_t, ref_t = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        ours = rank_metrics(*case, max_rank=args.max_rank)
        ours_t.append(time.perf_counter() - t0)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            cmc, mean_ap = evaluate_rank_reference(*case, max_rank=args.max_rank)
            ref_t.append(time.perf_counter() - t0)
    ours_m, ref_m = statistics.median(ours_t), statistics.median(ref_t)
    print(
        f"distance matrix {args.queries}×{args.gallery} float32, max_rank {args.max_rank}, "
        f"1 thread, median of {args.repeats}"
    )
    print(f"  torchreid evaluate_rank (python): {ref_m:8.2f} s  {[round(t, 2) for t in ref_t]}")
    print(f"  explain rank_metrics (numpy)    : {ours_m:8.2f} s  {[round(t, 2) for t in ours_t]}")
    print(f"  speed-up: {ref_m / ours_m:.1f}×")
    print(
        f"  max |ΔCMC| {np.abs(ours.cmc[: len(cmc)] - cmc).max():.2e}, "
        f"|ΔmAP| {abs(ours.mAP - mean_ap):.2e}, mAP {ours.mAP:.6f}, mINP {ours.mINP:.6f}"
    )


if __name__ == "__main__":
    main()
