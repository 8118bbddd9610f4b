"""A freshly started server's very first page load, in a real browser: the app's own
navigation (never a folder's file names), and the first click on it works.

Each test starts its own ``streamlit run app.py`` on a free port, so no earlier request has
warmed the process. Skips with the reason when Chromium or Playwright is missing.
"""

from __future__ import annotations

import ast

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, require_chromium, streamlit_server
from tests.test_browser import idle, no_exception

pytestmark = pytest.mark.browser


def _titles() -> list[str]:
    """The page titles app.py lists (its PAGES table), in order."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "PAGES" for t in node.targets
        ):
            return [elt.elts[1].value for elt in node.value.elts]
    raise AssertionError("app.py lists no PAGES")


def _env(app_world, tmp_path) -> dict[str, str]:
    return {
        "WORKBENCH_DATA": str(app_world["data"]),
        "WORKBENCH_CHECKPOINTS": str(app_world["series"]),
        "WORKBENCH_STORE": str(tmp_path / "tags.sqlite"),
        "WORKBENCH_CACHE": str(app_world["base"] / "cache"),
        "WORKBENCH_WORKSPACE": str(tmp_path / "ws"),
        "WORKBENCH_THREADS": "1",
    }


# records every sidebar-navigation entry the page ever renders, from the first paint on (an
# entry shown for a moment and replaced is still seen)
WATCH_NAV = """
window.__navSeen = new Set();
new MutationObserver(() => {
  document.querySelectorAll("[data-testid='stSidebarNav'] a").forEach(a => {
    const lines = a.innerText.trim().split("\\n").filter(l => l.trim());
    if (lines.length) window.__navSeen.add(lines[lines.length - 1].trim());
  });
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


def _nav(page) -> list[str]:
    """The sidebar navigation's entries (each link's last line: the title after its icon)."""
    links = page.locator("[data-testid='stSidebarNav'] a")
    return [t.strip().splitlines()[-1].strip() for t in links.all_inner_texts()]


def test_the_first_page_load_shows_the_real_navigation_and_the_first_click_works(
    app_world, tmp_path
):
    require_chromium()
    from playwright.sync_api import sync_playwright

    titles = _titles()
    assert titles[:2] == ["Overview", "Checkpoints"]
    with (
        streamlit_server(_env(app_world, tmp_path), tmp_path / "log.txt") as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.add_init_script(WATCH_NAV)
        page.goto(url)  # the server's first page request
        page.get_by_role("heading", name="Re-ID workbench").wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Overview")
        first_nav = _nav(page)
        seen_before_click = set(page.evaluate("[...window.__navSeen]"))
        page.get_by_role("link", name="Checkpoints").first.click()  # the first click
        page.get_by_role("heading", name="Checkpoints").first.wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Checkpoints")
        address = page.url
        body = page.locator("[data-testid='stSidebar']").inner_text()
        browser.close()
    assert first_nav == titles, first_nav
    assert seen_before_click == set(titles), (
        seen_before_click
    )  # never a file's name, not even briefly
    assert not {"app", "ui", "widgets", "home", "safety"} & {t.lower() for t in first_nav}
    assert address.endswith("/checkpoints"), address
    assert "Dataset folder or manifest" in body  # app.py's workspace ran around the page


def test_a_page_address_as_the_first_request_runs_through_app_py(app_world, tmp_path):
    """Before: a first request to /triage ran the page file alone (no sidebar, no sign-in)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with (
        streamlit_server(_env(app_world, tmp_path), tmp_path / "log.txt") as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{url}/triage")
        page.get_by_text("queries reviewed").wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Triage")
        nav = _nav(page)
        workspace = page.get_by_role("textbox", name="Dataset folder or manifest").count()
        browser.close()
    assert nav == _titles()
    assert workspace == 1
