"""The Embeddings map's costs, side by side: the 2-D projection (UMAP's first call in a process,
a second call, PCA, a disk-cache hit) and the scatter figure (one trace per group vs the one
trace the page uses above 24 groups), on random unit features of ``--photos`` rows.

    .venv/bin/python benchmarks/bench_browse.py [--photos 308] [--posts 62] [--repeats 3]

One thread; medians of ``--repeats`` (the first UMAP call is timed once: it includes numba's
compilation, paid once per server process).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.express as px  # noqa: E402

from explain.retrieval.projection import cached_project, project, umap_available  # noqa: E402
from explain.storage.cache import DiskCache  # noqa: E402
from ui import browse_map as bm  # noqa: E402


def timed(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--photos", type=int, default=308)
    ap.add_argument("--posts", type=int, default=62)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.photos, 512)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    print(f"{args.photos} photos × 512 features, {args.posts} posts, one thread")
    if umap_available():
        t = time.perf_counter()
        project(x, "umap")
        print(f"UMAP, first call in this process: {time.perf_counter() - t:.2f} s")
        later = timed(lambda: project(x, "umap"), args.repeats)
        print(f"UMAP, later calls:                {later:.3f} s")
    else:
        print("UMAP: umap-learn is not installed")
    print(
        f"PCA:                              {timed(lambda: project(x, 'pca'), args.repeats):.4f} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = DiskCache(tmp, "projections")
        cached_project(x, cache, "auto")
        hit = timed(lambda: cached_project(x, cache, "auto"), args.repeats)
    print(f"cache hit (hash + read):          {hit:.4f} s")
    posts = [str(i % args.posts) for i in range(args.photos)]
    frame = pd.DataFrame({
        "image": [f"gallery/{p}_{i}.jpg" for i, p in enumerate(posts)],
        "name": [f"{p}_{i}.jpg" for i, p in enumerate(posts)], "post_id": posts,
        "split": "gallery", "outcome": "not a query", "x": rng.random(args.photos),
        "y": rng.random(args.photos),
    })  # fmt: skip
    bm.figure(frame, "post")  # warm plotly's templates
    px.scatter(frame, x="x", y="y", color="post_id")

    def per_post():  # what the page drew before: plotly express, one trace per post
        px.scatter(
            frame, x="x", y="y", color=frame["post_id"], custom_data=["image"], hover_name="name",
            hover_data={"post_id": True, "split": True, "outcome": True, "x": False, "y": False},
        )  # fmt: skip

    per_group = timed(per_post, args.repeats)
    one = timed(lambda: bm.figure(frame, "post"), args.repeats)
    print(f"figure, one trace per post:       {per_group:.3f} s")
    print(f"figure, the page's (one trace):   {one:.3f} s   ({per_group / one:.1f}× faster)")


if __name__ == "__main__":
    main()
