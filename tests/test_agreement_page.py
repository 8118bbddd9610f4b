"""The Agreement page: kappa per pair and overall, conflicts linking to Triage."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from streamlit.testing.v1 import AppTest

from curation.dataset import load_dataset
from curation.store import TagStore
from curation.store_agreement import cohen_kappa
from tests.apptest import open_app


@pytest.fixture
def app(app_world, tmp_path, monkeypatch):
    def open_page() -> AppTest:  # opened after the test has written the store
        return open_app(app_world, tmp_path, monkeypatch, "agreement")

    return open_page


def _links(at: AppTest) -> list[tuple[str, dict]]:
    """(label, query parameters) of every page link on the page."""
    return [(el.proto.label, dict(parse_qsl(el.proto.query_string))) for el in at.get("page_link")]


def test_agreement_page_shows_kappa_and_links_conflicts(app, app_world, tmp_path):
    ds = load_dataset(app_world["data"])
    queries = ds.split("query")["image"].tolist()[:4]
    ann = ["worked", "missed", "spurious", "worked"]
    bob = ["worked", "spurious", "spurious", "worked"]
    with TagStore(tmp_path / "tags.sqlite", dataset=ds) as store:
        for image, a, b in zip(queries, ann, bob, strict=True):
            store.set_bucket(image, a, "ann")
            store.set_bucket(image, b, "bob")
        store.set_artifacts(queries[0], ["tongue"], "ann")
        store.set_artifacts(queries[0], ["hands"], "cat")
        store.set_bucket(queries[1], "spurious", "cat")  # cat decides one query only
    at = app()
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["annotators"][0] == "3"
    # Fleiss over the queries all three decided: one, so undefined
    assert metrics["Fleiss' kappa"] == ("undefined", "over 1 queries")
    assert metrics["conflicts"][0] == "2"  # a bucket conflict (3 votes), an artifact one (2)
    pairs = next(df.value for df in at.dataframe if "Cohen's kappa" in df.value.columns)
    assert pairs[["annotator", "and", "queries both decided"]].values.tolist() == [
        ["ann", "bob", 4],
        ["ann", "cat", 1],
        ["bob", "cat", 1],
    ]
    assert pairs["Cohen's kappa"].iloc[0] == f"{cohen_kappa(ann, bob):.3f}"
    links = _links(at)
    assert (queries[1], {"query": queries[1]}) in links
    assert ("as bob", {"query": queries[1], "annotator": "bob"}) in links
    assert any("ann: missed; bob: spurious; cat: spurious" in m.value for m in at.markdown)


def test_agreement_page_with_one_annotator_says_what_is_needed(app, app_world, tmp_path):
    ds = load_dataset(app_world["data"])
    with TagStore(tmp_path / "tags.sqlite", dataset=ds) as store:
        store.set_bucket(ds.split("query")["image"].iloc[0], "worked", "ann")
    at = app()
    assert any("needs two annotators" in i.value for i in at.info)
    assert any("No conflicts" in s.value for s in at.success)
