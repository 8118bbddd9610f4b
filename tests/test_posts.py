"""The Posts page: its tables (ui.posts, pure pandas) on hand-made frames, and the page through
AppTest on the generated app dataset — ranking by a posts.csv, tagging a whole post with one
key, undoing it as one action, flagging, moving on."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.dataset import load_dataset
from curation.store import TagStore
from tests.test_app import app, open_page  # noqa: F401  (the AppTest fixture)
from ui.posts import ScoresError, cause_kind, filter_posts, post_table, read_scores, tag_all

TABLE = pd.DataFrame({
    "image": ["train/1_1.jpg", "train/1_2.jpg", "train/2_1.jpg", "train/3_1.jpg",
              "query/1_9.jpg", "gallery/1_8.jpg"],
    "post_id": ["1", "1", "2", "3", "1", "1"],
    "split": ["train", "train", "train", "train", "query", "gallery"],
})  # fmt: skip
STATE_COLUMNS = ["image", "bucket", "artifacts", "regions", "annotator"]


def scores_csv(tmp_path, rows, columns=None):
    cols = columns or ["post_id", "split", "score", "data_score", "reliance", "cause", "evidence"]
    path = tmp_path / "posts.csv"
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)
    return path


def test_read_scores_names_the_file_and_the_fix(tmp_path, monkeypatch):
    with pytest.raises(ScoresError, match=r"does not exist; write it with `workbench shortcuts"):
        read_scores(tmp_path / "none.csv")
    bad = scores_csv(tmp_path, [["1", "train", 0.5]], ["post_id", "split", "score"])
    with pytest.raises(ScoresError, match=r"lacks the column\(s\) data_score, reliance, cause"):
        read_scores(bad)
    twice = scores_csv(tmp_path, [["1", "train", 0.5, 1, 0.1, "hands", "{}"]] * 2)
    with pytest.raises(ScoresError, match="lists post 1 \\(train\\) 2 times"):
        read_scores(twice)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ScoresError, match="not a readable CSV"):
        read_scores(tmp_path / "empty.csv")
    import ui.posts

    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 2048)
    monkeypatch.setattr(ui.posts, "MAX_SCORES_BYTES", 1024)
    with pytest.raises(ScoresError, match="is 0 MB; a shortcut-score table may be at most 0"):
        read_scores(big)  # refused before pandas reads it
    monkeypatch.undo()
    good = scores_csv(tmp_path, [["007", "train", 0.5, 1.0, "", "hands", "{}"]])
    got = read_scores(good)
    assert got.at[0, "post_id"] == "007"  # ids stay text, leading zeros kept
    assert pd.isna(got.at[0, "reliance"]) and got.at[0, "score"] == 0.5


def test_post_table_ranks_by_score_and_joins_people_flags_and_queries():
    scores = pd.DataFrame({"post_id": ["2", "1"], "split": ["train", "train"],
                           "score": [0.9, 0.4], "data_score": [1.0, 0.5],
                           "reliance": [0.2, 0.0], "cause": ["hands", "grass"],
                           "evidence": ["{}", "{}"]})  # fmt: skip
    state = pd.DataFrame([
        ["train/1_1.jpg", "", "grass", [], "ann"],
        ["train/1_2.jpg", "", "grass;tongue", [], "ann"],
        ["train/3_1.jpg", "", "hands", [], "detector:hands@1"],  # a machine, not a review
        ["query/1_9.jpg", "spurious", "", [], "ann"],
    ], columns=STATE_COLUMNS)  # fmt: skip
    flags = pd.DataFrame({"post_id": ["2"], "flags": ["exclude"]})
    det = pd.DataFrame({"image": ["train/1_1.jpg", "train/1_2.jpg"],
                        "artifact": ["collar", "collar"], "detected": [True, False]})  # fmt: skip
    got = post_table(TABLE, "train", state, scores=scores, flags=flags, detections=det)
    assert got["post_id"].tolist() == ["2", "1", "3"]  # by score, the unscored last
    one = got.set_index("post_id").loc["1"]
    assert one["tagged"] == "grass 2/2, tongue 1/2"
    assert one["detected"] == "collar 1/2"
    assert bool(one["reviewed"]) is True  # a person tagged both photos
    assert one["queries"] == [("query/1_9.jpg", "spurious")]
    by = got.set_index("post_id")
    assert bool(by.loc["2", "reviewed"]) is True and by.loc["2", "flags"] == "exclude"
    assert bool(by.loc["3", "reviewed"]) is False  # only a detector looked at it
    assert by.loc["3", "tagged"] == ""
    with pytest.raises(ValueError, match="no 'unknown' photos; choose one of gallery, query"):
        post_table(TABLE, "unknown", state)


def test_post_table_without_scores_sorts_by_post_id():
    got = post_table(TABLE, "train", pd.DataFrame(columns=STATE_COLUMNS))
    assert got["post_id"].tolist() == ["1", "2", "3"]
    assert got["score"].isna().all() and not got["reviewed"].any()


def test_filter_posts_by_artifact_score_review_and_detection():
    posts = pd.DataFrame({
        "post_id": ["a", "b", "c", "d"],
        "score": [0.9, 0.5, float("nan"), 0.2],
        "cause": ["hands relied on", "grass present", "model regions", ""],
        "tagged": ["", "tongue 1/2", "hands 3/3", ""],
        "detected": ["hands 2/2", "", "", "collar 1/4"],
        "reviewed": [False, True, True, False],
    })  # fmt: skip
    assert filter_posts(posts, artifacts=["hands"])["post_id"].tolist() == ["a", "c"]
    assert filter_posts(posts, min_score=0.5)["post_id"].tolist() == ["a", "b"]
    assert filter_posts(posts, reviewed="not reviewed")["post_id"].tolist() == ["a", "d"]
    assert filter_posts(posts, detected=["collar"])["post_id"].tolist() == ["d"]
    assert filter_posts(posts, artifacts=["tongue"], reviewed="reviewed")["post_id"].tolist() == [
        "b"
    ]
    assert [cause_kind(c) for c in ("tongue present", "model regions", "none", "", None)] == [
        "tongue",
        "",
        "",
        "",
        "",
    ]
    with pytest.raises(ValueError, match="reviewed must be all, reviewed or not reviewed"):
        filter_posts(posts, reviewed="yes")


def test_tag_all_keeps_each_photos_own_tags_and_regions_and_skips_done_ones():
    region = {"artifact": "grass", "kind": "box", "points": [[0, 0], [5, 5]]}
    state = pd.DataFrame([
        ["train/1_1.jpg", "", "grass", [region], "ann"],
        ["train/1_2.jpg", "", "hands", [], "ann"],
    ], columns=STATE_COLUMNS)  # fmt: skip
    got = tag_all(["train/1_1.jpg", "train/1_2.jpg", "train/9_9.jpg"], "hands", state)
    assert got == [
        ("train/1_1.jpg", ["grass", "hands"], [region]),
        ("train/9_9.jpg", ["hands"], []),
    ]


def test_posts_page_ranks_tags_a_whole_post_undoes_it_and_flags(app, app_world, tmp_path):  # noqa: F811
    ds = load_dataset(app_world["data"])
    train = ds.table[ds.table["split"] == "train"]
    ids = sorted(train["post_id"].astype(str).unique())
    top, second = ids[-1], ids[0]
    out = tmp_path / "shortcuts"
    out.mkdir()
    rows = [[p, "train", 0.9 if p == top else 0.5 if p == second else 0.1, 1.0, 0.1,
             "hands" if p == top else "", "{}"] for p in ids]  # fmt: skip
    scores_csv(out, rows)
    open_page(app, "posts")
    assert any(f"post **{top}**" in m.value for m in app.markdown), "highest score not first"
    assert any("Shortcut score 0.900" in m.value for m in app.markdown)
    app.text_input(key="workspace.annotator").input("ann").run()
    app.button(key="posts.tag_all").click().run()
    assert not app.exception, [e.message for e in app.exception]
    store = TagStore(tmp_path / "tags.sqlite")
    photos = set(train.loc[train["post_id"].astype(str) == top, "image"])
    cur = store.current()
    tagged = set(cur.loc[cur["artifacts"].str.contains("hands"), "image"])
    assert tagged == photos
    app.button(key="posts.undo").click().run()  # the whole post in one undo
    cur = store.current()
    assert not cur["artifacts"].fillna("").str.contains("hands").any()
    app.button(key="posts.flag").click().run()
    assert store.post_flags().set_index("post_id").at[top, "flags"] == "exclude"
    app.button(key="posts.next").click().run()
    assert any(f"post **{second}**" in m.value for m in app.markdown)
    store.close()


def test_posts_page_confirms_a_posts_detections_and_undoes_it(app, app_world, tmp_path):  # noqa: F811
    from curation.perception.runner import detect_dataset

    ds = load_dataset(app_world["data"])
    train = ds.table[ds.table["split"] == "train"]
    found, _ = detect_dataset(ds, "pixel", images=list(train["image"]))
    hit = found[found["detected"]]
    assert len(hit), "the generated train photos carry artifacts the detectors find"
    top = str(hit.iloc[0]["post_id"])
    photos = set(train.loc[train["post_id"].astype(str) == top, "image"])
    want = hit[hit["image"].isin(photos)]
    out = tmp_path / "shortcuts"
    out.mkdir()
    ids = sorted(train["post_id"].astype(str).unique())
    scores_csv(out, [[p, "train", 0.9 if p == top else 0.1, 1.0, 0.1, "", "{}"] for p in ids])
    open_page(app, "posts")
    assert any(f"post **{top}**" in m.value for m in app.markdown)
    app.text_input(key="workspace.annotator").input("ann").run()
    app.button(key="posts.confirm").click().run()
    assert not app.exception, [e.message for e in app.exception]
    assert any(f"confirm {len(want)} detection(s)" in s.value for s in app.success)
    store = TagStore(tmp_path / "tags.sqlite", dataset=ds)
    dets = store.detections()
    mine = dets[dets["image"].isin(photos) & dets["detected"]]
    got = set(zip(mine["image"], mine["review"], strict=True))
    assert got == {(i, "confirmed") for i in want["image"]}
    app.button(key="posts.undo").click().run()
    dets = store.detections()
    assert set(dets.loc[dets["image"].isin(photos), "review"]) == {"unreviewed"}
    store.close()


def test_curate_drops_posts_by_score_and_confirmed_only_follows_the_review(
    app,  # noqa: F811
    app_world,
    tmp_path,
):
    from curation.rules import CATALOG

    ds = load_dataset(app_world["data"])
    train = ds.table[ds.table["split"] == "train"]
    ids = sorted(train["post_id"].astype(str).unique())
    top = ids[0]
    photos = sorted(train.loc[train["post_id"].astype(str) == top, "image"])
    out = tmp_path / "shortcuts"
    out.mkdir()
    scores_csv(out, [[p, "train", 0.9 if p == top else 0.1, 1.0, 0.1,
                      "hands present" if p == top else "none", "{}"] for p in ids])  # fmt: skip
    at = open_page(app, "curate")
    for r in CATALOG:
        at.toggle(key=f"curate.{r.name}").set_value(r.name == "shortcut")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["photos removed"] == str(len(photos))
    assert metrics["posts touched"] == "1"
    at.toggle(key="curate.shortcut.confirmed_only").set_value(True).run()
    assert {m.label: m.value for m in at.metric}["photos removed"] == "0"  # nobody confirmed
    store = TagStore(tmp_path / "tags.sqlite", dataset=ds)
    store.add_detections(pd.DataFrame({
        "image": [photos[0]], "artifact": ["hands"], "score": [0.9], "threshold": [0.5],
        "region": ["[]"], "detector": ["detector:hands@1"],
    }))  # fmt: skip
    store.review_detection(photos[0], "hands", "detector:hands@1", "confirm", annotator="ann")
    store.close()
    at.run()
    assert {m.label: m.value for m in at.metric}["photos removed"] == str(len(photos))
