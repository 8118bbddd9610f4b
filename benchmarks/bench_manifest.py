"""Manifest loading with the per-cell checks vs pandas' plain CSV read, on a large manifest.

    .venv/bin/python benchmarks/bench_manifest.py [--rows 500000] [--repeats 3]

Writes a sample-like manifest (17 columns, masks and ground truth) of ``--rows`` rows to a
temporary folder and times, side by side in one run (alternating, medians of ``--repeats``):
``pd.read_csv(dtype=str)`` alone (the read without any check) and ``load_manifest(check="none")``
(bounded read, every cell checked, every path normalised; no file opened). Prints both, the
ratio, and the time per million rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd


def write_manifest(path: Path, rows: int) -> None:
    posts = [str(10000 + i // 5) for i in range(rows)]
    photos = [i % 5 + 1 for i in range(rows)]
    splits = [
        "train" if i % 10 < 7 else ("query" if i % 10 == 7 else "gallery") for i in range(rows)
    ]
    images = [f"{s}/{p}_{n}.jpg" for s, p, n in zip(splits, posts, photos, strict=True)]
    table = pd.DataFrame({
        "image": images, "post_id": posts, "photo": photos, "split": splits, "camid": photos,
        "species": "dog", "look": "segmented",
        "animal_mask": [f"masks/{i[:-4]}_animal.png" for i in images],
        "artifacts": ["tongue" if i % 7 == 0 else "" for i in range(rows)],
        "mask_tongue": [f"masks/{m[:-4]}_tongue.png" if i % 7 == 0 else ""
                        for i, m in enumerate(images)],
        "mask_hands": "", "mask_grass": "", "mask_glare": "",
        "counterfactual": [f"counterfactual/{i}" for i in images],
        "homogeneous_artifact": "", "polluted": False, "decoy_of": "",
    })  # fmt: skip
    table.to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from curation.dataset import load_manifest

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "manifest.csv"
        write_manifest(path, args.rows)
        size = path.stat().st_size
        plain_t, ours_t = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            plain = pd.read_csv(path, dtype=str, keep_default_na=False)
            plain_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours = load_manifest(path, check="none")
            ours_t.append(time.perf_counter() - t0)
        assert len(plain) == len(ours.table) == args.rows
    plain_m, ours_m = statistics.median(plain_t), statistics.median(ours_t)
    print(f"{args.rows:,} rows, {size / 1e6:.0f} MB, {len(plain.columns)} columns")
    print(f"pd.read_csv(dtype=str)          {plain_m:7.2f} s")
    print(f"load_manifest(check='none')     {ours_m:7.2f} s  ({ours_m / plain_m:.1f}x)")
    print(f"per million rows: {ours_m / args.rows * 1e6:.1f} s checked, "
          f"{plain_m / args.rows * 1e6:.1f} s plain read")  # fmt: skip


if __name__ == "__main__":
    main()
