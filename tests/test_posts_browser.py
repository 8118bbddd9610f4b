"""The Posts page in a real browser with the keyboard: T tags every photo of the post on screen
with its cause, J moves to the next post, U undoes the whole post in one key, E flags it."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.dataset import load_dataset
from curation.store import TagStore
from tests.browser import CHROMIUM, CHROMIUM_ARGS, app_env, require_chromium, streamlit_server
from tests.test_browser import idle, no_exception

pytestmark = pytest.mark.browser


def test_posts_keyboard_tags_a_whole_post_moves_on_undoes_and_flags(app_world, tmp_path):
    require_chromium()
    from playwright.sync_api import sync_playwright

    ds = load_dataset(app_world["data"])
    train = ds.table[ds.table["split"] == "train"]
    ids = sorted(train["post_id"].astype(str).unique())
    first, second = ids[1], ids[0]  # the score puts ids[1] first, then ids[0]
    ws = tmp_path / "ws"
    (ws / "shortcuts").mkdir(parents=True)
    pd.DataFrame(
        [[p, "train", 0.9 if p == first else 0.5 if p == second else 0.1, 1.0, 0.1,
          "grass present" if p == first else "none", "{}"] for p in ids],
        columns=["post_id", "split", "score", "data_score", "reliance", "cause", "evidence"],
    ).to_csv(ws / "shortcuts" / "posts.csv", index=False)  # fmt: skip
    store_path = tmp_path / "tags.sqlite"
    env = app_env(app_world, store_path, workspace=str(ws))
    photos = set(train.loc[train["post_id"].astype(str) == first, "image"])
    with streamlit_server(env, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        page.goto(f"{url}/posts?annotator=keys-kate")
        page.get_by_text("train posts reviewed").wait_for(timeout=120_000)
        idle(page)
        no_exception(page, "Posts")
        page.get_by_text(f"post {first}").first.wait_for(timeout=30_000)
        page.get_by_role("heading", name="Posts").click()  # focus on the page, not a field
        page.keyboard.press("T")
        page.get_by_text(f"Saved: grass on {len(photos)} photo(s)").wait_for(timeout=30_000)
        idle(page)
        tagged = TagStore(store_path, dataset=ds).current().set_index("image")
        assert {i for i in photos if "grass" in str(tagged.at[i, "artifacts"])} == photos
        assert set(tagged.loc[list(photos), "annotator"]) == {"keys-kate"}
        page.keyboard.press("U")
        page.get_by_text(f"Undid {len(photos)} change(s) of yours").wait_for(timeout=30_000)
        idle(page)
        page.keyboard.press("E")
        page.get_by_text(f"post {first} flags: exclude").wait_for(timeout=30_000)
        idle(page)
        page.keyboard.press("J")
        page.get_by_text(f"post {second}").first.wait_for(timeout=30_000)
        idle(page)
        no_exception(page, "Posts after the keys")
        browser.close()
    store = TagStore(store_path, dataset=ds)
    cur = store.current()
    assert not cur["artifacts"].fillna("").str.contains("grass").any()  # one U undid them all
    assert store.post_flags().set_index("post_id").at[first, "flags"] == "exclude"
