"""What the tag store's dataset scope, detections and agreement cost, measured side by side.

    .venv/bin/python benchmarks/bench_store_scope.py [--images 2000] [--annotators 3]

One SQLite store holds two datasets with the same image paths (each ``--images`` queries put in
a bucket by every annotator); a second store holds one dataset alone with the same events.
Prints, in this one run: ``current()`` on one dataset of the shared store against the store
that holds it alone (the cost of the dataset filter), ``current(by="annotator")``,
``agreement()``, and ``add_detections`` of seven detectors' results per image (first write,
then the re-run that adds nothing) and ``detections()``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.store import TagEvent, TagStore  # noqa: E402

DETECTORS = ("hands", "tongue", "grass", "glare", "collar", "collage", "text-overlay")


def timed(fn, runs: int = 3) -> float:
    """Median seconds of ``fn()`` over ``runs`` calls."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def fill(store: TagStore, images: list[str], annotators: int, seed: int) -> None:
    rng = random.Random(seed)
    events = [
        TagEvent(img, f"a{k}", "bucket", bucket=rng.choice(["worked", "missed", "spurious"]))
        for k in range(annotators)
        for img in images
    ]
    store.add_many(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--annotators", type=int, default=3)
    args = parser.parse_args()
    images = [f"query/{i}_1.jpg" for i in range(args.images)]
    n_events = args.images * args.annotators
    with tempfile.TemporaryDirectory() as tmp:
        shared_a = TagStore(Path(tmp) / "shared.sqlite", dataset="pets@a")
        shared_b = TagStore(Path(tmp) / "shared.sqlite", dataset="pets@b")
        alone = TagStore(Path(tmp) / "alone.sqlite", dataset="pets@a")
        fill(shared_a, images, args.annotators, 1)
        fill(shared_b, images, args.annotators, 2)
        fill(alone, images, args.annotators, 1)
        t_shared = timed(shared_a.current)
        t_alone = timed(alone.current)
        assert shared_a.current()[["image", "bucket"]].equals(alone.current()[["image", "bucket"]])
        print(f"{n_events} events per dataset")
        print(f"  current(): one of two datasets {t_shared * 1e3:.0f} ms, the dataset alone "
              f"{t_alone * 1e3:.0f} ms  -> x{t_shared / t_alone:.2f}")  # fmt: skip
        per = timed(lambda: shared_a.current(by="annotator"))
        print(f"  current(by='annotator'): {per * 1e3:.0f} ms")
        agree = timed(shared_a.agreement)
        print(f"  agreement() ({args.annotators} annotators): {agree * 1e3:.0f} ms")
        found = pd.DataFrame(
            [{"image": img, "artifact": a, "score": (i * 7 + j) % 100 / 100, "threshold": 0.5,
              "region": "[]", "detector": f"detector:{a}@1"}
             for i, img in enumerate(images) for j, a in enumerate(DETECTORS)]
        )  # fmt: skip
        t = time.perf_counter()
        first = shared_a.add_detections(found)
        t_first = time.perf_counter() - t
        t = time.perf_counter()
        again = shared_a.add_detections(found)
        t_again = time.perf_counter() - t
        print(f"  add_detections of {len(found)} results: first {t_first:.2f} s "
              f"({first.added} added), re-run {t_again:.2f} s ({again.added} added)")  # fmt: skip
        print(f"  detections(): {timed(shared_a.detections) * 1e3:.0f} ms")
        for s in (shared_a, shared_b, alone):
            s.close()


if __name__ == "__main__":
    main()
