"""Fill the reliance cache with Ray actors (``workbench shortcuts --engine ray``).

Each actor loads the checkpoint once and runs :func:`explain.shortcuts.scan.scan` on its share
of the photos (whole posts, so a post's Grad-CAM targets and regions are made in one place),
writing to the shared disk cache; the caller then runs :func:`~explain.shortcuts.scan.scan`
locally, which reads every region from the cache. The cache folder must be one every worker
sees (a local folder for a local Ray, a shared file system for a cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from explain.heatmaps.batch import start_ray


class ScanWorker:
    """One Ray actor: the checkpoint loaded once, scans on demand."""

    def __init__(self, checkpoint: str, dataset, detections: pd.DataFrame, kwargs: dict):
        from explain.models.checkpoints import load_model
        from explain.models.device import set_threads

        set_threads(1)
        self.loaded = load_model(checkpoint, device="cpu")
        self.dataset = dataset
        self.detections = detections
        self.kwargs = kwargs

    def ready(self) -> bool:
        return True

    def run(self, images: list[str]) -> int:
        from explain.shortcuts.scan import scan

        _, _, info = scan(self.loaded, self.dataset, self.detections, images=images, **self.kwargs)
        return info["photos"]


def chunks(table: pd.DataFrame, size: int) -> list[list[str]]:
    """The photos of ``table`` in groups of whole posts of about ``size`` photos each."""
    out, current = [], []
    for _, g in table.groupby(["split", "post_id"], sort=True):
        current += g["image"].tolist()
        if len(current) >= size:
            out.append(current)
            current = []
    return out + ([current] if current else [])


def fill_cache(
    checkpoint: str | Path,
    dataset,
    detections: pd.DataFrame,
    *,
    workers: int = 2,
    address: str | None = None,
    chunk: int = 24,
    progress: Callable[[int, int], None] | None = None,
    splits: Sequence[str] = ("train", "gallery"),
    cache_dir: str | Path | None = None,
    **kwargs,
) -> int:
    """Scan every photo of ``splits`` on Ray actors, filling ``cache_dir``; returns the number
    of photos scanned. ``kwargs``: the other :func:`~explain.shortcuts.scan.scan` options."""
    if cache_dir is None:
        raise ValueError("the Ray engine hands results over through the cache: give cache_dir")
    import ray

    table = dataset.table[dataset.table["split"].isin(list(splits))]
    work = chunks(table, chunk)
    started = start_ray(address, workers)
    actor_class = ray.remote(num_cpus=1)(ScanWorker)
    options = {**kwargs, "splits": tuple(splits), "cache_dir": str(cache_dir)}
    actors = [actor_class.remote(str(checkpoint), dataset, detections, options)
              for _ in range(min(workers, len(work)))]  # fmt: skip
    done, total = 0, len(table)
    try:
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:
            raise ValueError(f"a Ray worker could not load the checkpoint: {exc}") from exc
        queue = iter(work)
        pending = {}
        for actor in actors:
            part = next(queue, None)
            if part is not None:
                pending[actor.run.remote(part)] = actor
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            actor = pending.pop(ref)
            try:
                done += ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise ValueError(f"a Ray worker failed: {exc.cause or exc}") from exc
            if progress is not None:
                progress(done, total)
            part = next(queue, None)
            if part is not None:
                pending[actor.run.remote(part)] = actor
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return done
