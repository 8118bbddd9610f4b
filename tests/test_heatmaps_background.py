"""Slow maps in the background: the runner (one worker, de-duplication by key, newest first,
bounded queue, errors kept) and the Heatmaps page that draws Grad-CAM at once and occlusion
when it is ready."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explain.heatmaps.background import Job, MapRunner, assemble, plan_maps, read_maps
from explain.heatmaps.cache import HeatmapCache
from explain.heatmaps.series import series_pair_maps
from tests.apptest import open_app
from tests.models import conv_net
from ui import background

WAIT = 120.0  # seconds: the longest a test waits for a future (never reached when it passes)


def recording(
    log: list, name: str, gate: threading.Event | None = None, fail: bool = False,
    started: threading.Event | None = None,
):  # fmt: skip
    def run():
        if started is not None:
            started.set()
        if gate is not None and not gate.wait(WAIT):
            raise TimeoutError("the test's gate was never opened")
        log.append(name)
        if fail:
            raise ValueError(f"{name} cannot be computed")
        return name

    return run


def test_one_key_is_computed_once_for_every_asker():
    work, runs, gate, started = MapRunner(idle_seconds=5), [], threading.Event(), threading.Event()
    first = work.submit(
        [Job("blocker", "blocker", recording(runs, "blocker", gate, False, started))]
    )
    assert started.wait(WAIT)  # the worker is busy: the next two submissions wait
    a = work.submit([Job("k", "map k", recording(runs, "k"))])["k"]
    b = work.submit([Job("k", "map k again", recording(runs, "k-again"))])["k"]
    assert a is b and work.pending() == 2
    gate.set()
    assert first["blocker"].result(WAIT) == "blocker" and a.result(WAIT) == "k"
    assert work.wait_idle(WAIT)
    assert runs == ["blocker", "k"] and work.completed == 2


def test_a_newer_submission_runs_first_and_the_queue_is_bounded():
    work, runs = MapRunner(max_pending=3, idle_seconds=5), []
    with work.paused():
        old = work.submit([Job(k, k, recording(runs, k)) for k in ("a1", "a2")])
        new = work.submit([Job(k, k, recording(runs, k)) for k in ("b1", "b2")])
        assert work.pending() == 3  # the oldest waiting job was dropped
        assert old["a2"].cancelled() and not old["a1"].cancelled()
        again = work.submit([Job("a1", "a1", recording(runs, "a1-again"))])  # jumps the queue
        assert again["a1"] is old["a1"]
    for fut in (*new.values(), old["a1"]):
        fut.result(WAIT)
    assert runs == ["a1", "b1", "b2"]
    assert work.wait_idle(WAIT) and work.pending() == 0


def test_an_error_is_kept_with_the_maps_name_until_forgotten():
    work, runs = MapRunner(idle_seconds=5), []
    fut = work.submit([Job("bad", "occlusion · epoch 3", recording(runs, "bad", fail=True))])["bad"]
    with pytest.raises(ValueError, match="bad cannot be computed"):
        fut.result(WAIT)
    label, error = work.failure("bad")
    assert label == "occlusion · epoch 3" and isinstance(error, ValueError)
    assert work.submit([Job("bad", "x", recording(runs, "retried"))])["bad"] is fut  # not rerun
    work.forget(["bad"])
    assert work.failure("bad") is None
    assert work.submit([Job("bad", "x", recording(runs, "retried"))])["bad"].result(WAIT)
    assert runs == ["bad", "retried"]


def test_the_worker_is_one_thread_that_exits_when_idle():
    work, seen = MapRunner(idle_seconds=0.2), []

    def who():
        seen.append(threading.current_thread())

    futs = work.submit([Job(f"k{i}", f"k{i}", who) for i in range(4)])
    for fut in futs.values():
        fut.result(WAIT)
    assert len(set(seen)) == 1 and seen[0] is not threading.current_thread()
    seen[0].join(WAIT)  # exits after idle_seconds without work
    assert not seen[0].is_alive() and not work.alive()
    work.submit([Job("later", "later", who)])["later"].result(WAIT)  # a new worker starts
    assert len(seen) == 5 and seen[4] is not seen[0]
    work.shutdown(WAIT)
    assert not work.alive()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="max_pending"):
        MapRunner(max_pending=0)
    with pytest.raises(ValueError, match="idle_seconds"):
        MapRunner(idle_seconds=0)


def test_planned_maps_land_under_the_keys_the_series_reads(tmp_path):
    models = [SimpleNamespace(model=conv_net(s), epoch=e, sha1=f"{s:040x}", label=f"epoch {e}")
              for s, e in ((0, 3), (2, 12))]  # fmt: skip
    torch.manual_seed(0)
    q = SimpleNamespace(x=torch.randn(1, 3, 10, 8), sha1="a" * 40)
    g = SimpleNamespace(x=torch.randn(1, 3, 10, 8), sha1="b" * 40)
    cache = HeatmapCache(tmp_path)
    planned = plan_maps(models, q, "gradcam", {"layer": "2"}, cache, match=g)
    assert [(p.index, p.side) for p in planned] == [(0, "query"), (0, "match"), (1, "query"),
                                                    (1, "match")]  # fmt: skip
    assert planned[3].job.label == "gradcam · epoch 12 · match"
    assert read_maps(cache, planned) == {} and assemble(models, planned, {}, "query") is None
    work = MapRunner(idle_seconds=5)
    for fut in work.submit([p.job for p in planned]).values():
        fut.result(WAIT)
    maps = read_maps(cache, planned)
    assert len(maps) == 4
    qs, gs = series_pair_maps(models, q.x, g.x, "gradcam", cache=cache, query_sha1=q.sha1,
                              match_sha1=g.sha1, layer="2")  # fmt: skip
    assert all(h.info.get("cached") for h in qs.heatmaps + gs.heatmaps)  # read, not recomputed
    fresh, _ = series_pair_maps(models, q.x, g.x, "gradcam", layer="2")
    got = assemble(models, planned, maps, "query")
    assert got.labels == ["epoch 3", "epoch 12"]
    for a, b in zip(got.heatmaps, fresh.heatmaps, strict=True):
        np.testing.assert_allclose(a.map, b.map, atol=2e-3)  # float16 in the cache


def heatmap_files(cache) -> int:
    return len(list((cache / "heatmaps").glob("??/*.npz")))


def test_the_page_draws_gradcam_at_once_and_occlusion_when_ready(app_world, tmp_path, monkeypatch):
    work, plans = MapRunner(idle_seconds=5), []
    monkeypatch.setattr(background, "runner", lambda: work)
    real = background.plan_maps
    monkeypatch.setattr(background, "plan_maps", lambda *a, **k: plans.append(real(*a, **k))
                        or plans[-1])  # fmt: skip
    cache = tmp_path / "cache"
    with work.paused():  # the worker starts nothing: whatever the first run drew, it made itself
        at = open_app(app_world, tmp_path, monkeypatch, "heatmaps", cache=cache)
        assert at.multiselect(key="hm.methods").value == ["gradcam", "occlusion"]
        assert at.selectbox(key="hm.target").value.startswith("match #1")
        captions = [c.value for c in at.caption]
        gradcam = [c for c in captions if c.startswith("query · animal")]
        waiting = [c for c in captions if c == "occlusion: computing, 0 of 4 maps"]  # per cell
        assert len(gradcam) == 2 and len(waiting) == 2, captions  # 2 checkpoints
        assert heatmap_files(cache) == 4  # Grad-CAM: 2 checkpoints x query and match
        assert work.pending() == 4 and work.completed == 0  # occlusion: queued, not computed
        sides = set(frame_of(at)["method"])
        assert sides == {"gradcam"}
        assert any("occlusion: scored once every map is ready" in c for c in captions)
        plans[-1][0].job.run()  # one map arrives (as if computed by another process)
        at.run()
        captions = [c.value for c in at.caption]
        assert "query · ready | match · occlusion: computing, 1 of 4 maps" in captions, captions
        assert heatmap_files(cache) == 5 and work.completed == 0
    assert work.wait_idle(WAIT * 2)
    assert work.completed == 4 and heatmap_files(cache) == 8
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    captions = [c.value for c in at.caption]
    assert not [c for c in captions if "computing" in c], captions
    assert sum(c.startswith("query · animal") for c in captions) == 4  # both methods scored
    table = frame_of(at)
    assert set(table["method"]) == {"gradcam", "occlusion"} and len(table) == 8
    assert work.completed == 4  # the later run read the cache


def test_a_failed_map_is_named_on_the_page(app_world, tmp_path, monkeypatch):
    work = MapRunner(idle_seconds=5)
    monkeypatch.setattr(background, "runner", lambda: work)
    real = background.plan_maps

    def broken(*args, **kwargs):
        out = real(*args, **kwargs)
        for p in out[:1]:

            def boom():
                raise RuntimeError("out of memory")

            object.__setattr__(p.job, "run", boom)
        return out

    monkeypatch.setattr(background, "plan_maps", broken)
    at = open_app(app_world, tmp_path, monkeypatch, "heatmaps", cache=tmp_path / "cache")
    assert work.wait_idle(WAIT * 2)
    at.run()
    errors = [e.value for e in at.error]
    assert any("occlusion · epoch 3 · query" in e and "out of memory" in e for e in errors), errors
    captions = [c.value for c in at.caption]
    assert any("occlusion failed" in c for c in captions), captions
    assert any(c.startswith("query · occlusion failed") for c in captions)
    assert work.completed == 4
    at.button(key="hm.retry.occlusion").click().run()  # forgets the failure: computed again
    assert work.wait_idle(WAIT) and work.completed == 5


def frame_of(at):
    for df in at.dataframe:
        if "side" in df.value.columns:
            return df.value
    raise AssertionError("no scores table on the page")
