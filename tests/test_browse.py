"""The photo browser and the embeddings map: the table and filters (pure pandas), the filters
in the URL, bulk tagging, the map's selection handler, cached maps; then both pages through
app.py with Streamlit's AppTest on the small generated dataset."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from curation.dataset import load_dataset
from curation.perception.runner import COLUMNS as DETECT_COLUMNS
from curation.store import TagStore
from explain.heatmaps.cache import HeatmapCache
from explain.heatmaps.explorer import explain_query, photo
from explain.models.series import load_series
from explain.retrieval.projection import umap_available
from explain.retrieval.series import evaluate_series
from tests.apptest import open_app
from ui import browse_map as bm
from ui.browse_data import (
    DETECTION_COLUMNS,
    NONE,
    NOT_A_QUERY,
    bulk_changes,
    cached_maps,
    filter_choices,
    filter_photos,
    filters_from_url,
    filters_to_url,
    page_count,
    page_rows,
    photo_table,
    read_detections,
    selected_images,
)
from ui.queries import NO_BUCKET

# -- the table and its filters ----------------------------------------------------------------


@pytest.fixture
def world(tree, tmp_path):
    """The 12-photo tree, a per-query table for its two queries, a store with a bucket, tags
    with a region and a flag, and detections for one photo."""
    ds = load_dataset(tree)
    per_query = pd.DataFrame({
        "query": ["query/201_1.jpg", "query/7_202_1.jpg"], "post_id": ["201", "202"],
        "in_gallery": [True, True], "rank": [1.0, 9.0],
    })  # fmt: skip
    store = TagStore(tmp_path / "tags.sqlite", dataset=ds)
    store.set_bucket("query/201_1.jpg", "worked", "ann")
    region = {"artifact": "tongue", "kind": "box", "points": [[1, 1], [5, 5]]}
    store.set_artifacts("gallery/201_2.jpg", ["tongue", "grass"], "ann", [region])
    store.flag_image("train/101_1.jpg", ["exclude"], "ann")
    detected = pd.Series({"gallery/203_1.jpg": "hands"})
    return ds, per_query, store, detected


def test_photo_table_joins_outcome_store_truth_and_detections(world):
    ds, per_query, store, detected = world
    t = photo_table(ds, per_query, store.current(), detected, k=5).set_index("image")
    assert len(t) == 12
    assert t.at["query/201_1.jpg", "outcome"] == "found in top-k"
    assert t.at["query/7_202_1.jpg", "outcome"] == "missed"  # rank 9 > top 5
    assert t.at["query/7_202_1.jpg", "rank"] == 9
    assert t.at["gallery/201_2.jpg", "outcome"] == NOT_A_QUERY
    assert pd.isna(t.at["gallery/201_2.jpg", "rank"])
    assert t.at["query/201_1.jpg", "bucket"] == "worked"
    assert t.at["gallery/201_2.jpg", "tags"] == "grass;tongue"
    assert t.at["train/101_1.jpg", "flags"] == "exclude"
    assert t["reviewed"].sum() == 3
    assert t.at["gallery/203_1.jpg", "detected"] == "hands"
    assert t.at["gallery/201_3.jpg", "detected"] == ""
    assert (t["truth"] == "").all()  # the tree has no ground-truth column
    assert t.at["query/7_202_1.jpg", "post_id"] == "7_202"  # GROUP_POST_PHOTONUM
    assert t.at["query/7_202_1.jpg", "name"] == "7_202_1.jpg"
    # without detections the column says "unknown", not "nothing found"
    assert photo_table(ds, per_query, store.current())["detected"].isna().all()


def test_each_filter_keeps_the_rows_it_should(world):
    ds, per_query, store, detected = world
    t = photo_table(ds, per_query, store.current(), detected)
    t.loc[t["image"] == "train/102_1.jpg", "truth"] = "glare"

    def kept(**f) -> list[str]:
        return sorted(filter_photos(t, **f)["image"])

    assert kept() == sorted(t["image"])
    assert kept(split=["query"]) == ["query/201_1.jpg", "query/7_202_1.jpg"]
    assert kept(post=["201"]) == ["gallery/201_2.jpg", "gallery/201_3.jpg", "query/201_1.jpg"]
    assert kept(outcome=["missed"]) == ["query/7_202_1.jpg"]
    assert kept(bucket=["worked"]) == ["query/201_1.jpg"]
    assert len(kept(bucket=[NO_BUCKET])) == 11
    assert kept(artifact=["grass"]) == ["gallery/201_2.jpg"]
    assert kept(artifact=["gt:glare"]) == ["train/102_1.jpg"]
    assert kept(artifact=["grass", "gt:glare"]) == ["gallery/201_2.jpg", "train/102_1.jpg"]
    assert len(kept(artifact=[NONE])) == 10
    assert kept(detection=["hands"]) == ["gallery/203_1.jpg"]
    assert len(kept(detection=[NONE])) == 11
    assert kept(reviewed=["reviewed"]) == ["gallery/201_2.jpg", "query/201_1.jpg",
                                           "train/101_1.jpg"]  # fmt: skip
    assert len(kept(reviewed=["not reviewed"])) == 9
    assert len(kept(reviewed=["reviewed", "not reviewed"])) == 12
    assert kept(split=["gallery"], artifact=["tongue"]) == ["gallery/201_2.jpg"]


def test_filters_round_trip_through_the_url_and_stale_values_are_named(world):
    ds, per_query, store, detected = world
    t = photo_table(ds, per_query, store.current(), detected)
    choices = filter_choices(t, store.vocabulary())
    assert choices["split"] == ["train", "query", "gallery"]
    assert choices["post"][:3] == ["101", "102", "103"]
    assert choices["detection"] == ["hands", NONE]
    filters = {"split": ["query", "gallery"], "artifact": ["grass"], "reviewed": ["reviewed"]}
    url = filters_to_url(filters)
    assert url == {"split": "query,gallery", "artifact": "grass", "reviewed": "reviewed"}
    back, dropped = filters_from_url({k: [v] for k, v in url.items()}, choices)
    assert {k: v for k, v in back.items() if v} == filters and dropped == []
    # repeated parameters work too; unknown values are dropped and named
    back, dropped = filters_from_url({"split": ["query", "moon"], "post": ["999"]}, choices)
    assert back["split"] == ["query"] and back["post"] == []
    assert dropped == ["split=moon", "post=999"]


def test_pages_of_the_grid():
    t = pd.DataFrame({"image": [f"i{i}" for i in range(50)]})
    assert page_count(50, 24) == 3 and page_count(0, 24) == 1
    assert page_rows(t, 3, 24)["image"].tolist() == ["i48", "i49"]
    assert page_rows(t, 9, 24)["image"].tolist() == ["i48", "i49"]  # clamped to the last page
    with pytest.raises(ValueError, match="per_page"):
        page_count(5, 0)


def test_bulk_changes_add_remove_and_flag(world):
    _, _, store, _ = world
    state = store.current()
    images = ["gallery/201_2.jpg", "gallery/201_3.jpg", "train/101_1.jpg"]
    changes = {c["image"]: c for c in bulk_changes(state, images, add=["hands"],
                                                   remove=["tongue"])}  # fmt: skip
    assert changes["gallery/201_2.jpg"]["artifacts"] == ["grass", "hands"]
    assert changes["gallery/201_2.jpg"]["regions"] == []  # the tongue's region goes with it
    assert changes["gallery/201_3.jpg"]["artifacts"] == ["hands"]
    assert changes["train/101_1.jpg"]["flags"] is None
    # adding what is there already changes nothing; a flag adds to the flags there are
    assert bulk_changes(state, ["gallery/201_2.jpg"], add=["grass"]) == []
    flagged = bulk_changes(state, ["train/101_1.jpg"], flags=["multiple-animals"])
    assert flagged == [{"image": "train/101_1.jpg", "artifacts": None, "regions": None,
                        "flags": ["exclude", "multiple-animals"]}]  # fmt: skip
    with pytest.raises(ValueError, match="grass: both added and removed"):
        bulk_changes(state, images, add=["grass"], remove=["grass"])


def test_read_detections_of_a_detect_csv_and_bad_files(tmp_path):
    assert set(DETECTION_COLUMNS) <= set(DETECT_COLUMNS)  # what `workbench detect` writes
    good = tmp_path / "detections.csv"
    pd.DataFrame({
        "image": ["a.jpg", "a.jpg", "a.jpg", "b.jpg"], "artifact": ["hands", "tongue", "glare",
                                                                   "hands"],
        "score": [0.9, 0.8, 0.1, 0.2], "detected": [True, True, False, False],
    }).to_csv(good, index=False)  # fmt: skip
    assert read_detections(good).to_dict() == {"a.jpg": "hands;tongue"}
    bad = tmp_path / "other.csv"
    bad.write_text("image,score\na.jpg,1\n")
    with pytest.raises(ValueError, match="no column artifact, detected: not a detections file"):
        read_detections(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="not a readable CSV"):
        read_detections(empty)


def test_the_map_selection_handler_returns_the_lassoed_photos(world):
    ds, per_query, store, detected = world
    t = photo_table(ds, per_query, store.current(), detected)
    images = t["image"].tolist()
    points = np.stack([np.arange(12.0), np.zeros(12)], axis=1)
    frame = bm.map_frame(t, images, points)
    assert frame["artifact"].tolist()[images.index("gallery/201_2.jpg")] == "grass;tongue"
    fig = bm.figure(frame, "post")
    assert len(fig.data) == t["post_id"].nunique()  # one trace per colour
    # what st.plotly_chart reports: points of several traces, their customdata as plotted
    chosen = [(i, j) for i, trace in enumerate(fig.data) for j in range(len(trace.x))][::3]
    selection = {
        "points": [
            {"curve_number": i, "point_index": j, "customdata": list(fig.data[i].customdata[j])}
            for i, j in chosen
        ],
        "point_indices": [j for _, j in chosen], "box": [], "lasso": [{"x": [0], "y": [0]}],
    }  # fmt: skip
    want = [fig.data[i].customdata[j][0] for i, j in chosen]
    assert selected_images(selection) == want and set(want) <= set(images)
    assert selected_images({"points": selection["points"] * 2}) == want  # each photo once
    assert selected_images(None) == [] and selected_images({"points": []}) == []


def test_many_groups_share_one_trace_without_a_legend():
    n = bm.MAX_LEGEND + 6
    frame = pd.DataFrame({
        "image": [f"gallery/{i}_1.jpg" for i in range(n)], "name": [f"{i}_1.jpg" for i in range(n)],
        "post_id": [str(i) for i in range(n)], "split": "gallery", "outcome": NOT_A_QUERY,
        "x": np.arange(n, dtype=float), "y": np.zeros(n),
    })  # fmt: skip
    fig = bm.figure(frame, "post")
    assert len(fig.data) == 1 and fig.layout.showlegend is False
    assert [c[0] for c in fig.data[0].customdata] == frame["image"].tolist()
    colours = fig.data[0].marker.color
    assert len(set(colours)) > 1 and colours[0] != colours[1]
    assert "post 3 · gallery" in fig.data[0].hovertext[3]


def test_cached_maps_finds_what_the_pages_compute_and_nothing_else(app_world, tmp_path):
    ds = load_dataset(app_world["data"])
    models = list(load_series(app_world["series"]))
    image = ds.split("query")["image"].iloc[0]
    q = photo(ds, image, models[0].input_size)
    cache = HeatmapCache(tmp_path / "cache")
    assert cached_maps(cache, models, q.sha1) == [None, None]
    done = explain_query(models[:1], q, ["gradcam"], cache=cache).query["gradcam"].heatmaps[0]
    found = cached_maps(cache, models, q.sha1)
    assert found[1] is None
    np.testing.assert_allclose(found[0].map, done.map, atol=1e-3)  # float16 in the cache


# -- the pages ---------------------------------------------------------------------------------


def start(
    app_world, tmp_path, monkeypatch, page: str, params: dict | None = None, cache=None
) -> AppTest:
    return open_app(app_world, tmp_path, monkeypatch, page, params=params, cache=cache)


def shown_count(at: AppTest) -> tuple[int, int]:
    m = next(m.value for m in at.markdown if " photos** · page " in m.value)
    n, total = re.match(r"\*\*(\d+) of (\d+) photos", m).groups()
    return int(n), int(total)


def tiles(at: AppTest) -> list[str]:
    return [c.key[len("browse.sel.") :] for c in at.checkbox if c.key.startswith("browse.sel.")]


@pytest.fixture(scope="module")
def truth(app_world):
    ds = load_dataset(app_world["data"])
    ev = evaluate_series(ds, app_world["series"], cache_dir=app_world["base"] / "cache")
    return ds, ev


def test_browse_filters_change_the_shown_set(app_world, tmp_path, monkeypatch, truth):
    ds, ev = truth
    at = start(app_world, tmp_path, monkeypatch, "browse")
    assert shown_count(at) == (len(ds.table), len(ds.table))
    assert len(tiles(at)) == 24  # the first page
    at.multiselect(key="browse.f.split").select("query").run()
    assert shown_count(at)[0] == len(ds.split("query"))
    assert sorted(tiles(at)) == sorted(ds.split("query")["image"])
    at.multiselect(key="browse.f.outcome").select("not in gallery").run()
    lost = ev.per_query[-1][~ev.per_query[-1]["in_gallery"]]["query"].tolist()
    assert tiles(at) == lost and shown_count(at)[0] == len(lost) >= 1
    assert at.query_params["split"] == "query"
    assert at.query_params["outcome"] == "not in gallery"
    at.multiselect(key="browse.f.split").set_value([]).run()
    at.multiselect(key="browse.f.outcome").set_value([]).run()
    polluted = ds.table[ds.table["artifacts"].fillna("").str.contains("tongue")]["image"]
    at.multiselect(key="browse.f.artifact").select("gt:tongue").run()
    assert shown_count(at)[0] == len(polluted) >= 1
    assert any("No detections file" in c.value for c in at.caption)  # says how to make one


def test_a_link_opens_that_view(app_world, tmp_path, monkeypatch, truth):
    ds, ev = truth
    params = {"split": "train,gallery", "page": "2", "epoch": "3", "reviewed": "not reviewed"}
    at = start(app_world, tmp_path, monkeypatch, "browse", params)
    n = len(ds.split("train")) + len(ds.split("gallery"))
    assert shown_count(at) == (n, len(ds.table)) and n > 24
    assert at.multiselect(key="browse.f.split").value == ["train", "gallery"]
    assert at.number_input(key="browse.page").value == 2
    assert at.selectbox(key="browse.epoch").value == 3
    rows = ds.table[ds.table["split"].isin(["train", "gallery"])]["image"].tolist()
    assert tiles(at) == rows[24:48]
    # a link with the outcome at epoch 3 differs from epoch 12 where the ranks differ
    at = start(app_world, tmp_path, monkeypatch, "browse", {"outcome": "missed", "epoch": "3"})
    missed = ev.per_query[0]
    missed = missed[missed["in_gallery"] & (missed["rank"] > 5)]["query"].tolist()
    assert tiles(at) == missed


def test_bulk_tag_writes_the_selection_to_the_store(app_world, tmp_path, monkeypatch, truth):
    ds, _ = truth
    at = start(app_world, tmp_path, monkeypatch, "browse", {"split": "gallery"})
    store = TagStore(tmp_path / "tags.sqlite")
    gallery = ds.split("gallery")["image"].tolist()
    assert len(gallery) <= 24  # one page
    at.button(key="browse.select_page").click().run()
    at.checkbox(key=f"browse.sel.{gallery[-1]}").uncheck().run()
    first = gallery[:-1]
    assert any(c.value.startswith(f"**{len(first)} selected**") for c in at.caption)
    at.multiselect(key="browse.bulk.add").select("grass").run()
    at.button(key="browse.bulk.apply").click().run()
    assert any("Annotator" in w.value for w in at.warning) and store.count() == 0
    at.text_input(key="workspace.annotator").input("alice").run()
    at.button(key="browse.bulk.apply").click().run()
    state = store.current().set_index("image")
    assert sorted(state.index[state["artifacts"] == "grass"]) == sorted(first)
    assert set(state.loc[first, "annotator"]) == {"alice"}
    assert state.loc[first, "epoch"].tolist() == [12] * len(first)
    assert any(f"on {len(first)} photo(s)" in s.value for s in at.success)
    # the last photo ticked again, then grass removed from the selection and a flag set
    at.checkbox(key=f"browse.sel.{gallery[-1]}").check().run()
    assert any(c.value.startswith(f"**{len(gallery)} selected**") for c in at.caption)
    at.multiselect(key="browse.bulk.add").set_value([]).run()
    at.multiselect(key="browse.bulk.remove").select("grass").run()
    at.multiselect(key="browse.bulk.flags").select("exclude").run()
    at.button(key="browse.bulk.apply").click().run()
    state = store.current().set_index("image")
    assert (state.loc[first, "artifacts"] == "").all()
    assert state.loc[gallery, "flags"].eq("exclude").all()
    # events: grass on 9, then 9 untags and 10 flags (the last photo had no grass to remove)
    assert store.count() == len(first) + len(first) + len(gallery)
    at.multiselect(key="browse.f.reviewed").select("reviewed").run()
    assert shown_count(at)[0] == len(gallery)


def test_annotator_from_the_link(app_world, tmp_path, monkeypatch):
    at = start(app_world, tmp_path, monkeypatch, "browse", {"split": "query", "annotator": "bob"})
    at.button(key="browse.select_page").click().run()
    at.multiselect(key="browse.bulk.flags").select("exclude").run()
    at.button(key="browse.bulk.apply").click().run()
    state = TagStore(tmp_path / "tags.sqlite").current()
    assert len(state) == len(tiles(at)) and set(state["annotator"]) == {"bob"}
    assert at.query_params["annotator"] == "bob"


def test_the_dialog_opens_and_moves_through_the_shown_photos(app_world, tmp_path, monkeypatch):
    # a cache of its own: other pages' tests (Triage prefetches) fill the shared one with maps
    at = start(app_world, tmp_path, monkeypatch, "browse", {"split": "query"},
               cache=tmp_path / "cache")  # fmt: skip
    order = tiles(at)
    at.button(key=f"browse.open.{order[1]}").click().run()
    assert not at.exception, [e.message for e in at.exception]
    nav = [m.value for m in at.markdown if m.value.startswith("**2 / ")]
    assert nav == [f"**2 / {len(order)}** · `{order[1]}`"]
    at.button(key="browse.dlg.next").click().run()
    assert any(m.value.startswith(f"**3 / {len(order)}** · `{order[2]}`") for m in at.markdown)
    at.button(key="browse.dlg.prev").click().run()
    at.button(key="browse.dlg.prev").click().run()
    assert any(m.value.startswith(f"**1 / {len(order)}** · `{order[0]}`") for m in at.markdown)
    assert any("not in the cache yet" in c.value for c in at.caption)
    at.button(key="browse.dlg.compute").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert not any("not in the cache yet" in c.value for c in at.caption)
    maps = [im for im in at.get("image") if "epoch 3" in im.captions]
    assert len(maps) == 1 and maps[0].captions == ["epoch 3", "epoch 12"]
    assert any(m.value.startswith("**Tag history** (0 event(s))") for m in at.markdown)


def test_embeddings_page_projects_and_colours(app_world, tmp_path, monkeypatch, truth):
    ds, _ = truth
    at = start(app_world, tmp_path, monkeypatch, "embeddings", {"method": "pca"})
    n = len(ds.split("query")) + len(ds.split("gallery"))
    assert any(c.value.startswith(f"epoch 12 · PCA (the first two principal axes) of {n} photos")
               for c in at.caption)  # fmt: skip
    chart = at.get("plotly_chart")[0]
    assert '"customdata"' in chart.proto.spec
    assert any("Nothing selected" in i.value for i in at.info)
    at.selectbox(key="emb.colour").set_value("outcome").run()
    assert at.query_params["colour"] == "outcome" and at.query_params["method"] == "pca"
    at.multiselect(key="emb.f.split").set_value(["train", "query", "gallery"]).run()
    at.selectbox(key="emb.method").set_value("auto").run()
    assert not at.exception, [e.message for e in at.exception]
    expect = "UMAP (umap-learn)" if umap_available() else "PCA"
    assert any(c.value.startswith(f"epoch 12 · {expect}") for c in at.caption)
    assert any(f"of {len(ds.table)} photos" in c.value for c in at.caption)


def test_photos_picked_on_the_map_are_listed_and_tagged(app_world, tmp_path, monkeypatch, truth):
    ds, _ = truth
    at = start(app_world, tmp_path, monkeypatch, "embeddings")
    picked = ds.split("gallery")["image"].tolist()[:3]

    def keep() -> AppTest:
        # AppTest cannot drag a lasso and its chart reports no selection on any run: put the
        # handler's result where the page keeps it across a rerun
        at.session_state["emb.picked"] = picked
        at.session_state["emb.bulk.applied"] = True
        return at

    keep().run()
    assert any(h.value == "3 selected on the map" for h in at.subheader)
    assert [c.key[len("emb.sel.") :] for c in at.checkbox if c.key.startswith("emb.sel.")] == picked
    keep().button(key="emb.select_page").click().run()
    keep().text_input(key="workspace.annotator").input("carol").run()
    keep().multiselect(key="emb.bulk.add").select("pose").run()
    keep().button(key="emb.bulk.apply").click().run()
    assert any("on 3 photo(s)" in s.value for s in at.success)
    state = TagStore(tmp_path / "tags.sqlite").current()
    assert sorted(state["image"]) == sorted(picked)
    assert set(state["artifacts"]) == {"pose"} and set(state["annotator"]) == {"carol"}
    # the map's colours follow the store: colour by artifact now shows the tag
    at.selectbox(key="emb.colour").set_value("artifact").run()
    assert '"pose"' in at.get("plotly_chart")[0].proto.spec


def test_a_saved_view_opens_its_filters_again(app_world, tmp_path, monkeypatch, truth):
    ds, _ = truth
    at = start(app_world, tmp_path, monkeypatch, "browse", {"annotator": "vera"})
    at.multiselect(key="browse.f.split").select("query").run()
    assert shown_count(at)[0] == len(ds.split("query"))
    at.text_input(key="browse.views.name").input("queries only").run()
    at.button(key="browse.views.save").click().run()
    assert any(s.value == "Saved the view 'queries only'." for s in at.success)
    from curation.store import TagStore

    saved = TagStore(tmp_path / "tags.sqlite", dataset=ds).views(page="browse")
    assert saved["name"].tolist() == ["queries only"]
    assert saved.iloc[0]["params"]["split"] == "query" and saved.iloc[0]["annotator"] == "vera"
    at.multiselect(key="browse.f.split").set_value(["train"]).run()
    assert shown_count(at)[0] == len(ds.split("train"))
    at.selectbox(key="browse.views.pick").set_value("queries only").run()
    at.button(key="browse.views.open").click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.multiselect(key="browse.f.split").value == ["query"]
    assert shown_count(at)[0] == len(ds.split("query"))


def test_stored_detections_leave_out_rejected_and_below_threshold():
    from ui.browse_data import stored_detections

    found = pd.DataFrame({
        "image": ["a.jpg", "a.jpg", "b.jpg", "c.jpg"],
        "artifact": ["tongue", "hands", "glare", "collar"],
        "detected": [True, True, False, True],
        "review": ["unreviewed", "confirmed", "unreviewed", "rejected"],
    })  # fmt: skip
    assert stored_detections(found).to_dict() == {"a.jpg": "hands;tongue"}
    assert stored_detections(found.iloc[:0]).empty


def test_browse_reads_the_stores_machine_tags_without_a_file(app_world, tmp_path, monkeypatch):
    from curation.store import TagStore

    ds = load_dataset(app_world["data"])
    image = ds.split("train")["image"].iloc[0]
    with TagStore(tmp_path / "tags.sqlite", dataset=ds) as ts:
        ts.add_detections(pd.DataFrame({
            "image": [image], "artifact": ["collar"], "score": [0.9], "threshold": [0.5],
            "region": ["[]"], "detector": ["detector:collar@1"],
        }))  # fmt: skip
    at = start(app_world, tmp_path, monkeypatch, "browse")
    assert any("tag store's machine tags (1 photos)" in c.value for c in at.sidebar.caption)
    at.multiselect(key="browse.f.detection").select("collar").run()
    assert tiles(at) == [image]
