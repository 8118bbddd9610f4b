"""Batch precompute: fill the heatmap cache for many photos × every checkpoint × some methods.

The app and the CLI then read the maps (:class:`explain.heatmaps.cache.HeatmapCache`) instead of
computing them. Each map explains the photo's similarity to itself (target ``"self"``), so the
keys are exactly the ones :func:`explain.heatmaps.series.series_maps` looks up.

- Resumable: the plan lists every (photo, checkpoint, method) key and leaves out those already
  in the cache; a worker checks again right before computing (another run may have written it).
  An interrupted run loses at most the maps in flight.
- Bounded memory: work goes out as batches of ``batch_size`` photos (at most two per worker in
  flight); each map is written to the cache as soon as it exists and then dropped.
- Engines: ``"local"`` runs one :class:`BatchWorker` in this process; ``"ray"`` runs ``workers``
  Ray actors, each holding the loaded series and writing to the same cache folder with the
  cache's atomic put (a temporary file renamed into place). By default Ray starts locally
  (``num_cpus=workers``, no dashboard, no usage reporting, bound to 127.0.0.1); ``address``
  joins an existing cluster, whose nodes must see the dataset, checkpoints and cache folder at
  the same paths (a shared file system).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from curation.dataset import SPLITS, Dataset
from explain.heatmaps.cache import HeatmapCache, heatmap_key
from explain.heatmaps.catalog import canonical_params, check_params, get_method, split_params
from explain.heatmaps.layers import DEFAULT_LAYERS
from explain.models.checkpoints import discover, load_model
from explain.storage.hashing import content_hashes

ENGINES = ("local", "ray")
TARGET_REF = "self"
Progress = Callable[[int, int], None]  # (maps done, maps in total)


@dataclass(frozen=True)
class Checkpoint:
    """What a worker needs to know about one checkpoint file without loading its model."""

    path: str
    sha1: str
    size: tuple[int, int]  # input (height, width)
    layer: str | None = None  # the architecture's default target layer (None: unknown)


@dataclass(frozen=True)
class Task:
    """One photo and the maps it still needs: ``(checkpoint index, method)`` pairs."""

    image: str  # absolute path
    sha1: str
    todo: tuple[tuple[int, str], ...]


@dataclass
class PrecomputeResult:
    """``total`` maps asked for = ``cached`` (already there) + ``computed`` (+ ``raced``: written
    by someone else between planning and computing). ``meta["startup_seconds"]``: time to load
    the series in the worker(s) (Ray: to start Ray when needed and the actors)."""

    total: int
    cached: int
    computed: int
    raced: int = 0
    seconds: float = 0.0
    engine: str = "local"
    workers: int = 1
    meta: dict = field(default_factory=dict)


def checkpoints_of(checkpoint_dir: str | Path) -> list[Checkpoint]:
    """Every checkpoint of a series folder with its SHA-1, input size and default target layer,
    ordered by epoch."""
    files = discover(checkpoint_dir)
    if not files:
        raise ValueError(f"{checkpoint_dir}: no checkpoint files (model.pth.tar-N) to explain")
    out = []
    for f, sha in zip(files, content_hashes([f.path for f in files]), strict=True):
        loaded = load_model(f.path, device="cpu")
        layer = DEFAULT_LAYERS.get(type(loaded.model).__name__)
        out.append(Checkpoint(str(f.path.resolve()), sha, loaded.input_size, layer))
    return out


def images_of(
    dataset: Dataset, splits: Sequence[str] | None = None, limit: int | None = None
) -> list[str]:
    """Manifest ``image`` entries of ``splits`` (None: every split), in manifest order; with
    ``limit``, the first ``limit`` of each split."""
    chosen = list(SPLITS) if splits is None else list(splits)
    bad = [s for s in chosen if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; use {', '.join(SPLITS)}")
    out: list[str] = []
    for split in chosen:
        rows = dataset.split(split)["image"]
        out += list(rows if limit is None else rows.head(limit))
    return out


def _key(ck: Checkpoint, image_sha1: str, method: str, params: dict) -> str:
    return heatmap_key(
        ck.sha1, image_sha1, method, params, TARGET_REF, ck.size, default_layer=ck.layer
    )


def plan(
    image_paths: Sequence[str | Path],
    checkpoints: Sequence[Checkpoint],
    methods: Sequence[str],
    params: dict[str, dict],
    cache: HeatmapCache,
) -> tuple[list[Task], int]:
    """Tasks for the maps not yet cached, and how many were already cached."""
    tasks, cached = [], 0
    for path, sha in zip(image_paths, content_hashes(image_paths), strict=True):
        todo = []
        for k, ck in enumerate(checkpoints):
            for method in methods:
                key = _key(ck, sha, method, params.get(method, {}))
                if key in cache:
                    cached += 1
                else:
                    todo.append((k, method))
        if todo:
            tasks.append(Task(str(Path(path).resolve()), sha, tuple(todo)))
    return tasks, cached


class BatchWorker:
    """Holds a loaded series; computes and caches the maps of a batch of tasks.

    The same class runs in-process (engine ``"local"``) and as a Ray actor, so both engines
    compute the very same maps.
    """

    def __init__(
        self,
        checkpoints: Sequence[Checkpoint],
        cache_dir: str,
        params: dict[str, dict],
        threads: int | None = 1,
        device: str | None = "cpu",
    ):
        from explain.models.checkpoints import load_model
        from explain.models.device import set_threads

        set_threads(threads)
        self.checkpoints = list(checkpoints)
        self.models = [load_model(c.path, device=device).model for c in self.checkpoints]
        self.cache = HeatmapCache(cache_dir)
        self.params = params

    def ready(self) -> bool:
        """True once the models are loaded (for timing a Ray actor's start)."""
        return bool(self.models)

    def run(self, tasks: Sequence[Task], on_map: Callable[[], None] | None = None) -> list[int]:
        """Compute every missing map of ``tasks``; returns ``[computed, raced]``."""
        from curation.images import load_rgb
        from explain.heatmaps.targets import SelfSimilarity
        from explain.models.preprocess import to_input

        computed = raced = 0
        for task in tasks:
            img, inputs = load_rgb(task.image), {}
            for k, method in task.todo:
                ck = self.checkpoints[k]
                p = self.params.get(method, {})
                key = _key(ck, task.sha1, method, p)
                if key in self.cache:
                    raced += 1
                else:
                    if ck.size not in inputs:
                        inputs[ck.size] = to_input(img, *ck.size)
                    decisive, execution = split_params(method, p)
                    canonical = canonical_params(method, decisive, default_layer=ck.layer)
                    fn = get_method(method)
                    hm = fn(self.models[k], inputs[ck.size], SelfSimilarity(), **canonical,
                            **execution)  # fmt: skip
                    self.cache.put(key, hm)
                    computed += 1
                if on_map is not None:
                    on_map()
        return [computed, raced]


def batches(tasks: Sequence[Task], batch_size: int) -> Iterator[list[Task]]:
    for i in range(0, len(tasks), batch_size):
        yield list(tasks[i : i + batch_size])


def precompute(
    dataset: Dataset,
    checkpoint_dir: str | Path,
    methods: Sequence[str],
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int = 2,
    batch_size: int = 8,
    cache_dir: str | Path,
    splits: Sequence[str] | None = None,
    limit: int | None = None,
    params: dict[str, dict] | None = None,
    threads: int | None = None,
    device: str | None = "cpu",
    progress: Progress | None = None,
) -> PrecomputeResult:
    """Cache the self-similarity maps of ``methods`` for every photo of ``splits`` (None: all)
    and every checkpoint in ``checkpoint_dir``.

    ``params``: per-method parameters (``{"occlusion": {"window": 16, "stride": 8}}``), part of
    the cache key. ``threads``: torch threads per worker (default: 1 per Ray actor, which
    holds one CPU; :func:`explain.models.device.default_threads` locally). ``progress(done, total)``
    counts maps, cached ones included (so a resumed run starts where the last one stopped).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch_size and workers must be at least 1 ({batch_size}, {workers})")
    if not methods:
        raise ValueError("no methods given; name at least one, e.g. gradcam")
    if threads is None and engine == "ray":
        threads = 1
    params = {m: dict((params or {}).get(m, {})) for m in methods}
    for m in methods:
        check_params(m, params[m])  # bad parameters fail here, not in a worker
    start = time.perf_counter()
    checkpoints = checkpoints_of(checkpoint_dir)
    paths = [str(dataset.path(i)) for i in images_of(dataset, splits, limit)]
    cache = HeatmapCache(cache_dir)
    tasks, cached = plan(paths, checkpoints, methods, params, cache)
    total = len(paths) * len(checkpoints) * len(methods)
    if progress is not None:
        progress(cached, total)
    args = (checkpoints, str(Path(cache_dir).resolve()), params, threads, device)
    timing: dict[str, float] = {}
    if not tasks:
        counts = [0, 0]
    elif engine == "local":
        counts = _run_local(args, tasks, batch_size, cached, total, progress, timing)
    else:
        counts = _run_ray(args, tasks, batch_size, workers, address, cached, total, progress,
                          timing)  # fmt: skip
    return PrecomputeResult(
        total=total, cached=cached, computed=counts[0], raced=counts[1],
        seconds=time.perf_counter() - start, engine=engine,
        workers=1 if engine == "local" else workers,
        meta={"images": len(paths), "checkpoints": [c.path for c in checkpoints],
              "methods": list(methods), **timing},
    )  # fmt: skip


def _run_local(args, tasks, batch_size, cached, total, progress, timing) -> list[int]:
    t0 = time.perf_counter()
    worker = BatchWorker(*args)
    timing["startup_seconds"] = time.perf_counter() - t0
    done = [cached]

    def on_map() -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    counts = [0, 0]
    for batch in batches(tasks, batch_size):
        c, r = worker.run(batch, on_map)
        counts[0] += c
        counts[1] += r
    return counts


def start_ray(address: str | None, workers: int) -> bool:
    """Connect to Ray (``address``) or start it locally; True when this call started it.

    Local Ray: ``num_cpus=workers``, no dashboard, no usage statistics, 127.0.0.1 only.
    """
    try:
        import ray
    except ImportError as exc:
        raise ValueError(
            "engine 'ray' needs Ray: pip install -e '.[ray]' (or use engine 'local')"
        ) from exc
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    common = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": False}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1",
                 **common)  # fmt: skip
    return True


def _run_ray(args, tasks, batch_size, workers, address, cached, total, progress, timing):
    import ray

    t0 = time.perf_counter()
    started = start_ray(address, workers)
    actor_class = ray.remote(num_cpus=1)(BatchWorker)
    actors = [actor_class.remote(*args) for _ in range(workers)]
    counts, done = [0, 0], cached
    pending: dict = {}
    queue = batches(tasks, batch_size)
    try:
        try:
            ray.get([a.ready.remote() for a in actors])
        except ray.exceptions.RayActorError as exc:
            raise ValueError(f"a Ray worker could not load the series: {exc}") from exc
        timing["startup_seconds"] = time.perf_counter() - t0
        for actor in actors * 2:  # two batches per actor in flight: one running, one queued
            batch = next(queue, None)
            if batch is not None:
                pending[actor.run.remote(batch)] = (actor, len(batch))
        while pending:
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            actor, _n = pending.pop(ref)
            try:
                c, r = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise ValueError(f"a Ray worker failed: {exc.cause or exc}") from exc
            counts[0] += c
            counts[1] += r
            done += c + r
            if progress is not None:
                progress(done, total)
            batch = next(queue, None)
            if batch is not None:
                pending[actor.run.remote(batch)] = (actor, len(batch))
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return counts
