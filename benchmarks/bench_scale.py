"""Scale plan: the per-item cost of every kind of work on a generated dataset, one torch thread.

    python benchmarks/bench_scale.py --data /work/exp/scale5k
        [--series sample_data/series/baseline] [--photos 5000] [--subset 500]
        [--gradcam 250] [--occlusion 60] [--seed 0] [--target 55000] [--json out.json]

For each size (``--subset`` photos, then ``--photos``; both drawn at random with ``--seed``,
manifest order kept) and a fresh cache folder per kind of work, through the library calls the
CLI makes:

- embeddings: :func:`explain.retrieval.embeddings.embed_dataset` (``workbench evaluate``'s path
  and cache; every split) for each checkpoint, then the same call again (a cache hit);
- faiss: :func:`explain.retrieval.index.build_index` and one ``search`` of all the photos
  against all the photos (k=20), on the first 500, 1,000, 2,000, ... of them, and the scaling
  exponent of the two largest sizes;
- detections: :func:`curation.perception.runner.detect_dataset` (``workbench detect``, all
  detectors, its cache);
- Grad-CAM and occlusion: :func:`explain.heatmaps.batch.precompute` (local engine) on a random
  ``--gradcam`` / ``--occlusion`` (smaller run: ``--subset-occlusion``) photos of the size,
  every checkpoint; then the planning of every photo of the size (content hashes and cache
  look-ups of 2 methods x checkpoints keys).

Per-item cost: total seconds / items (start-up included) and the median, p10-p90 of the
per-item times (per map; per photo for detections; per batch of 64 / 64 for embeddings).
Disk: bytes per item of each cache folder. Ends with a plan for ``--target`` photos x the
series' checkpoints (core-hours; wall time at ``--efficiency`` of linear per core).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's own threads

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FAISS_SIZES = (500, 1000, 2000, 5000, 10000, 20000, 55000)


class Ticks:
    """A ``progress(done, total)`` callback that keeps (time, done) and draws a progress line."""

    def __init__(self, label: str):
        self.label, self.t0, self.marks, self.shown = label, time.perf_counter(), [], 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.marks.append((now, done))
        if now - self.shown > 1.0 or done == total:
            rate = done / max(now - self.t0, 1e-9)
            sys.stderr.write(f"\r  {self.label}: {done}/{total} ({rate:.1f}/s)   ")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
            self.shown = now

    def per_item(self, skip_first: bool = False) -> list[float]:
        """Seconds per item between consecutive calls (the first interval starts at t0)."""
        out, (t_prev, d_prev) = [], (self.t0, 0)
        marks = self.marks
        if skip_first and marks:  # the interval up to the first call holds the start-up
            t_prev, d_prev = marks[0]
            marks = marks[1:]
        for t, d in marks:
            if d > d_prev:
                out.append((t - t_prev) / (d - d_prev))
            t_prev, d_prev = t, d
        return out


def cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract), user + system: on a
    shared machine a steadier measure of the work than the wall clock."""
    return sum(os.times()[:4])


def spread(values: list[float]) -> dict:
    if not values:
        return {"median": math.nan, "p10": math.nan, "p90": math.nan, "n": 0}
    p10, med, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(med), "p10": float(p10), "p90": float(p90), "n": len(values)}


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def pick(ds, n: int, seed: int):
    """``n`` random rows of ``ds`` (all when it has fewer), manifest order kept."""
    if n >= len(ds.table):
        return ds
    rows = np.sort(np.random.default_rng(seed).choice(len(ds.table), n, replace=False))
    return dataclasses.replace(ds, table=ds.table.iloc[rows].reset_index(drop=True))


def forget_hashes() -> None:
    """Each CLI command is a new process: it hashes the photos again."""
    from explain.storage import hashing

    hashing._HASHES.clear()


def embeddings(ds, models, cache: Path) -> tuple[dict, np.ndarray]:
    from explain.retrieval.embeddings import embed_dataset

    forget_hashes()
    n, ticks, total, hit, used = len(ds.table), [], 0.0, 0.0, 0.0
    feats = None
    for m in models:
        t = Ticks(f"embeddings {m.label}")
        t0, c0 = time.perf_counter(), cpu()
        emb = embed_dataset(m, ds, cache_dir=cache, threads=1, progress=t)
        total += time.perf_counter() - t0
        used += cpu() - c0
        t0 = time.perf_counter()
        again = embed_dataset(m, ds, cache_dir=cache, threads=1)
        hit += time.perf_counter() - t0
        if not again.cached:
            raise RuntimeError("the second embed_dataset call missed the cache")
        ticks.append(t)
        feats = emb.features
    items = n * len(models)
    per = [x for t in ticks for x in t.per_item()]
    return {
        "items": items, "seconds": total, "per_item": total / items, **spread(per),
        "cpu_per_item": used / items,
        "cache_hit_seconds_per_checkpoint": hit / len(models),
        "bytes_per_item": disk_bytes(cache) / items, "dim": int(feats.shape[1]),
    }, feats  # fmt: skip


def faiss_search(feats: np.ndarray) -> dict:
    from explain.retrieval.index import build_index, search, set_threads

    set_threads(1)
    sizes = [s for s in FAISS_SIZES if s < len(feats)] + [len(feats)]
    rows = []
    for s in sizes:
        x = feats[:s]
        t0 = time.perf_counter()
        index = build_index(x)
        t1, c1 = time.perf_counter(), time.process_time()
        search(index, x, 20)
        t2, c2 = time.perf_counter(), time.process_time()
        rows.append({"photos": s, "build_seconds": t1 - t0, "search_seconds": t2 - t1,
                     "search_cpu_seconds": c2 - c1})  # fmt: skip
        sys.stderr.write(f"  faiss {s} x {s}: search {t2 - t1:.3f} s\n")
    exponent = math.nan
    if len(rows) >= 2 and rows[-2]["search_cpu_seconds"] > 0:
        a, b = rows[-2], rows[-1]
        exponent = math.log(b["search_cpu_seconds"] / a["search_cpu_seconds"]) / math.log(
            b["photos"] / a["photos"]
        )
    return {"sizes": rows, "exponent": exponent}


def detections(ds, cache_root: Path) -> dict:
    from curation.perception.catalog import select
    from curation.perception.runner import detect_dataset
    from explain.storage.cache import DiskCache

    forget_hashes()
    n_det = len(select("all"))
    t = Ticks("detections (all detectors)")
    t0, c0 = time.perf_counter(), cpu()
    _found, computed = detect_dataset(ds, "all", cache=DiskCache(cache_root, "perception"),
                                     progress=t)  # fmt: skip
    total, used = time.perf_counter() - t0, cpu() - c0
    n = len(ds.table)
    return {
        "items": n, "detectors": n_det, "seconds": total, "per_item": total / n,
        "cpu_per_item": used / n,
        **spread(t.per_item()), "bytes_per_item": disk_bytes(cache_root) / n,
        "results_computed": computed,
    }  # fmt: skip


def heatmaps(ds, series: str, method: str, n: int, seed: int, cache: Path) -> dict:
    from explain.heatmaps.batch import precompute

    forget_hashes()
    sub = pick(ds, n, seed)
    t = Ticks(f"{method} ({len(sub.table)} photos)")
    t0, c0 = time.perf_counter(), cpu()
    res = precompute(sub, series, [method], cache_dir=cache, threads=1, progress=t)
    total, used = time.perf_counter() - t0, cpu() - c0
    return {
        "photos": len(sub.table), "items": res.computed, "seconds": total,
        "per_item": total / max(res.computed, 1), **spread(t.per_item(skip_first=True)),
        "cpu_per_item": used / max(res.computed, 1),
        "startup_seconds": res.meta.get("startup_seconds", math.nan),
        "bytes_per_item": disk_bytes(cache) / max(res.computed, 1),
    }  # fmt: skip


def planning(ds, series: str, cache: Path) -> dict:
    """The precompute plan of every photo (2 methods x checkpoints keys), hashes not yet known."""
    from explain.heatmaps.batch import checkpoints_of, plan
    from explain.heatmaps.cache import HeatmapCache

    checkpoints = checkpoints_of(series)
    paths = [str(ds.path(i)) for i in ds.table["image"]]
    forget_hashes()
    t0 = time.perf_counter()
    plan(paths, checkpoints, ["gradcam", "occlusion"], {}, HeatmapCache(cache))
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    plan(paths, checkpoints, ["gradcam", "occlusion"], {}, HeatmapCache(cache))
    warm = time.perf_counter() - t0
    keys = len(paths) * len(checkpoints) * 2
    return {"photos": len(paths), "keys": keys, "cold_seconds": cold, "warm_seconds": warm,
            "per_photo_cold": cold / len(paths), "per_key_warm": warm / keys}  # fmt: skip


def warm_up(ds, models) -> tuple[float, int]:
    """Build each checkpoint's forward engine once (ONNX Runtime export when installed), as
    every process does before its first embedding; seconds per checkpoint, embedding size."""
    from explain.retrieval.embeddings import extract

    one = [ds.path(ds.table["image"].iloc[0])]
    t0 = time.perf_counter()
    for m in models:
        f = extract(m.model, one, height=m.input_size[0], width=m.input_size[1], threads=1)
    return (time.perf_counter() - t0) / len(models), int(f.shape[1])


def faiss_random(n: int, dim: int, seed: int) -> dict:
    """One build and search (k=20) of ``n`` random unit vectors against themselves (CPU time:
    ``process_time``, finer than :func:`cpu`; faiss starts no child process)."""
    from explain.retrieval.index import build_index, search, set_threads

    set_threads(1)
    x = np.random.default_rng(seed).standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    t0 = time.perf_counter()
    index = build_index(x)
    t1, c1 = time.perf_counter(), time.process_time()
    search(index, x, 20)
    t2, c2 = time.perf_counter(), time.process_time()
    return {"photos": n, "dim": dim, "build_seconds": t1 - t0, "search_seconds": t2 - t1,
            "search_cpu_seconds": c2 - c1}  # fmt: skip


def measure(ds, models, args, work: Path, occlusion: int) -> dict:
    n = len(ds.table)
    sys.stderr.write(f"[{n} photos]\n")
    out: dict = {"photos": n}
    out["embeddings"], feats = embeddings(ds, models, work / "embeddings")
    out["faiss"] = faiss_search(feats)
    out["detections"] = detections(ds, work / "perception")
    for method, count in (("gradcam", args.gradcam), ("occlusion", occlusion)):
        if count > 0:
            out[method] = heatmaps(ds, args.series, method, count, args.seed, work / method)
    out["planning"] = planning(ds, args.series, work / "gradcam")
    return out


def report(m: dict) -> None:
    print(f"\n{m['photos']} photos")
    print(f"  {'work':<12}{'items':>7}{'cpu s/item':>12}{'wall s/item':>12}{'median':>10}"
          f"{'p10-p90':>20}{'bytes/item':>12}")  # fmt: skip
    for kind in ("embeddings", "detections", "gradcam", "occlusion"):
        r = m.get(kind)
        if r is None:
            continue
        print(f"  {kind:<12}{r['items']:>7}{r['cpu_per_item']:>12.4f}{r['per_item']:>12.4f}"
              f"{r['median']:>10.4f}{r['p10']:>10.4f}-{r['p90']:<9.4f}"
              f"{r['bytes_per_item']:>12.0f}")  # fmt: skip
    e, p = m["embeddings"], m["planning"]
    print(f"  embedding cache hit: {e['cache_hit_seconds_per_checkpoint']:.3f} s per checkpoint")
    for kind in ("gradcam", "occlusion"):
        if kind in m:
            print(f"  {kind}: start-up {m[kind]['startup_seconds']:.1f} s "
                  f"({m[kind]['photos']} photos x checkpoints)")  # fmt: skip
    print(
        f"  precompute plan of {p['photos']} photos ({p['keys']} keys): "
        f"{p['cold_seconds']:.2f} s hashing + look-ups, {p['warm_seconds']:.3f} s look-ups"
    )
    for r in m["faiss"]["sizes"]:
        print(
            f"  faiss {r['photos']:>6} x {r['photos']:<6} build {r['build_seconds']:.4f} s, "
            f"search k=20 {r['search_seconds']:.3f} s (cpu {r['search_cpu_seconds']:.3f} s)"
        )
    print(f"  faiss search time ~ photos^{m['faiss']['exponent']:.2f} (two largest sizes)")


def plan_for(m: dict, n_ckpt: int, target: int, efficiency: float) -> list[dict]:
    """Core-hours (from CPU seconds per item) and wall time for ``target`` photos x ``n_ckpt``
    checkpoints; the faiss search extrapolated with the measured exponent."""
    f = m["faiss"]["sizes"][-1]
    exp = m["faiss"]["exponent"] if math.isfinite(m["faiss"]["exponent"]) else 2.0
    search = f["search_cpu_seconds"] * (target / f["photos"]) ** exp
    per = {k: m[k]["cpu_per_item"] for k in ("embeddings", "detections", "gradcam", "occlusion")
           if k in m}  # fmt: skip
    rows = [
        ("embeddings", target * n_ckpt, per["embeddings"], m["embeddings"]["bytes_per_item"]),
        ("detections", target, per["detections"], m["detections"]["bytes_per_item"]),
        *((k, target * n_ckpt, per[k], m[k]["bytes_per_item"])
          for k in ("gradcam", "occlusion") if k in m),
        ("faiss search", n_ckpt, search, 0.0),
    ]  # fmt: skip
    out = []
    for kind, items, per, size in rows:
        core_h = items * per / 3600
        out.append({
            "work": kind, "items": items, "seconds_per_item": per, "core_hours": core_h,
            "wall_hours": {c: core_h / (c * (1.0 if c == 1 else efficiency))
                           for c in (1, 2, 32, 64)},
            "disk_gb": items * size / 1e9,
        })  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="Dataset folder (e.g. workbench generate's).")
    ap.add_argument("--series", default=str(ROOT / "sample_data" / "series" / "baseline"))
    ap.add_argument("--photos", type=int, default=5000, help="Photos of the full run.")
    ap.add_argument("--subset", type=int, default=500, help="Photos of the smaller run (0: none).")
    ap.add_argument("--gradcam", type=int, default=250, help="Photos for Grad-CAM per size.")
    ap.add_argument("--occlusion", type=int, default=60, help="Photos for occlusion per size.")
    ap.add_argument(
        "--subset-occlusion", type=int, default=20, help="Photos for occlusion in the smaller run."
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target", type=int, default=55000, help="Photos of the plan.")
    ap.add_argument(
        "--efficiency",
        type=float,
        default=0.875,
        help="Per-core efficiency on Ray (README: 2 actors on 2 cores).",
    )
    ap.add_argument("--cache", default=None, help="Cache folder to fill (default: a temporary one, "
                    "deleted at the end); must be absent or empty.")  # fmt: skip
    ap.add_argument(
        "--faiss-target",
        action="store_true",
        help="Also time one search of --target random unit vectors (the check of "
        "the extrapolated faiss time).",
    )
    ap.add_argument("--json", type=Path, default=None, help="Also write the numbers here.")
    args = ap.parse_args()
    if args.photos < 1 or args.subset < 0 or args.gradcam < 0 or args.occlusion < 0:
        ap.error("--photos must be at least 1; --subset, --gradcam, --occlusion 0 or more")

    from curation.dataset import load_dataset
    from explain.models.device import set_threads
    from explain.models.series import load_series

    set_threads(1)
    ds = load_dataset(args.data, check="none")
    models = load_series(args.series, device="cpu")
    full = pick(ds, args.photos, args.seed)
    sizes = [pick(full, args.subset, args.seed)] if 0 < args.subset < len(full.table) else []
    sizes.append(full)
    if args.cache is not None:
        work = Path(args.cache)
        if work.exists() and any(work.iterdir()):
            ap.error(f"--cache {work} is not empty; give a new folder (the run needs a fresh one)")
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    results, (engine_start, dim) = [], warm_up(ds, models)
    try:
        for i, sub in enumerate(sizes):
            occ = args.occlusion if sub is full else args.subset_occlusion
            results.append(measure(sub, models, args, work / f"run{i}-{len(sub.table)}", occ))
    finally:
        if args.cache is None:
            shutil.rmtree(work, ignore_errors=True)
    print(
        f"{args.data}: {len(ds.table)} photos; {len(models)} checkpoints "
        f"({', '.join(m.label for m in models)}); 1 torch thread; {os.cpu_count()} CPU cores"
    )
    print(f"forward engine start-up (once per process and checkpoint): {engine_start:.2f} s")
    for m in results:
        report(m)
    plan = plan_for(results[-1], len(models), args.target, args.efficiency)
    print(
        f"\nPlan for {args.target} photos x {len(models)} checkpoints "
        f"(from the {results[-1]['photos']}-photo run; wall at {args.efficiency} per core):"
    )
    print(f"  {'work':<13}{'items':>9}{'cpu s':>9}{'core-h':>9}{'2 cores h':>11}"
          f"{'32 cores h':>12}{'64 cores h':>12}{'disk GB':>9}")  # fmt: skip
    for r in plan:
        w = r["wall_hours"]
        print(f"  {r['work']:<13}{r['items']:>9}{r['seconds_per_item']:>9.3f}"
              f"{r['core_hours']:>9.2f}{w[2]:>11.2f}{w[32]:>12.3f}{w[64]:>12.3f}"
              f"{r['disk_gb']:>9.2f}")  # fmt: skip
    direct = None
    if args.faiss_target:
        direct = faiss_random(args.target, dim, args.seed)
        print(f"\nfaiss, {args.target} random unit vectors (dim {dim}) against themselves, "
              f"k=20, 1 thread: build {direct['build_seconds']:.3f} s, "
              f"search {direct['search_seconds']:.1f} s, cpu {direct['search_cpu_seconds']:.1f} s "
              "(measured, not extrapolated)")  # fmt: skip
    if args.json is not None:
        numbers = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "engine_start_seconds": engine_start,
            "runs": results,
            "plan": plan,
            "faiss_target": direct,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    main()
