"""What the checks on an untrusted checkpoint cost next to ``torch.load`` itself.

    .venv/bin/python benchmarks/bench_checkpoint_checks.py [--repeats 5] [--arch resnet50]

Saves one checkpoint of ``--arch`` (random weights) in a temporary folder and times, side by
side in this run (medians of ``--repeats``, one torch thread): ``torch.load(weights_only=True)``
alone; the look before it (:func:`explain.models.checkpoint_files.precheck`: file kind, format, the
pickle's declared storage sizes); the checks after it (numbers, and every weight finite); and
:func:`explain.models.checkpoints.read_checkpoint` with all of them. Prints the ratio to the bare
load.
"""

from __future__ import annotations

import os

os.environ.setdefault("WORKBENCH_THREADS", "1")

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--arch", default="resnet50")
    args = parser.parse_args()

    import torch

    from explain.models.adapter import build_model
    from explain.models.checkpoint_files import precheck
    from explain.models.checkpoint_values import check_numbers, check_weights
    from explain.models.checkpoints import _torch_load, read_checkpoint

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pth.tar-60"
        state = build_model(args.arch, 751).state_dict()
        torch.save({"state_dict": state, "epoch": 60, "rank1": 0.5, "height": 256,
                    "width": 128, "arch": args.arch}, path)  # fmt: skip
        size = path.stat().st_size
        obj = _torch_load(path)
        rows = {
            "torch.load (weights_only)": lambda: _torch_load(path),
            "precheck (before the load)": lambda: precheck(path),
            "numbers + finite weights (after)": lambda: (
                check_numbers(path, obj),
                check_weights(path, obj["state_dict"], size),
            ),
            "read_checkpoint (all of it)": lambda: read_checkpoint(path),
        }
        for fn in rows.values():  # warm the page cache and the imports
            fn()
        base = None
        print(f"{args.arch}: {size / 1e6:.1f} MB, {len(state)} tensors, median of {args.repeats}")
        for name, fn in rows.items():
            s = median_seconds(fn, args.repeats)
            base = base or s
            print(f"  {name:<34} {s * 1000:8.1f} ms   {s / base:5.2f}x torch.load")


if __name__ == "__main__":
    main()
