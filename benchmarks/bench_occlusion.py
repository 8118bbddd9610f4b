"""Our occlusion vs captum's ``Occlusion`` on OSNet x0.25 at 256x128, window 16, stride 8.

    .venv/bin/python benchmarks/bench_occlusion.py [--baselines black,mean,blur] [--repeats 3]
        [--image PHOTO] [--checkpoint model.pth.tar-60] [--ppe 8,16,32,64,128]

One thread. For each baseline, in the same run: captum with ``perturbations_per_eval=1`` (its
default), captum at its best ``perturbations_per_eval`` (each value of ``--ppe`` timed once, the
best one again ``--repeats`` times), and ours, cold (a fresh copy of the model: the inference
engine is built inside the timed call) and warm (engine cached, as in the app). Prints medians,
ratios, the max abs difference to captum's map (and relative to its largest value) and the
process's peak RSS during our call. The image: ``--image``, else the first real query photo in
/work/shared/real_pets, else the first query of sample_data/pets, else a generated segmented
blob. The weights: ``--checkpoint``, else sample_data/series/baseline's last checkpoint when
present, else random (seed 0).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import copy  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real_pets" / "query"


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False when unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pick_image(arg: str | None):
    from PIL import Image

    from curation.images import load_rgb

    if arg:
        return Path(arg), load_rgb(arg)
    for folder in (REAL, ROOT / "sample_data" / "pets" / "query"):
        files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
        if files:
            return files[0], load_rgb(files[0])
    yy, xx = np.mgrid[0:256, 0:128]
    blob = ((yy - 140) / 90.0) ** 2 + ((xx - 64) / 45.0) ** 2 < 1
    rng = np.random.default_rng(0)
    img = np.zeros((256, 128, 3), np.uint8)
    img[blob] = rng.integers(60, 200, (int(blob.sum()), 3))
    return Path("generated-blob"), Image.fromarray(img)


def pick_model(arg: str | None):
    import torch

    from explain.models.adapter import build_model

    path = Path(arg) if arg else None
    if path is None:
        series = ROOT / "sample_data" / "series" / "baseline"
        found = sorted(series.glob("model.pth.tar-*"), key=lambda p: int(p.name.split("-")[-1]))
        path = found[-1] if found else None
    if path is not None:
        from explain.models.checkpoints import load_model

        return str(path), load_model(path, device="cpu").model
    torch.manual_seed(0)
    return "random weights (seed 0)", build_model("osnet_x0_25", 100).eval()


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def dense_floor(model, x, windows: int) -> tuple[float, float, float]:
    """(GFLOP of one forward, measured fp32 GEMM GFLOP/s of one core, seconds for ``windows``
    dense forwards at that rate): what recomputing every window in full costs at best."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    gflop = counter.get_total_flops() / 1e9
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    t = timed(lambda: [a @ b for _ in range(10)], 3)[0]
    rate = 10 * 2 * 1024**3 / t / 1e9
    return gflop, rate, windows * gflop / rate


def tail_flops(model, x) -> float | None:
    """GFLOP of what the incremental path runs in full (from the first block's gate on)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from explain.heatmaps.methods import _incremental

    try:
        _incremental._check_structure(model)
    except _incremental.Unsupported:
        return None
    split = _incremental.IncrementalOSNet(model, None, 0, (1, 0, 1))
    with torch.no_grad():
        parts = split._local(split._stem(x))
        with FlopCounterMode(display=False) as counter:
            _incremental._Tail(model)(*parts)
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines", default="black,mean,blur")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ppe", default="8,16,32,64,128")
    parser.add_argument("--image", default=None)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--stride", type=int, default=8)
    args = parser.parse_args()

    import torch
    from captum.attr import Occlusion

    torch.set_num_threads(1)
    from explain.heatmaps.catalog import compute
    from explain.heatmaps.methods.occlusion import baseline_image
    from explain.heatmaps.targets import SelfSimilarity
    from explain.models.preprocess import to_input

    weights, model = pick_model(args.checkpoint)
    source, img = pick_image(args.image)
    x = to_input(img, 256, 128)
    with torch.no_grad():
        target = SelfSimilarity().bind(model(x)[0])
    w, s = args.window, args.stride
    print(f"model: osnet_x0_25, {weights}; image: {source}; 256x128, window {w}, stride {s}")
    print(f"torch threads: {torch.get_num_threads()}, repeats: {args.repeats}\n")

    def captum(base, ppe):
        with torch.no_grad():
            attr = Occlusion(lambda b: target(model(b))).attribute(
                x, sliding_window_shapes=(3, w, w), strides=(3, s, s), baselines=base,
                perturbations_per_eval=ppe,
            )  # fmt: skip
        return attr[0, 0].numpy()

    def ours(m, baseline, incremental=False):
        return compute("occlusion", m, x, SelfSimilarity(), window=w, stride=s, baseline=baseline,
                       incremental=incremental)  # fmt: skip

    n_windows = len(__import__("explain.heatmaps.methods.occlusion", fromlist=["windows"]).windows(
        tuple(x.shape[-2:]), w, s))  # fmt: skip
    gflop, rate, floor = dense_floor(model, x, n_windows)
    print(f"dense floor: {n_windows} windows x {gflop:.3f} GFLOP / {rate:.0f} GFLOP/s (fp32 GEMM, "
          f"one core) = {floor:.2f} s")  # fmt: skip
    tail_gflop = tail_flops(model, x)
    if tail_gflop is not None:
        print(f"incremental floor: the part after the first channel gate is {tail_gflop:.3f} GFLOP "
              f"({tail_gflop / gflop:.0%} of a forward): {n_windows * tail_gflop / rate:.2f} s "
              f"at the GEMM rate\n")  # fmt: skip
    summary = []
    for baseline in [b.strip() for b in args.baselines.split(",") if b.strip()]:
        base = baseline_image(x, baseline, window=w)
        t_ppe1, ref1 = timed(lambda base=base: captum(base, 1), args.repeats)
        trial = {}
        for ppe in (int(p) for p in args.ppe.split(",")):
            trial[ppe] = timed(lambda base=base, ppe=ppe: captum(base, ppe), 1)[0]
        best = min(trial, key=trial.get)
        t_best, ref = timed(lambda base=base, best=best: captum(base, best), args.repeats)
        fresh = copy.deepcopy(model)  # a model the engine cache has never seen
        reset_peak()
        t0 = time.perf_counter()
        cold = ours(fresh, baseline)
        t_cold = time.perf_counter() - t0
        peak = peak_rss_mb()
        t_warm, hm = timed(lambda m=fresh, b=baseline: ours(m, b), args.repeats)
        ours(fresh, baseline, incremental=True)  # builds the split model
        t_inc, hm_inc = timed(lambda m=fresh, b=baseline: ours(m, b, True), args.repeats)
        d_inc = float(np.abs(hm_inc.raw - ref1).max())
        d1 = float(np.abs(hm.raw - ref1).max())
        db = float(np.abs(hm.raw - ref).max())
        dc = float(np.abs(cold.raw - ref).max())
        scale = float(np.abs(ref).max())
        info = hm.info
        print(
            f"baseline {baseline}: windows evaluated {info['evaluated']}/{info['windows']} "
            f"({info['skipped']} unchanged, skipped), {info['forwards']} forwards, "
            f"engine {info['engine']}"
        )
        print(f"  captum ppe=1              {t_ppe1:7.2f} s")
        print(
            f"  captum best (ppe={best:<3})    {t_best:7.2f} s   trials: "
            + ", ".join(f"{p}={t:.2f}s" for p, t in trial.items())
        )
        print(
            f"  ours, cold (engine built) {t_cold:7.2f} s   {t_ppe1 / t_cold:5.1f}x vs ppe=1, "
            f"{t_best / t_cold:4.1f}x vs best"
        )
        print(
            f"  ours, warm                {t_warm:7.2f} s   {t_ppe1 / t_warm:5.1f}x vs ppe=1, "
            f"{t_best / t_warm:4.1f}x vs best"
        )
        inc_note = "" if hm_inc.info.get("incremental") else (
            f" (fell back to dense: {hm_inc.info.get('incremental_note')})")  # fmt: skip
        print(
            f"  ours, incremental, warm   {t_inc:7.2f} s   {t_ppe1 / t_inc:5.1f}x vs ppe=1, "
            f"{t_best / t_inc:4.1f}x vs best, {t_warm / t_inc:4.2f}x vs ours dense{inc_note}"
        )
        print(
            f"  max |ours - captum|: {d1:.2e} (ppe=1), {db:.2e} (best), {dc:.2e} (cold call), "
            f"{d_inc:.2e} (incremental); max |captum map| {scale:.2e}"
        )
        print(f"  peak RSS of the process during our cold call: {peak:.0f} MB\n")
        summary.append((baseline, t_ppe1 / t_warm, t_best / t_warm, t_ppe1 / t_cold,
                        t_best / t_cold, max(d1, db, dc)))  # fmt: skip
    print(f"{'baseline':<10}{'warm x ppe=1':>13}{'warm x best':>12}{'cold x ppe=1':>13}"
          f"{'cold x best':>12}{'max|diff|':>11}")  # fmt: skip
    for b, a, bb, c, cb, d in summary:
        print(f"{b:<10}{a:>12.1f}x{bb:>11.1f}x{c:>12.1f}x{cb:>11.1f}x{d:>11.1e}")
    print(f"dense floor {floor:.2f} s (every window recomputed in full at the GEMM rate)")
    print(f"torch threads at the end: {torch.get_num_threads()}")


if __name__ == "__main__":
    main()
