"""Slow heatmaps (occlusion: hundreds of forwards per map) computed off the page, one at a time.

- :class:`MapRunner`: one worker thread per process and a bounded queue of :class:`Job` keyed by
  the map's cache key. Submitting a key that is queued or running returns the same
  :class:`concurrent.futures.Future` (two sessions asking for one map compute it once); a newer
  submission goes to the front of the queue (the query on screen first); when more than
  ``max_pending`` jobs wait, the oldest are dropped (their futures cancelled, to be submitted
  again by whoever still wants them). A job's error is kept on its future and in
  :meth:`MapRunner.failure` until :meth:`MapRunner.forget`, so it can be shown with the map's
  name instead of leaving a gap. The worker thread exits after ``idle_seconds`` without work and
  starts again with the next submission; :meth:`MapRunner.paused` holds back new jobs while a
  page computes its fast maps on the same models.
- :func:`plan_maps`: the jobs of one view (a method over every checkpoint, for the query and, in a
  pair view, the match), each writing its map into a :class:`HeatmapCache` (atomic put), so the
  page reads them with :func:`read_maps` like any other cached map.

No Streamlit here: :mod:`ui.background` holds the process's runner and draws the placeholders.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass

from explain.heatmaps.base import Heatmap
from explain.heatmaps.cache import HeatmapCache, heatmap_key
from explain.heatmaps.catalog import canonical_params, split_params
from explain.heatmaps.series import Member, SeriesMaps, members, pair_embeddings
from explain.heatmaps.targets import as_target, pair_targets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One map to compute: ``key`` (its cache key, the unit of de-duplication), ``label`` (how
    a page names it, e.g. ``occlusion · epoch 3 · match``) and ``run`` (computes and stores it)."""

    key: str
    label: str
    run: Callable[[], object]


class MapRunner:
    """A single worker thread computing :class:`Job` s, newest submission first.

    ``max_pending``: jobs that may wait (>= 1); ``max_failed``: failed keys remembered (oldest
    forgotten first); ``idle_seconds``: how long the worker waits for work before it exits.
    """

    def __init__(self, max_pending: int = 64, *, max_failed: int = 256, idle_seconds: float = 30.0):
        if max_pending < 1 or max_failed < 1:
            raise ValueError(f"max_pending and max_failed must be >= 1, not {max_pending}, "
                             f"{max_failed}")  # fmt: skip
        if idle_seconds <= 0:
            raise ValueError(f"idle_seconds must be > 0, not {idle_seconds}")
        self.max_pending, self.max_failed, self.idle_seconds = max_pending, max_failed, idle_seconds
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()  # keys waiting, the front runs next
        self._jobs: dict[str, Job] = {}  # key -> job, for keys waiting
        self._futures: dict[str, Future] = {}  # key -> future, for keys waiting or running
        self._failed: OrderedDict[str, tuple[str, Future]] = OrderedDict()
        self._running: str | None = None
        self._paused = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.completed = 0  # jobs run to their end (a result or an error)

    def submit(self, jobs: Sequence[Job]) -> dict[str, Future]:
        """Queue ``jobs`` ahead of everything waiting, in their order; the future of each key.

        A key already waiting moves to the front with its future; a running key keeps its
        future; a failed key returns its failed future (call :meth:`forget` to retry it).
        """
        out: dict[str, Future] = {}
        front: list[str] = []
        with self._cond:
            self._stopping = False
            for job in jobs:
                if job.key in out:
                    continue
                if job.key in self._failed:
                    out[job.key] = self._failed[job.key][1]
                    continue
                fut = self._futures.get(job.key)
                if fut is None:
                    fut = self._futures[job.key] = Future()
                    self._jobs[job.key] = job
                elif job.key != self._running:
                    self._queue.remove(job.key)
                if job.key != self._running:
                    front.append(job.key)
                out[job.key] = fut
            self._queue.extendleft(reversed(front))
            while len(self._queue) > self.max_pending:
                dropped = self._queue.pop()
                del self._jobs[dropped]
                self._futures.pop(dropped).cancel()
            self._wake()
        return out

    def failure(self, key: str) -> tuple[str, BaseException] | None:
        """``(label, error)`` of a failed key, None otherwise."""
        with self._cond:
            found = self._failed.get(key)
        return None if found is None else (found[0], found[1].exception())

    def forget(self, keys: Sequence[str]) -> None:
        """Drop the failures of ``keys`` so that submitting them again retries them."""
        with self._cond:
            for key in keys:
                self._failed.pop(key, None)

    def pending(self) -> int:
        """Jobs waiting or running."""
        with self._cond:
            return len(self._futures)

    def wait_idle(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until no job waits or runs; whether that happened
        (False while paused with jobs waiting)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._futures, timeout)

    def alive(self) -> bool:
        """Whether the worker thread is running (it exits when idle)."""
        with self._cond:
            return self._thread is not None and self._thread.is_alive()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Start no new job inside this block (a running one finishes); nests."""
        with self._cond:
            self._paused += 1
        try:
            yield
        finally:
            with self._cond:
                self._paused -= 1
                self._wake()

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel the waiting jobs, let the running one finish and the worker exit (waits up to
        ``timeout`` seconds). A later :meth:`submit` starts a new worker."""
        with self._cond:
            self._stopping = True
            for key in self._queue:
                del self._jobs[key]
                self._futures.pop(key).cancel()
            self._queue.clear()
            thread = self._thread
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout)

    def _wake(self) -> None:  # with self._cond held
        if self._queue and not self._paused and self._thread is None:
            self._thread = threading.Thread(target=self._work, name="heatmaps-background",
                                            daemon=True)  # fmt: skip
            self._thread.start()
        self._cond.notify_all()

    def _next(self) -> tuple[str, Job, Future] | None:
        with self._cond:
            while not self._queue or self._paused:
                timed_out = self._stopping or not self._cond.wait(self.idle_seconds)
                if timed_out and (not self._queue or self._paused):
                    self._thread = None
                    return None
            key = self._queue.popleft()
            self._running = key
            return key, self._jobs.pop(key), self._futures[key]

    def _work(self) -> None:
        while (picked := self._next()) is not None:
            key, job, fut = picked
            error = None
            if fut.set_running_or_notify_cancel():
                try:
                    fut.set_result(job.run())
                except Exception as exc:  # kept on the future and shown by the page
                    log.exception("background heatmap %s failed", job.label)
                    error = exc
                    fut.set_exception(exc)
            with self._cond:
                self._running = None
                del self._futures[key]
                if error is not None:
                    self._failed[key] = (job.label, fut)
                    while len(self._failed) > self.max_failed:
                        self._failed.popitem(last=False)
                self.completed += 1
                self._cond.notify_all()


@dataclass(frozen=True)
class PlannedMap:
    """One map of a view: ``index`` of the checkpoint, ``side`` (``query`` / ``match``), and the
    job that computes it into the cache."""

    index: int
    side: str
    job: Job

    @property
    def key(self) -> str:
        return self.job.key


def plan_maps(
    models: Sequence[object],
    query,
    method: str,
    params: dict,
    cache: HeatmapCache,
    *,
    match=None,
) -> list[PlannedMap]:
    """The maps of ``method`` for every checkpoint of ``models`` (with a known ``sha1``):
    the query's (its similarity to itself, or to ``match``) and, with ``match``, the match's
    similarity to the query. ``query``/``match``: photos with ``.x`` ``(1, 3, H, W)`` and
    ``.sha1`` (:class:`explain.heatmaps.explorer.Photo`). Keys equal those
    :func:`explain.heatmaps.series.series_pair_maps` / ``series_maps`` write."""
    size = (int(query.x.shape[-2]), int(query.x.shape[-1]))
    decisive, execution = split_params(method, params)
    out = []
    for i, m in enumerate(members(models)):
        if not m.sha1:
            raise ValueError(f"{m.label} has no SHA-1; background maps need checkpoint files")
        canonical = canonical_params(method, decisive, model=m.model)
        sides = [("query", query, match)] + ([("match", match, query)] if match else [])
        for side, pic, other in sides:
            ref = f"pair:{other.sha1}" if other is not None else as_target("self").key()
            key = heatmap_key(m.sha1, pic.sha1, method, canonical, ref, size)
            name = f"{method} · {m.label}" + (f" · {side}" if match is not None else "")
            run = _runner(m, pic, other, side, method, {**canonical, **execution}, ref, cache)
            out.append(PlannedMap(i, side, Job(key, name, run)))
    return out


def _runner(m: Member, pic, other, side, method, params, ref, cache) -> Callable[[], Heatmap]:
    def run() -> Heatmap:
        target: object = "self"
        if other is not None:
            q, g = (pic, other) if side == "query" else (other, pic)
            emb = pair_embeddings(m.model, q.x, g.x)
            t_q, t_g = pair_targets(emb[0], emb[1], q.sha1, g.sha1)
            target = t_q if side == "query" else t_g
        return cache.get_or_compute(m.model, pic.x, target, method, checkpoint_sha1=m.sha1,
                                    image_sha1=pic.sha1, target_ref=ref, **params)  # fmt: skip

    return run


def read_maps(cache: HeatmapCache, planned: Sequence[PlannedMap]) -> dict[str, Heatmap]:
    """The planned maps already in ``cache``, by key."""
    out = {}
    for p in planned:
        hm = cache.get(p.key)
        if hm is not None:
            out[p.key] = hm
    return out


def assemble(
    models: Sequence[object], planned: Sequence[PlannedMap], maps: dict[str, Heatmap], side: str
) -> SeriesMaps | None:
    """The :class:`SeriesMaps` of one side once every one of its maps is in ``maps``."""
    ms = members(models)
    mine = sorted((p for p in planned if p.side == side), key=lambda p: p.index)
    if not mine or any(p.key not in maps for p in mine):
        return None
    return SeriesMaps([m.label for m in ms], [m.epoch for m in ms], [maps[p.key] for p in mine])


__all__ = ["Job", "MapRunner", "PlannedMap", "assemble", "plan_maps", "read_maps"]
