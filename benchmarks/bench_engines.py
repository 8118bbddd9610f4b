"""The inference engines side by side: eager, TorchScript, ONNX Runtime, OpenVINO, bf16.

    .venv/bin/python benchmarks/bench_engines.py [--archs osnet_x0_25,resnet50] [--batch 32]
        [--repeats 5] [--data sample_data/pets] [--checkpoint model.pth.tar-60]
        [--photos /work/shared/real_pets/query] [--n-photos 12]

One thread. For each architecture, in the same run: the median time of a forward of one batch
(256x128 inputs) through each engine (``eager``, ``jit``, ``onnx``, ``openvino`` in f32, and the
approximate ``bf16`` when the CPU has bf16 units), warm (engine built before timing), the ratios,
the build time of each engine and the max abs difference to eager. Then, with the sample's last
checkpoint: the features of the dataset's query and gallery photos (``--data``), decoding
included, eager vs ``auto``; bf16 against f32 (``onnx``) occlusion maps of real photos
(``--photos``; median Spearman of the maps and the time ratio, side by side); and the engine
build time of a first and a second process sharing one export cache (a fresh temporary folder).
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


def timed(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def forwards(arch: str, batch: int, repeats: int) -> None:
    import torch

    from explain.models.adapter import build_model
    from explain.models.engine import InferenceEngine

    torch.manual_seed(0)
    model = build_model(arch, 10).eval()
    x = torch.randn(batch, 3, 256, 128)
    with torch.inference_mode():
        want = model(x)
    engines, builds, diffs = {}, {}, {}
    for kind in kinds():
        engines[kind] = InferenceEngine(model, kind)
        t0 = time.perf_counter()
        got = engines[kind](x)
        builds[kind] = time.perf_counter() - t0
        diffs[kind] = float((got - want).abs().max())
        engines[kind](x)  # warm
    times: dict[str, list[float]] = {k: [] for k in engines}
    for _ in range(repeats):  # interleaved, so that a busy spell slows every engine alike
        for kind, engine in engines.items():
            times[kind].append(timed(lambda e=engine: e(x), 1))
    rows = {k: (statistics.median(times[k]), builds[k], diffs[k]) for k in engines}
    print(f"\n{arch}, batch {batch} at 256x128, one thread, median of {repeats} interleaved "
          "(first call: build included; openvino and bf16 reuse onnx's export):")  # fmt: skip
    print(f"{'engine':8} {'forward':>10} {'per image':>10} {'first call':>11} {'max |diff|':>11}")
    for kind, (t, build, diff) in rows.items():
        print(f"{kind:8} {t * 1000:8.0f} ms {t / batch * 1000:7.2f} ms {build:9.2f} s {diff:11.1e}")
    e, j, o = (rows[k][0] for k in ("eager", "jit", "onnx"))
    print(f"onnx vs jit {j / o:.2f}x, onnx vs eager {e / o:.2f}x, jit vs eager {e / j:.2f}x")
    for kind in ("openvino", "bf16"):
        if kind in rows:
            print(
                f"{kind} vs onnx {o / rows[kind][0]:.2f}x", end="; " if kind == "openvino" else ""
            )
    print()


def kinds() -> list[str]:
    """The engines this machine has (bf16 only with bf16 units, OpenVINO only when installed)."""
    from explain.models import engine_openvino

    out = ["eager", "jit", "onnx"]
    if engine_openvino.openvino_available():
        out.append("openvino")
        if engine_openvino.bf16_supported():
            out.append("bf16")
    return out


def dataset_features(data: Path, checkpoint: Path | None, repeats: int) -> None:
    import numpy as np

    from curation.dataset import load_dataset
    from explain.models.checkpoints import load_model
    from explain.models.engine import engine_for
    from explain.retrieval.embeddings import extract

    ds = load_dataset(data)
    table = ds.table[ds.table["split"].isin(["query", "gallery"])]
    paths = [ds.path(p) for p in table["image"]]
    if checkpoint is None:
        found = sorted((ROOT / "sample_data" / "series" / "baseline").glob("model.pth.tar-*"))
        checkpoint = found[-1] if found else None
    if checkpoint is None:
        print("\nno checkpoint: skipping the dataset features (give --checkpoint)")
        return
    loaded = load_model(checkpoint)
    h, w = loaded.input_size
    feats, times = {}, {}
    for kind in ("eager", "auto"):
        extract(loaded.model, paths[:2], height=h, width=w, engine=kind)  # build the engine
        times[kind] = timed(lambda k=kind: feats.__setitem__(
            k, extract(loaded.model, paths, height=h, width=w, engine=k)), repeats)  # fmt: skip
    kind = engine_for(loaded.model, "auto").kind
    diff = float(np.abs(feats["auto"] - feats["eager"]).max())
    print(f"\n{len(paths)} query+gallery photos of {data} with {checkpoint.name} "
          f"({loaded.arch}, {h}x{w}), decoding included, median of {repeats}:")  # fmt: skip
    print(f"eager {times['eager']:.2f} s, auto ({kind}) {times['auto']:.2f} s: "
          f"{times['eager'] / times['auto']:.2f}x; max |diff| {diff:.1e}")  # fmt: skip


def bf16_occlusion(checkpoint: Path | None, photos: Path, n: int) -> None:
    """bf16 vs f32 (``onnx``) occlusion maps of ``n`` real photos: median Spearman, time ratio."""
    if "bf16" not in kinds():
        print("\nno bf16 engine on this machine: skipping the bf16 occlusion maps")
        return
    files = sorted(photos.glob("*.jpg"))[:n] if photos.is_dir() else []
    if checkpoint is None or len(files) < 2:
        print(f"\nno checkpoint or fewer than 2 photos in {photos}: skipping the bf16 maps")
        return
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from curation.images import load_rgb
    from explain.heatmaps.catalog import compute
    from explain.heatmaps.targets import SelfSimilarity
    from explain.models import preprocess
    from explain.models.checkpoints import load_model

    loaded = load_model(checkpoint)
    h, w = loaded.input_size
    tf = preprocess.test_transform(h, w)
    xs = [tf(load_rgb(f)).unsqueeze(0) for f in files]
    maps: dict[str, list[np.ndarray]] = {"onnx": [], "bf16": []}
    seconds = dict.fromkeys(maps, 0.0)
    compute("occlusion", loaded.model, xs[0], SelfSimilarity(), engine="onnx")  # build both
    hm = compute("occlusion", loaded.model, xs[0], SelfSimilarity(), engine="bf16")
    for x in xs:
        for kind in maps:  # side by side, image by image
            t0 = time.perf_counter()
            hm_k = compute("occlusion", loaded.model, x, SelfSimilarity(), engine=kind)
            seconds[kind] += time.perf_counter() - t0
            maps[kind].append(np.asarray(hm_k.raw, dtype=np.float64).ravel())
    rho = [spearmanr(a, b).statistic for a, b in zip(maps["onnx"], maps["bf16"], strict=True)]
    with torch.inference_mode():
        batch = torch.cat(xs)
    from explain.models.engine import engine_for

    diff = float((engine_for(loaded.model, "bf16")(batch)
                  - engine_for(loaded.model, "onnx")(batch)).abs().max())  # fmt: skip
    peak = float(engine_for(loaded.model, "onnx")(batch).abs().max())
    print(f"\nocclusion (window 16, stride 8) of {len(xs)} photos of {photos} with "
          f"{checkpoint.name}, bf16 ({hm.info['engine']}) vs f32 onnx, side by side:")  # fmt: skip
    print(f"Spearman of the maps: median {np.median(rho):.4f}, min {min(rho):.4f}; "
          f"time onnx {seconds['onnx']:.2f} s, bf16 {seconds['bf16']:.2f} s: "
          f"bf16 {seconds['onnx'] / seconds['bf16']:.2f}x; embeddings max |diff| {diff:.1e} "
          f"(largest |value| {peak:.2f})")  # fmt: skip


BUILD = """
import os, time, torch
torch.set_num_threads(1)
from explain.models.checkpoints import load_model
from explain.models.engine import InferenceEngine
loaded = load_model({checkpoint!r})
h, w = loaded.input_size
x = torch.zeros(1, 3, h, w)
for kind in {kinds!r}:
    engine = InferenceEngine(loaded.model, kind)
    t0 = time.perf_counter()
    engine(x)
    print(kind, time.perf_counter() - t0, engine.export_cached)
"""


def export_cache(checkpoint: Path | None) -> None:
    """Engine build time (export, load, check) in a first and a second process, one cache."""
    import subprocess
    import sys
    import tempfile

    if checkpoint is None:
        return
    names = [k for k in ("onnx", "openvino", "bf16") if k in kinds()]
    code = BUILD.format(checkpoint=str(checkpoint), kinds=names)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "WORKBENCH_CACHE": tmp, "PYTHONPATH": str(ROOT)}
        for _ in range(2):
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout  # fmt: skip
            runs.append({k: (float(t), c) for k, t, c in (ln.split() for ln in out.splitlines())})
    print(f"\nengine build of {checkpoint.name} (export or cached export, load, check), "
          "a first and a second process sharing one export cache:")  # fmt: skip
    for kind in names:
        (t1, c1), (t2, c2) = runs[0][kind], runs[1][kind]
        print(f"{kind:8} first {t1:.2f} s (cached {c1}), second {t2:.2f} s (cached {c2}): "
              f"{t1 / t2:.1f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="osnet_x0_25,resnet50")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=ROOT / "sample_data" / "pets")
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--photos", type=Path, default=Path("/work/shared/real_pets/query"))
    parser.add_argument("--n-photos", type=int, default=12)
    args = parser.parse_args()
    import tempfile

    import torch

    from explain.models.engine_export import set_export_cache

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        set_export_cache(tmp)  # cold: no earlier run's exports
        for arch in args.archs.split(","):
            forwards(arch.strip(), args.batch, args.repeats)
        checkpoint = args.checkpoint or last_checkpoint()
        dataset_features(args.data, checkpoint, max(1, args.repeats // 2))
        bf16_occlusion(checkpoint, args.photos, args.n_photos)
        export_cache(checkpoint)


def last_checkpoint() -> Path | None:
    found = sorted((ROOT / "sample_data" / "series" / "baseline").glob("model.pth.tar-*"),
                   key=lambda p: int(p.name.rsplit("-", 1)[-1]))  # fmt: skip
    return found[-1] if found else None


if __name__ == "__main__":
    main()
