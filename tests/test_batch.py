"""Batch precompute: resumable through the cache keys; the same maps on the local and Ray
engines."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.dataset import load_folder
from explain.heatmaps.batch import checkpoints_of, images_of, precompute
from explain.heatmaps.cache import NAMESPACE
from explain.storage.cache import DiskCache
from tests.conftest import write_image

HAS_RAY = importlib.util.find_spec("ray") is not None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """A dataset of 6 photos and a series of two osnet_x0_25 checkpoints at 64x32."""
    from explain.models.adapter import build_model

    base = tmp_path_factory.mktemp("batch")
    data = base / "data"
    for i, name in enumerate(
        [
            "train/101_1.jpg",
            "train/101_2.jpg",
            "query/201_1.jpg",
            "query/202_1.jpg",
            "gallery/201_2.jpg",
            "gallery/202_2.jpg",
        ]
    ):
        write_image(data / name, seed=i)  # fmt: skip
    series = base / "series"
    series.mkdir()
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        model = build_model("osnet_x0_25", 3)
        torch.save({"state_dict": model.state_dict(), "epoch": epoch, "arch": "osnet_x0_25",
                    "num_classes": 3, "height": 64, "width": 32},
                   series / f"model.pth.tar-{epoch}")  # fmt: skip
    return data, series


def entries(cache_dir: Path) -> dict[str, np.ndarray]:
    disk = DiskCache(cache_dir, NAMESPACE)
    return {k: disk.get(k)["map"] for k in disk.keys()}  # noqa: SIM118 (DiskCache is no mapping)


def counting(monkeypatch) -> list[str]:
    """Count heatmap computations made in this process."""
    import functools

    from explain.heatmaps.catalog import METHODS, get_method

    calls: list[str] = []
    for name in ("gradcam", "activation"):
        real = get_method(name)

        @functools.wraps(real)
        def counted(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setitem(METHODS, name, counted)
    return calls


def test_plan_inputs(tiny):
    data, series = tiny
    ds = load_folder(data)
    assert images_of(ds, ["query"]) == ["query/201_1.jpg", "query/202_1.jpg"]
    assert len(images_of(ds)) == 6 and images_of(ds, limit=1) == [
        "train/101_1.jpg", "query/201_1.jpg", "gallery/201_2.jpg"]  # fmt: skip
    cks = checkpoints_of(series)
    assert [c.size for c in cks] == [(64, 32), (64, 32)] and cks[0].sha1 != cks[1].sha1
    with pytest.raises(ValueError, match="unknown split"):
        images_of(ds, ["test"])
    with pytest.raises(ValueError, match="unknown engine 'spark'"):
        precompute(ds, series, ["gradcam"], engine="spark", cache_dir=data)


def test_resume_recomputes_nothing_already_cached(tiny, tmp_path, monkeypatch):
    data, series = tiny
    ds = load_folder(data)
    calls = counting(monkeypatch)
    cache = tmp_path / "cache"
    seen = []

    def interrupt(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        precompute(ds, series, ["gradcam", "activation"], cache_dir=cache, batch_size=2,
                   progress=interrupt)  # fmt: skip
    assert seen[0] == (0, 24) and len(calls) == 5 and len(entries(cache)) == 5
    calls.clear()
    seen.clear()
    result = precompute(ds, series, ["gradcam", "activation"], cache_dir=cache, batch_size=2,
                        progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert (result.total, result.cached, result.computed) == (24, 5, 19)
    assert len(calls) == 19 and len(entries(cache)) == 24
    assert seen[0] == (5, 24) and seen[-1] == (24, 24)
    calls.clear()
    again = precompute(ds, series, ["gradcam", "activation"], cache_dir=cache)
    assert (again.cached, again.computed) == (24, 0) and calls == []


def test_cached_maps_are_the_ones_series_maps_reads(tiny, tmp_path):
    from curation.images import file_sha1, load_rgb
    from explain.heatmaps.cache import HeatmapCache
    from explain.heatmaps.series import series_maps
    from explain.models.preprocess import to_input
    from explain.models.series import load_series

    data, series = tiny
    cache = tmp_path / "cache"
    precompute(load_folder(data), series, ["gradcam"], cache_dir=cache, splits=["query"])
    path = data / "query" / "201_1.jpg"
    models = load_series(series, device="cpu")
    x = to_input(load_rgb(path), 64, 32)
    maps = series_maps(models, x, "gradcam", cache=HeatmapCache(cache), image_sha1=file_sha1(path))
    assert all(h.info.get("cached") for h in maps.heatmaps)
    assert len(entries(cache)) == 4  # nothing new was written by the read


def test_precompute_command_all_splits_then_resume(tiny, tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    data, series = tiny
    args = ["explain", "precompute", "--data", str(data), "--checkpoints", str(series),
            "--all", "--methods", "gradcam", "--cache", str(tmp_path / "cache")]  # fmt: skip
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "6 photos x 2 checkpoints x 1 method(s) = 12 maps: 0 already cached, 12 computed" in (
        first.output
    )
    again = CliRunner().invoke(main, args)
    assert "12 already cached, 0 computed" in again.output
    both = CliRunner().invoke(main, [*args, "--split", "query"])
    assert both.exit_code != 0 and "give --all or --split, not both" in both.output


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install -e '.[ray]')")
def test_ray_engine_writes_the_same_maps_as_local(tiny, tmp_path):
    data, series = tiny
    ds = load_folder(data)
    local = precompute(ds, series, ["gradcam"], cache_dir=tmp_path / "local", batch_size=2)
    ray = precompute(ds, series, ["gradcam"], engine="ray", workers=2, batch_size=2,
                     cache_dir=tmp_path / "ray")  # fmt: skip
    assert (local.computed, ray.computed, ray.workers) == (12, 12, 2)
    a, b = entries(tmp_path / "local"), entries(tmp_path / "ray")
    assert sorted(a) == sorted(b) and len(a) == 12
    assert all(a[k].dtype == np.float16 and np.array_equal(a[k], b[k]) for k in a)
    resumed = precompute(ds, series, ["gradcam"], engine="ray", workers=2,
                         cache_dir=tmp_path / "ray")  # fmt: skip
    assert (resumed.cached, resumed.computed) == (12, 0)


@pytest.fixture
def two_node_cluster(tmp_path, monkeypatch):
    """A real Ray cluster of two nodes on this machine, each its own `ray start` process with
    one CPU; yields the head's address. Skips with the reason when Ray cannot start them."""
    import shutil
    import socket
    import subprocess
    import sys

    ray_cli = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not HAS_RAY or not Path(ray_cli).exists():
        pytest.skip("ray is not installed (pip install -e '.[ray]')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    import secrets

    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # Ray's token authentication, on every node
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    env = {**os.environ, "PYTHONPATH": f"{root}:{os.environ.get('PYTHONPATH', '')}",
           "RAY_USAGE_STATS_ENABLED": "0"}  # fmt: skip
    temp = Path("/tmp") / f"ray-{port}"  # Ray's socket paths must stay short
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    head = [ray_cli, "start", "--head", "--port", str(port), "--include-dashboard", "false",
            "--temp-dir", str(temp), *common]  # fmt: skip
    worker = [ray_cli, "start", "--address", f"127.0.0.1:{port}", *common]
    try:
        for cmd in (head, worker):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
            if done.returncode != 0:
                pytest.skip(f"Ray could not start a node: {done.stderr.strip()[-400:]}")
        yield f"127.0.0.1:{port}"
    finally:  # only this cluster's processes: `ray stop` would stop every Ray on the machine
        _stop_processes_of(str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def _stop_processes_of(marker: str) -> None:
    """SIGTERM, then SIGKILL, to every process whose command line names ``marker`` and to all
    their descendants."""
    import signal
    import time

    def table() -> dict[int, tuple[int, str]]:
        procs = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    cmd = (
                        (entry / "cmdline")
                        .read_bytes()
                        .replace(b"\0", b" ")
                        .decode(errors="replace")
                    )
                except (OSError, IndexError, ValueError):
                    continue
                procs[int(entry.name)] = (ppid, cmd)
        return procs

    procs = table()
    doomed = {pid for pid, (_, cmd) in procs.items() if marker in cmd}
    grew = True
    while grew:
        more = {pid for pid, (ppid, _) in procs.items() if ppid in doomed} - doomed
        doomed |= more
        grew = bool(more)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in doomed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in doomed) and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.mark.slow
def test_a_two_node_ray_cluster_writes_the_same_maps_as_local(tiny, tmp_path, two_node_cluster):
    """`workbench explain precompute --engine ray --address` against the cluster, in its own
    process (Ray reads its authentication settings once per process)."""
    import subprocess
    import sys

    data, series = tiny
    local = precompute(load_folder(data), series, ["gradcam"], cache_dir=tmp_path / "local",
                       batch_size=2)  # fmt: skip
    cmd = [sys.executable, "-m", "workbench.cli", "explain", "precompute", "--data", str(data),
           "--checkpoints", str(series), "--methods", "gradcam", "--all", "--engine", "ray",
           "--workers", "2", "--address", two_node_cluster, "--cache", str(tmp_path / "ray"),
           "--threads", "1"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ray, 2 worker(s)" in done.stdout + done.stderr, done.stdout + done.stderr
    a, b = entries(tmp_path / "local"), entries(tmp_path / "ray")
    assert local.computed == 12 and sorted(a) == sorted(b) and len(a) == 12
    assert all(np.array_equal(a[k], b[k]) for k in a)
    nodes = subprocess.run(
        [sys.executable, "-c", f"import ray; ray.init(address={two_node_cluster!r}, "
         "logging_level='ERROR'); "
         "print(sorted(n['Resources'].get('CPU') for n in ray.nodes() if n['Alive']))"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # two live nodes of one CPU each, and two one-CPU workers ran: one on each node
    assert nodes.stdout.strip().splitlines()[-1] == "[1.0, 1.0]", nodes.stdout + nodes.stderr
