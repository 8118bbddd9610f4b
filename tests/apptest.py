"""The app under Streamlit's AppTest, pointed at the generated app dataset (``app_world``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_app(
    app_world: dict, tmp_path: Path, monkeypatch, page: str | None = None, *,
    params: dict | None = None, cache: Path | None = None, timeout: float = 180,
) -> AppTest:  # fmt: skip
    """The app run once on ``page`` (a file name in app_pages/ without ``.py``; None: the first
    page) with the address ``params``. The test's ``tmp_path`` is the workspace and holds the
    tag store; the generated data is an allowed root; ``cache``: a cache folder of the test's
    own (default: the one the app tests share). Streamlit's caches start empty."""
    monkeypatch.setenv("WORKBENCH_DATA", str(app_world["data"]))
    monkeypatch.setenv("WORKBENCH_CHECKPOINTS", str(app_world["series"]))
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "tags.sqlite"))
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache or app_world["base"] / "cache"))
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_ALLOWED_ROOTS", str(app_world["base"]))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=timeout)
    if page is not None:
        at.switch_page(f"app_pages/{page}.py")
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at
