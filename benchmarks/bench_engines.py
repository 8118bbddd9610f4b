"""The inference engines side by side: eager torch, TorchScript (``jit``), ONNX Runtime (``onnx``).

    .venv/bin/python benchmarks/bench_engines.py [--archs osnet_x0_25,resnet50] [--batch 32]
        [--repeats 5] [--data sample_data/pets] [--checkpoint model.pth.tar-60]

One thread. For each architecture, in the same run: the median time of a forward of one batch
(256x128 inputs) through each engine, warm (engine built before timing), the ratios, the build
time of each engine and the max abs difference to eager. Then the features of the dataset's query
and gallery photos (``--data``, default the bundled sample) with the sample's last checkpoint (or
random weights), decoding included, eager vs ``auto`` — what the app's first visit waits for, per
checkpoint.
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
    rows = {}
    for kind in ("eager", "jit", "onnx"):
        engine = InferenceEngine(model, kind)
        t0 = time.perf_counter()
        got = engine(x)
        build = time.perf_counter() - t0
        rows[kind] = (timed(lambda e=engine: e(x), repeats), build,
                      float((got - want).abs().max()))  # fmt: skip
    print(f"\n{arch}, batch {batch} at 256x128, one thread, median of {repeats}:")
    print(f"{'engine':8} {'forward':>10} {'per image':>10} {'first call':>11} {'max |diff|':>11}")
    for kind, (t, build, diff) in rows.items():
        print(f"{kind:8} {t * 1000:8.0f} ms {t / batch * 1000:7.2f} ms {build:9.2f} s {diff:11.1e}")
    e, j, o = (rows[k][0] for k in ("eager", "jit", "onnx"))
    print(f"onnx vs jit {j / o:.2f}x, onnx vs eager {e / o:.2f}x, jit vs eager {e / j:.2f}x")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", default="osnet_x0_25,resnet50")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data", type=Path, default=ROOT / "sample_data" / "pets")
    parser.add_argument("--checkpoint", type=Path)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    for arch in args.archs.split(","):
        forwards(arch.strip(), args.batch, args.repeats)
    dataset_features(args.data, args.checkpoint, max(1, args.repeats // 2))


if __name__ == "__main__":
    main()
