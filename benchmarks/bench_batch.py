"""Batch precompute, local engine vs Ray (2 workers), side by side in one run.

    .venv/bin/python benchmarks/bench_batch.py [--data sample_data/pets]
        [--series sample_data/series/baseline] [--images 40] [--methods gradcam]
        [--repeats 3] [--workers 2] [--batch-size 8]

Each repeat fills an empty cache folder with the self-similarity maps of the first ``--images``
query photos × every checkpoint × ``--methods``, once with the local engine (this process, one
torch thread) and once on Ray (``--workers`` actors, one CPU and one torch thread each; the
actors are started inside the timed call, as ``workbench explain precompute --engine ray``
does). Ray itself is started once, before the repeats; its start-up time is printed apart.
Prints the median seconds, milliseconds per map and the local/Ray ratio.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "sample_data" / "pets"))
    ap.add_argument("--series", default=str(ROOT / "sample_data" / "series" / "baseline"))
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--methods", default="gradcam")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args()

    import ray

    from curation.dataset import load_dataset
    from explain.heatmaps.batch import checkpoints_of, precompute, start_ray

    ds = load_dataset(args.data, check="none")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    n_ckpt = len(checkpoints_of(args.series))
    common = {"splits": ["query"], "limit": args.images, "batch_size": args.batch_size}
    t0 = time.perf_counter()
    start_ray(None, args.workers)
    ray_start = time.perf_counter() - t0
    times: dict[str, list[float]] = {"local": [], "ray": []}
    startup: dict[str, list[float]] = {"local": [], "ray": []}
    maps = 0
    try:
        for _ in range(args.repeats):
            for engine in ("local", "ray"):
                cache = Path(tempfile.mkdtemp(prefix=f"bench-{engine}-"))
                try:
                    t = time.perf_counter()
                    res = precompute(ds, args.series, methods, engine=engine, cache_dir=cache,
                                     workers=args.workers, **common)  # fmt: skip
                    times[engine].append(time.perf_counter() - t)
                    startup[engine].append(res.meta.get("startup_seconds", 0.0))
                    maps = res.computed
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
    finally:
        ray.shutdown()
    med = {e: statistics.median(times[e]) for e in times}
    up = {e: statistics.median(startup[e]) for e in startup}
    print(f"{args.images} query photos x {n_ckpt} checkpoints x {','.join(methods)} = {maps} maps, "
          f"{args.repeats} repeats, {os.cpu_count()} CPU cores")  # fmt: skip
    print(f"ray.init (local, {args.workers} CPUs): {ray_start:.1f} s, once before the repeats")
    for engine, label in (("local", "local engine (1 process)"),
                          ("ray", f"ray engine ({args.workers} actors)")):  # fmt: skip
        compute = med[engine] - up[engine]
        print(f"{label:26s} median {med[engine]:6.2f} s = start {up[engine]:5.2f} s + maps "
              f"{compute:6.2f} s ({1000 * compute / maps:6.1f} ms/map)")  # fmt: skip
    steady = (med["local"] - up["local"]) / (med["ray"] - up["ray"])
    print(
        f"local / ray: {med['local'] / med['ray']:.2f}x end to end, {steady:.2f}x without start-up"
    )


if __name__ == "__main__":
    main()
