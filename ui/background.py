"""Slow heatmaps off the page: the server process's :class:`MapRunner` and what a page draws
while its maps are computed (:mod:`explain.heatmaps.background` does the work).

A page asks :func:`follow` for the slow methods' maps of its view: it gets the maps already in
the heatmap cache, the rest is queued on the one background worker (newest view first), and it
polls with an ``st.fragment(run_every=...)`` until :attr:`Pending.finished`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from explain.heatmaps.background import MapRunner, PlannedMap, assemble, plan_maps, read_maps
from explain.heatmaps.base import Heatmap
from explain.heatmaps.series import SeriesMaps
from ui.compute import heatmap_cache

POLL_SECONDS = 1.0  # how often a page waiting for background maps looks again


@st.cache_resource(show_spinner=False)
def runner() -> MapRunner:
    """The process's one background worker (shared by every session)."""
    return MapRunner()


@contextmanager
def foreground() -> Iterator[None]:
    """Hold back new background jobs while the page computes maps on the same models."""
    with runner().paused():
        yield


@dataclass
class Pending:
    """The slow maps of one method in one view: ``planned`` (every map), ``maps`` (those in
    the cache, by key), ``errors`` (key -> ``(label, error)`` of maps that failed)."""

    method: str
    planned: list[PlannedMap]
    maps: dict[str, Heatmap] = field(default_factory=dict)
    errors: dict[str, tuple[str, BaseException]] = field(default_factory=dict)
    futures: dict[str, Future] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Every map is either in the cache or failed."""
        return len(self.maps) + len(self.errors) >= len(self.planned)

    def status(self) -> str:
        """``occlusion: computing, 3 of 8 maps`` (or ``..., 2 failed``)."""
        failed = f", {len(self.errors)} failed" if self.errors else ""
        verb = "computing" if not self.finished else "done"
        return f"{self.method}: {verb}, {len(self.maps)} of {len(self.planned)} maps{failed}"

    def at(self, index: int, side: str) -> PlannedMap:
        return next(p for p in self.planned if p.index == index and p.side == side)

    def series(self, models: list, side: str) -> SeriesMaps | None:
        """Every map of ``side`` as a :class:`SeriesMaps`, None while one is missing."""
        return assemble(models, self.planned, self.maps, side)


def follow(models: list, query, methods: list[str], params: dict[str, dict], *,
           match=None) -> dict[str, Pending]:  # fmt: skip
    """Per slow method: its maps in the cache, the missing ones queued in the background (a
    failed map is reported, not retried: :func:`retry`)."""
    cache, work = heatmap_cache(), runner()
    out = {}
    for method in methods:
        planned = plan_maps(models, query, method, params[method], cache, match=match)
        got = Pending(method, planned, read_maps(cache, planned))
        missing = [p.job for p in planned if p.key not in got.maps]
        got.futures = work.submit(missing) if missing else {}
        for key, fut in got.futures.items():
            failed = work.failure(key)
            if failed is not None:
                got.errors[key] = failed
            elif fut.done() and not fut.cancelled() and key not in got.maps:
                hm = cache.get(key)  # finished between the read and the submission
                if hm is not None:
                    got.maps[key] = hm
        out[method] = got
    return out


def retry(pending: dict[str, Pending]) -> None:
    """Forget the failures of these views so that the next :func:`follow` computes them again."""
    runner().forget([k for p in pending.values() for k in p.errors])


def placeholder(picture) -> np.ndarray:
    """A tile that is not drawn yet: the photo in light grey, ``(H, W, 3)`` uint8."""
    grey = np.asarray(picture.convert("L"), dtype=np.float32)
    light = 200.0 + grey * (40.0 / 255.0)
    return np.repeat(light[..., None], 3, axis=2).astype(np.uint8)
