"""The Browse page in a real browser (Debian's Chromium through Playwright, against `streamlit
run`): a link with filters opens that view, a click on a tile opens the photo dialog, Next and
the Right arrow key move through the shown photos, Escape closes it. Screenshots go to
test-artifacts/browser/. Skips with the reason when Chromium or Playwright is missing."""

from __future__ import annotations

import re

import pytest

from curation.dataset import load_dataset
from tests.browser import CHROMIUM, CHROMIUM_ARGS, ROOT, app_env, require_chromium, streamlit_server
from tests.test_browser import idle, no_exception

SHOTS = ROOT / "test-artifacts" / "browser"

pytestmark = pytest.mark.browser


def test_a_tile_opens_the_dialog_and_next_moves(app_world, tmp_path):
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    queries = load_dataset(app_world["data"]).split("query")["image"].tolist()
    names = [q.split("/")[-1] for q in queries]
    env = app_env(app_world, tmp_path / "tags.sqlite", workspace=str(tmp_path),
                  allowed_roots=str(app_world["base"]))  # fmt: skip
    with streamlit_server(env, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(f"{url}/browse?split=query")
        page.get_by_role("heading", name="Browse").wait_for(timeout=120_000)
        page.get_by_text(f"{len(queries)} of ").first.wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Browse")
        assert page.get_by_role("button", name="View", exact=True).count() == len(queries)
        page.get_by_role("button", name="View", exact=True).nth(1).click()
        dialog = page.get_by_role("dialog")
        dialog.wait_for(timeout=60_000)
        idle(page)
        expect(dialog).to_contain_text(f"2 / {len(queries)}", timeout=30_000)
        expect(dialog).to_contain_text(names[1])
        page.screenshot(path=str(SHOTS / "browse-dialog.png"))
        dialog.get_by_role("button", name=re.compile("^Next")).click()
        expect(dialog).to_contain_text(f"3 / {len(queries)}", timeout=30_000)
        expect(dialog).to_contain_text(names[2])
        idle(page)
        page.keyboard.press("ArrowRight")  # the Next button's shortcut
        expect(dialog).to_contain_text(f"4 / {len(queries)}", timeout=30_000)
        idle(page)
        page.keyboard.press("ArrowLeft")
        expect(dialog).to_contain_text(f"3 / {len(queries)}", timeout=30_000)
        idle(page)
        no_exception(page, "the photo dialog")
        page.keyboard.press("Escape")
        expect(page.get_by_role("dialog")).to_have_count(0, timeout=30_000)
        assert "split=query" in page.url
        browser.close()
