"""The Heatmaps page through AppTest: each side of a pair scored on its own photo's regions,
captions that agree with the table, J / K, and the address."""

from __future__ import annotations

import re

import pytest

from curation.dataset import load_dataset
from explain.heatmaps.explorer import explain_query, photo, regions_for, scores_table
from explain.models.series import load_series
from tests import test_app
from tests.test_app import frame, open_page
from tests.test_app_triage import open_page_keeping

app = test_app.app  # the fixture, shared with the other page tests


def gradcam_pair(app):
    at = open_page(app, "heatmaps")
    at.multiselect(key="hm.methods").set_value(["gradcam"]).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_the_match_side_is_scored_on_the_match_photos_own_regions(app, app_world):
    at = gradcam_pair(app)
    query = at.selectbox(key="hm.query").value
    target = at.selectbox(key="hm.target").value
    match = re.match(r"match #\d+ (\S+)", target).group(1)
    ds = load_dataset(app_world["data"])
    models = list(load_series(app_world["series"]))
    size = models[0].input_size
    q, m = photo(ds, query, size), photo(ds, match, size)
    exp = explain_query(models, q, ["gradcam"], match=m)
    own = scores_table(exp.match["gradcam"], regions_for(ds, match, size, picture=m.picture))
    table = frame(at, "side")
    shown = table[table["side"] == "match"].set_index("checkpoint")["on animal"]
    for label in ("epoch 3", "epoch 12"):
        want = own[(own["label"] == label) & (own["region"] == "animal")]["mass"].iloc[0]
        assert shown[label] == pytest.approx(want * 100, abs=0.05)  # cached maps: float16
    caption = next(c.value for c in at.caption if c.value.startswith("Query — "))
    assert "| match — animal mask: ground truth" in caption


def test_captions_show_the_digits_of_the_table(app):
    at = gradcam_pair(app)
    table = frame(at, "side")
    row = table[(table["side"] == "query")].iloc[0]
    caption = next(c.value for c in at.caption if c.value.startswith("query · animal "))
    assert f"animal {row['on animal']:.2f} %" in caption


def test_j_and_k_move_through_the_queries(app):
    at = gradcam_pair(app)
    box = at.selectbox(key="hm.query")
    options, first = box.options, box.value
    at.button(key="hm.next").click().run()
    second = at.selectbox(key="hm.query").value
    assert second != first and any(o.startswith(f"{second} ·") for o in options)
    at.button(key="hm.prev").click().run()
    assert at.selectbox(key="hm.query").value == first
    assert at.button(key="hm.next").proto.shortcut.upper() == "J"
    assert at.button(key="hm.prev").proto.shortcut.upper() == "K"


def test_the_address_opens_the_same_view(app, app_world):
    ds = load_dataset(app_world["data"])
    query = ds.split("query")["image"].iloc[-1]
    at = open_page_keeping(app, "heatmaps", {"query": query, "method": "gradcam", "epoch": "3"})
    assert at.selectbox(key="hm.query").value == query
    assert at.multiselect(key="hm.methods").value == ["gradcam"]
    assert at.selectbox(key="hm.retrieval").value == "epoch 3"
    assert at.query_params["query"] == query and at.query_params["method"] == "gradcam"
    at = open_page_keeping(at, "heatmaps", {"bucket": "lost", "method": "magic"})
    warnings = [w.value for w in at.warning]
    assert any("bucket `lost`" in w for w in warnings), warnings
    assert any("method `magic`" in w for w in warnings), warnings
    assert not at.exception
