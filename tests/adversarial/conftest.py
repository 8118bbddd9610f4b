"""Shared tools of the hostile-input suite: a bounded subprocess and a tree watcher.

Every test here builds its own bad input under ``tmp_path`` and asserts the exact outcome: the
message the user sees, that nothing outside the places the user named was written, read or
deleted (:class:`TreeWatch`), and that memory stays bounded (:func:`run_bounded`).
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st

from tests.adversarial.app_inputs import ROOTS_VAR, World, bad_uploads, bomb_png
from workbench import access

ROOT = Path(__file__).resolve().parents[2]


def _snapshot(root: Path) -> dict[str, tuple[str, str]]:
    """Every entry under ``root`` (not following links): kind and content hash / link target."""
    out: dict[str, tuple[str, str]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir", oct(p.stat().st_mode & 0o777))
            else:
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
    return out


@dataclass
class TreeWatch:
    """A folder whose every entry must stay exactly as it was."""

    root: Path
    before: dict[str, tuple[str, str]]

    def changes(self) -> dict[str, list[str]]:
        after = _snapshot(self.root)
        return {
            "added": sorted(set(after) - set(self.before)),
            "removed": sorted(set(self.before) - set(after)),
            "changed": sorted(
                k for k in set(after) & set(self.before) if after[k] != self.before[k]
            ),
        }

    def assert_unchanged(self) -> None:
        changes = self.changes()
        assert changes == {"added": [], "removed": [], "changed": []}, changes


@pytest.fixture
def watch():
    """``watch(folder)`` -> :class:`TreeWatch` of that folder as it is now."""

    def make(root: Path) -> TreeWatch:
        return TreeWatch(Path(root), _snapshot(Path(root)))

    return make


def run_bounded(
    args: list[str],
    *,
    memory_mb: int = 3000,
    timeout: float = 300,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with its heap capped at ``memory_mb`` (RLIMIT_DATA: anonymous memory,
    not the mapped libraries) and return the finished process (text output).

    A run that tries to allocate past the cap fails with MemoryError instead of taking the machine.
    """
    limit = memory_mb * 1024 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_THREADS": "1",
                "OMP_NUM_THREADS": "1", **(env or {})}  # fmt: skip
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=cap,
    )


def workbench(*args: str, **kw) -> subprocess.CompletedProcess:
    """``workbench ARGS`` in a bounded subprocess (see :func:`run_bounded`)."""
    return run_bounded(["-m", "workbench.cli", *args], **kw)


def assert_clean_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    """The command failed with a message (no traceback) that contains every needle."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "Traceback" not in out, out
    for needle in needles:
        assert needle in out, f"{needle!r} not in:\n{out}"


# -- the app-input tests' fixtures (tests/adversarial/app_inputs.py) ---------------------------


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_png(12000, 12000)


@pytest.fixture
def roots_tree(tmp_path: Path) -> dict[str, Path]:
    """``allowed/`` (the only root) with a folder, a file, links in and out; ``outside/`` with
    a secret; ``allowed-evil/`` whose name starts with the root's."""
    allowed, outside, evil = tmp_path / "allowed", tmp_path / "outside", tmp_path / "allowed-evil"
    (allowed / "data" / "sub").mkdir(parents=True)
    (allowed / "data" / "file.txt").write_text("inside")
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    evil.mkdir()
    (allowed / "out").symlink_to(outside)
    (allowed / "in").symlink_to(allowed / "data")
    (allowed / "filelink").symlink_to(outside / "secret.txt")
    return {"tmp": tmp_path, "allowed": allowed, "outside": outside, "evil": evil}


@pytest.fixture
def hostile_world(app_world, tmp_path, monkeypatch) -> World:
    """The shared generated dataset and series as the configured workspace, an allowed root
    with bad files in it, and ``outside/`` holding a valid copy of the dataset and series."""
    w = World(
        tmp=tmp_path, allowed=tmp_path / "allowed", ws=tmp_path / "ws",
        outside=tmp_path / "outside", evil=tmp_path / "allowed-evil", data=app_world["data"],
        series=app_world["series"], cache=app_world["base"] / "cache",
    )  # fmt: skip
    for d in (w.allowed, w.ws, w.outside):
        d.mkdir()
    shutil.copytree(w.data, w.outside / "pets")
    shutil.copytree(w.series, w.outside / "series")
    (w.outside / "secret.txt").write_text("secret")
    shutil.copytree(w.data, w.evil / "pets")
    (w.allowed / "notes.txt").write_text("not a manifest")
    (w.allowed / "ckfile").write_text("not a folder")
    (w.allowed / "textck").mkdir()
    (w.allowed / "textck" / "model.pth.tar-5").write_text("not a checkpoint")
    (w.allowed / "notdb.sqlite").write_text("this is not a database\n" * 20)
    (w.allowed / "link").symlink_to(w.outside)
    env = {
        "WORKBENCH_DATA": str(w.data), "WORKBENCH_CHECKPOINTS": str(w.series),
        "WORKBENCH_STORE": str(w.ws / "tags.sqlite"), "WORKBENCH_CACHE": str(w.cache),
        "WORKBENCH_WORKSPACE": str(w.ws), ROOTS_VAR: str(w.allowed),
    }  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv(access.ENV_UNAUTHENTICATED, raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    return w


def pytest_generate_tests(metafunc):
    if "bad_upload" in metafunc.fixturenames:
        metafunc.parametrize(("bad_upload", "upload_name", "upload_message"),
                             bad_uploads(bomb_png(12000, 12000)))  # fmt: skip
