"""serve.py, what ``make run`` starts: the libraries load before the first visitor, and the
server is the same app with the same safety settings (loopback only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.adversarial.test_app_server import LOOPBACK, _env, listening
from tests.browser import CHROMIUM, CHROMIUM_ARGS, free_port, require_chromium, streamlit_server

pytestmark = pytest.mark.browser


def test_serve_loads_the_libraries_before_the_first_visit_and_binds_loopback(app_world, tmp_path):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("no /proc/net/tcp on this system: cannot read the listening sockets")
    log = tmp_path / "log.txt"
    port = free_port()
    with streamlit_server(_env(app_world, tmp_path / "ws"), log, address=None, port=port,
                          entry="serve.py"):  # fmt: skip
        text = log.read_text()
        sockets = listening(port)
    assert re.search(r"libraries loaded in \d+\.\d s", text), text  # before any request came
    assert sockets and set(sockets) <= LOOPBACK, sockets


def test_serve_shows_the_overview(app_world, tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    with (
        streamlit_server(
            _env(app_world, tmp_path / "ws"), tmp_path / "log.txt", entry="serve.py"
        ) as url,  # fmt: skip
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.get_by_role("heading", name="Tag store").wait_for(timeout=120_000)
        assert page.get_by_role("heading", name="Re-ID workbench").count() == 1
        assert page.get_by_text("Traceback").count() == 0
        browser.close()
