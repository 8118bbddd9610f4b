"""What the export's safety costs: a first export vs a re-export over it (which hashes the old
export against its record first), with the flush to disk on vs off, per layout.

    .venv/bin/python benchmarks/bench_export.py [--images 2000] [--repeats 3] [--dir /tmp]

All timed side by side in one run (alternating), medians of ``--repeats``; prints the times
and the ratios re-export / first and flush on / off ("off": no syncfs before the swap, no
fsync of the records: what durability costs). The data are random JPEGs (64×128, about
10 KB each) under ``--dir``, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from curation import replace
from curation.dataset import Dataset
from curation.export import export
from curation.rules import removal_frame


def dataset(root: Path, n: int) -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        post, photo = 1000 + i // 4, 1 + i % 4
        image = f"train/{post}_{photo}.jpg"
        (root / "train").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (128, 64, 3), dtype=np.uint8)).save(root / image)
        rows.append({"image": image, "post_id": str(post), "photo": photo, "split": "train",
                     "camid": photo})  # fmt: skip
    return Dataset(root=root, table=pd.DataFrame(rows), source="bench")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=None, help="where to write (default: the temp folder)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-export-", dir=args.dir))
    real_fsync, real_flush = os.fsync, replace._flush
    try:
        ds = dataset(base / "data", args.images)
        none = removal_frame([])
        times: dict[tuple[str, str, str], list[float]] = {}
        for rep in range(args.repeats):
            for layout in ("mirror", "copy"):
                for sync in ("on", "off"):
                    os.fsync = real_fsync if sync == "on" else (lambda fd: None)
                    replace._flush = real_flush if sync == "on" else (lambda tmp, entries: None)
                    out = base / f"out-{layout}-{sync}-{rep}"
                    lay = None if layout == "mirror" else layout
                    first = timed(lambda out=out, lay=lay: export(ds, none, out, layout=lay))
                    again = timed(lambda out=out, lay=lay: export(ds, none, out, layout=lay))
                    times.setdefault((layout, sync, "first"), []).append(first)
                    times.setdefault((layout, sync, "re-export"), []).append(again)
                    os.fsync, replace._flush = real_fsync, real_flush
                    shutil.rmtree(out)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{args.images} images, medians of {args.repeats}, {base}")
        print(f"{'layout':8s} {'flush':5s} {'first s':>8s} {'re-export s':>11s} {'ratio':>6s}")
        for layout in ("mirror", "copy"):
            for sync in ("on", "off"):
                a, b = med[(layout, sync, "first")], med[(layout, sync, "re-export")]
                print(f"{layout:8s} {sync:5s} {a:8.3f} {b:11.3f} {b / a:6.2f}")
            on, off = med[(layout, "on", "first")], med[(layout, "off", "first")]
            print(f"{layout:8s} flush on / off (first export): {on / off:.2f}")
    finally:
        os.fsync, replace._flush = real_fsync, real_flush
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
