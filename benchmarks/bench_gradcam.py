"""Grad-CAM (and the other CAMs) for the 4 checkpoints of a series on one query, CPU, one thread.

    .venv/bin/python benchmarks/bench_gradcam.py [--series sample_data/series/baseline]
        [--image PHOTO] [--repeats 5] [--methods gradcam,gradcam++,hirescam,eigencam,...]

Times :func:`explain.heatmaps.series.series_maps` (4 maps: one per checkpoint) and
:func:`explain.heatmaps.series.series_pair_maps` (8 maps: query and match, both directions), the
first call (cold: first backward pass of each model) and the median of ``--repeats`` further calls,
and the peak RSS of the process during the calls. Target: < 0.5 s for Grad-CAM over 4 epochs.
Without ``--series`` (and no sample series), 4 randomly initialised OSNet x0.25 models are used.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real_pets"


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load(series_dir: str | None):
    import torch

    from explain.models.adapter import build_model

    folder = Path(series_dir) if series_dir else ROOT / "sample_data" / "series" / "baseline"
    if folder.is_dir() and any(folder.glob("model.pth.tar-*")):
        from explain.models.series import load_series

        return str(folder), load_series(folder, device="cpu")
    models = []
    for seed in range(4):
        torch.manual_seed(seed)
        models.append(build_model("osnet_x0_25", 100).eval())
    return "4 random osnet_x0_25 models", models


def images(arg: str | None):
    from PIL import Image

    from curation.images import load_rgb
    from explain.models.preprocess import to_input

    if arg:
        q = load_rgb(arg)
        return arg, to_input(q), to_input(q.transpose(Image.FLIP_LEFT_RIGHT))
    for base in (REAL, ROOT / "sample_data" / "pets"):
        qs = sorted((base / "query").glob("*.jpg")) if (base / "query").is_dir() else []
        gs = sorted((base / "gallery").glob("*.jpg")) if (base / "gallery").is_dir() else []
        if qs and gs:
            return str(qs[0]), to_input(load_rgb(qs[0])), to_input(load_rgb(gs[0]))
    import torch

    g = torch.Generator().manual_seed(0)
    return (
        "random tensors",
        torch.randn(1, 3, 256, 128, generator=g),
        torch.randn(1, 3, 256, 128, generator=g),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", default=None)
    parser.add_argument("--image", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--methods", default="gradcam,gradcam++,hirescam,eigencam,randomcam,activation"
    )
    parser.add_argument("--layer", default=None)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from explain.heatmaps.series import series_maps, series_pair_maps

    source, series = load(args.series)
    name, xq, xg = images(args.image)
    print(f"series: {source} ({len(series)} checkpoints); image: {name}; 256x128; 1 thread")
    before = rss_mb()
    params = {"layer": args.layer} if args.layer else {}
    n = len(series)
    print(f"{'method':<12}{f'{n} maps cold':>12}{f'{n} maps warm':>12}{f'pair x{n} warm':>14}"
          f"{'per map':>9}{'< 0.5 s':>8}")  # fmt: skip
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        t0 = time.perf_counter()
        series_maps(series, xq, method, **params)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            series_maps(series, xq, method, **params)
            warm.append(time.perf_counter() - t0)
        pair = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            series_pair_maps(series, xq, xg, method, **params)
            pair.append(time.perf_counter() - t0)
        w, p = statistics.median(warm), statistics.median(pair)
        ok = ("ok" if w < 0.5 else "MISSED") if n == 4 else "n/a"
        print(f"{method:<12}{cold:>11.3f}s{w:>11.3f}s{p:>13.3f}s{w / len(series):>8.3f}s"
              f"{ok:>8}")  # fmt: skip
    print(f"\nRSS before the calls {before:.0f} MB; peak RSS of the process {peak_rss_mb():.0f} MB")
    print(f"torch threads at the end: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
