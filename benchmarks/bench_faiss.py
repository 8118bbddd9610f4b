"""faiss exact search vs numpy brute force: 100 queries over 55,000×512 unit-norm features.

    .venv/bin/python benchmarks/bench_faiss.py [--repeats 5] [--queries 100] [--gallery 55000]

One thread, all variants timed side by side (alternating), medians of ``--repeats``. Variants:
faiss with its default ``distance_compute_blas_threshold`` (the SIMD loop for this batch size),
``explain.retrieval.index.search`` (forces BLAS from 20 queries on), numpy (matrix product +
argpartition + sort of the top k). Also prints which inputs the threshold is compared with.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import faiss  # noqa: E402
import numpy as np  # noqa: E402


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_topk(queries: np.ndarray, gallery: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = queries @ gallery.T
    part = np.argpartition(-sims, k, axis=1)[:, :k]
    top = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-top, axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--gallery", type=int, default=55000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    from explain.retrieval.index import build_index, search

    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    gallery = unit_rows(rng, args.gallery, args.dim)
    queries = unit_rows(rng, args.queries, args.dim)
    index = build_index(gallery)
    default = faiss.cvar.distance_compute_blas_threshold
    times: dict[str, list[float]] = {"faiss default": [], "retrieval.search": [], "numpy": []}
    for _ in range(args.repeats):
        t, (_, i_default) = timed(lambda: index.search(queries, args.k))
        times["faiss default"].append(t)
        t, (_, i_ours) = timed(lambda: search(index, queries, args.k))
        times["retrieval.search"].append(t)
        t, (_, i_numpy) = timed(lambda: numpy_topk(queries, gallery, args.k))
        times["numpy"].append(t)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(
        f"{args.queries} queries over {args.gallery}×{args.dim} features, k={args.k}, 1 thread, "
        f"median of {args.repeats}"
    )
    for name, ts in times.items():
        print(f"  {name:<17}: {med[name] * 1e3:8.1f} ms  {[round(x * 1e3, 1) for x in ts]}")
    print(f"  numpy / retrieval.search      : {med['numpy'] / med['retrieval.search']:.1f}×")
    print(
        f"  faiss default / retrieval.search: {med['faiss default'] / med['retrieval.search']:.1f}×"
    )
    same = (i_default == i_ours).mean(), (i_numpy == i_ours).mean()
    print(f"  identical top-k ids: faiss default {same[0]:.4f}, numpy {same[1]:.4f}")

    # Which quantity does faiss compare with the threshold? Switch it around queries × dim.
    nd = args.queries * args.dim
    print(f"  distance_compute_blas_threshold default {default} (faiss {faiss.__version__})")
    for value in (args.queries, args.queries + 1, nd, nd + 1):
        faiss.cvar.distance_compute_blas_threshold = value
        t = statistics.median(timed(lambda: index.search(queries, args.k))[0] for _ in range(3))
        print(f"    threshold {value:>8}: {t * 1e3:7.1f} ms")
    faiss.cvar.distance_compute_blas_threshold = default


if __name__ == "__main__":
    main()
