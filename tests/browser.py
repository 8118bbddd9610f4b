"""Helpers for end-to-end tests: a Streamlit server on loopback and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's chromium and chromium-driver "
            "(apt-get install chromium chromium-driver) to run the browser tests"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("python playwright is not installed: pip install -e '.[dev]'")


def app_env(app_world: dict, store: Path, **more: str) -> dict[str, str]:
    """The server environment of the ``app_world`` fixture's data, checkpoints and cache, with
    the tag store at ``store``, one torch thread, and ``more`` settings (``WORKBENCH_`` + key)."""
    return {
        "WORKBENCH_DATA": str(app_world["data"]),
        "WORKBENCH_CHECKPOINTS": str(app_world["series"]),
        "WORKBENCH_STORE": str(store),
        "WORKBENCH_CACHE": str(app_world["base"] / "cache"),
        "WORKBENCH_THREADS": "1",
        **{f"WORKBENCH_{k.upper()}": v for k, v in more.items()},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(
    env: dict[str, str],
    log_path: Path,
    *,
    address: str | None = "127.0.0.1",
    port: int | None = None,
    args: tuple[str, ...] = (),
    entry: str = "app.py",
) -> Iterator[str]:
    """Run ``streamlit run app.py`` (or ``entry``) on a free port; yields its base URL (on
    127.0.0.1).

    ``address``: passed as ``--server.address``; None leaves it to .streamlit/config.toml.
    ``args``: more command-line options (e.g. ``--secrets.files PATH``)."""
    port = port or free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / entry),
        "--server.headless", "true", "--server.port", str(port),
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        *(["--server.address", address] if address is not None else []), *args,
    ]  # fmt: skip
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; log:\n{log_path.read_text()}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
