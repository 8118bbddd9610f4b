"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run`.

Opens every page, triages a query with the keyboard (annotator name, then 1 = worked and T =
tongue), checks the decision reached the tag store, and saves a screenshot of each page under
test-artifacts/browser/. Skips with the reason when Chromium or Playwright is missing.
"""

from __future__ import annotations

import time

import pytest

from curation.store import TagStore
from tests.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, app_env, require_chromium, streamlit_server

PAGES = [
    ("Checkpoints", "Checkpoints"),
    ("Heatmaps", "Heatmaps"),
    ("Triage", "Triage"),
    ("Curate & export", "Curate & export"),
    ("Compare", "Compare"),
    ("Search", "Search"),
]
SHOTS = ROOT / "test-artifacts" / "browser"

pytestmark = pytest.mark.browser


def idle(page, timeout: float = 120.0) -> None:
    """Wait until Streamlit has finished the current run (the app root says notRunning twice in
    a row, so a rerun that starts right after one run ends is waited for too)."""
    deadline = time.monotonic() + timeout
    time.sleep(0.3)
    done = page.locator("[data-testid='stApp'][data-test-script-state='notRunning']")
    while time.monotonic() < deadline:
        if done.count():
            time.sleep(0.4)
            if done.count():
                return
        time.sleep(0.2)
    raise AssertionError("the app kept running for two minutes")


def no_exception(page, where: str) -> None:
    boxes = page.locator("[data-testid='stException']")
    assert boxes.count() == 0, f"{where}: {boxes.first.inner_text()}"


def test_every_page_and_a_keyboard_triage(app_world, tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    store_path = tmp_path / "tags.sqlite"
    env = app_env(app_world, store_path)
    with streamlit_server(env, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(url)
        page.get_by_role("heading", name="Re-ID workbench").wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Overview")
        page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)
        for link, title in PAGES:
            page.get_by_role("link", name=link).first.click()
            page.get_by_role("heading", name=title).first.wait_for(timeout=120_000)
            idle(page)
            no_exception(page, title)
            page.screenshot(path=str(SHOTS / f"{link.split()[0].lower()}.png"), full_page=True)

        page.get_by_role("link", name="Triage").first.click()
        page.get_by_text("queries reviewed").wait_for(timeout=120_000)
        idle(page)
        name = page.get_by_role("textbox", name="Annotator")
        name.fill("keyboard-kim")
        name.press("Enter")
        idle(page)
        page.get_by_role("heading", name="Triage").click()  # focus off the text field
        shown = page.locator("code").first.inner_text()  # the query on screen
        page.keyboard.press("T")
        idle(page)
        page.keyboard.press("1")
        idle(page)
        page.get_by_text("Saved:").first.wait_for(timeout=30_000)
        page.screenshot(path=str(SHOTS / "triage-after-keys.png"), full_page=True)
        browser.close()

    state = TagStore(store_path).current().set_index("image")
    assert state.at[shown, "bucket"] == "worked"
    assert state.at[shown, "artifacts"] == "tongue"
    assert state.at[shown, "annotator"] == "keyboard-kim"
    wanted = {"overview", "checkpoints", "heatmaps", "triage", "curate", "compare", "search",
              "triage-after-keys"}  # fmt: skip
    assert {f"{n}.png" for n in wanted} <= {p.name for p in SHOTS.glob("*.png")}


def test_triage_deep_link_keyboard_and_reload(app_world, tmp_path):
    """A copied Triage address opens the same query with the same annotator; J and 2 act in the
    fragment (the address follows the query); a reload keeps the name."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    from curation.dataset import load_dataset

    queries = load_dataset(app_world["data"]).split("query")["image"].tolist()
    wanted = queries[2]
    store_path = tmp_path / "tags.sqlite"
    env = app_env(app_world, store_path)
    with streamlit_server(env, tmp_path / "streamlit.log", entry="serve.py") as url, \
            sync_playwright() as p:  # fmt: skip
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2200})
        page.goto(f"{url}/triage?query={wanted}&annotator=link-lou")
        page.get_by_text("queries reviewed").wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Triage from a link")
        assert page.locator("code").first.inner_text() == wanted
        assert page.get_by_role("textbox", name="Annotator").input_value() == "link-lou"
        page.get_by_role("heading", name="Triage").click()
        page.keyboard.press("J")
        page.wait_for_function(
            "(w) => document.querySelector('[data-testid=stMarkdownContainer] code')"
            ".innerText !== w", arg=wanted, timeout=60_000,
        )  # fmt: skip
        idle(page)
        after = page.locator("code").first.inner_text()
        assert after != wanted and after in queries
        assert f"query={after.replace('/', '%2F')}" in page.url or f"query={after}" in page.url
        page.keyboard.press("2")
        page.get_by_text("Saved:").first.wait_for(timeout=60_000)
        idle(page)
        page.screenshot(path=str(SHOTS / "triage-deep-link.png"), full_page=True)
        page.reload()
        page.get_by_text("queries reviewed").wait_for(timeout=120_000)
        idle(page)
        assert page.get_by_role("textbox", name="Annotator").input_value() == "link-lou"
        browser.close()
    state = TagStore(store_path).current().set_index("image")
    assert state.at[after, "bucket"] == "missed"
    assert state.at[after, "annotator"] == "link-lou"
