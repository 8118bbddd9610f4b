"""Every page through app.py with Streamlit's AppTest, on a small generated dataset and series.

Each test clears Streamlit's caches, points the workspace at its own files through the
WORKBENCH_* variables (the test's tmp_path is the workspace; the shared generated data is an
allowed root) and asserts what the page rendered (numbers, tables, store contents).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from curation.dataset import load_dataset
from curation.store import TagStore
from explain.retrieval.series import evaluate_series
from tests.apptest import open_app
from workbench.train import Recipe

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app(app_world, tmp_path, monkeypatch) -> AppTest:
    return open_app(app_world, tmp_path, monkeypatch)


def frame(at: AppTest, column: str) -> pd.DataFrame:
    """The first table on the page that has ``column`` (AppTest does not expose table keys)."""
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with a {column!r} column on the page")


def open_page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_overview_shows_counts_checkpoints_and_store(app, app_world):
    ds = load_dataset(app_world["data"])
    counts = ds.counts()
    metrics = {m.label: (m.value, m.delta) for m in app.metric}
    for split in ("train", "query", "gallery"):
        assert metrics[split] == (
            f"{counts.at[split, 'images']} photos",
            f"{counts.at[split, 'posts']} posts",
        )
    assert (
        metrics["ground truth"][0]
        == f"{ds.table.loc[ds.table['polluted'], 'post_id'].nunique()} polluted"
    )
    table = frame(app, "architecture")
    assert table["epoch"].tolist() == [3, 12]
    assert table["architecture"].tolist() == ["osnet_x0_25"] * 2
    assert table["input (H×W)"].tolist() == ["128×64"] * 2
    assert metrics["events"][0] == "0"
    assert any("never be found" in i.value for i in app.info)  # the query without gallery


def test_bad_workspace_paths_show_errors_with_the_fix(app, app_world, tmp_path):
    app.text_input(key="workspace.data").input(str(tmp_path / "nowhere")).run()
    assert not app.exception
    assert any(
        e.value == f"The dataset `{tmp_path / 'nowhere'}` does not exist. Enter a dataset "
        "folder (train/ query/ gallery/) or a manifest .csv/.parquet."
        for e in app.error
    ), [e.value for e in app.error]
    (tmp_path / "empty").mkdir()
    app.text_input(key="workspace.data").input(str(tmp_path / "empty")).run()
    assert any("cannot be used" in e.value for e in app.error)
    app.text_input(key="workspace.data").input(str(app_world["data"])).run()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.pth.tar-5").write_bytes(b"not a checkpoint at all")
    app.text_input(key="workspace.checkpoints").input(str(broken)).run()
    assert not app.exception
    assert any("cannot be loaded" in e.value for e in app.error)
    app.text_input(key="workspace.checkpoints").input(str(tmp_path / "none")).run()
    assert not app.exception
    assert f"The checkpoint folder `{tmp_path / 'none'}` does not exist." in app.error[0].value


def test_reload_from_disk_forgets_the_caches(app, monkeypatch):
    from ui import loaders

    calls = []

    def counted(path, **kw):
        calls.append(path)
        return load_dataset(path, **kw)

    monkeypatch.setattr(loaders, "load_dataset", counted)
    app.run()
    assert calls == []  # cached
    app.button(key="workspace.reload").click().run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert len(calls) == 1


def test_checkpoints_page_metrics_equal_the_library(app, app_world):
    at = open_page(app, "checkpoints")
    ev = evaluate_series(load_dataset(app_world["data"]), app_world["series"], cache_dir=None)
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    for _, row in ev.metrics.iterrows():
        assert shown[row["label"]] == (f"mAP {row['mAP']:.1%}", f"rank-1 {row['rank1']:.1%}")
    table = frame(at, "trajectory")
    assert len(table) == int(ev.metrics["num_query"].iloc[0])
    assert table["rank epoch 12"].tolist()[:3] == ev.per_query[1]["rank"].tolist()[:3]
    assert set(table["trajectory"]) <= {"always found", "found later", "lost", "never found",
                                        "not in gallery"}  # fmt: skip
    at.multiselect(key="ckpt.trajectory").select("not in gallery").run()
    assert len(frame(at, "trajectory")) == int((~ev.per_query[0]["in_gallery"]).sum())
    assert len(at.get("plotly_chart")) == 4
    yard = frame(at, "matcher")  # checkpoints next to the trivial baselines, same metrics code
    assert yard["kind"].tolist() == ["checkpoint"] * len(ev.metrics) + ["baseline"] * 2
    from explain.retrieval.baselines import evaluate_baselines

    base = dict(evaluate_baselines(load_dataset(app_world["data"])))
    got = yard.set_index("matcher")
    assert got.at["colour histogram", "mAP"] == pytest.approx(
        base["colour histogram"].summary["mAP"]
    )
    assert got.at["epoch 12", "rank1"] == pytest.approx(float(ev.metrics["rank1"].iloc[1]))


def test_heatmaps_page_grid_scores_and_difference(app):
    at = open_page(app, "heatmaps")
    at.multiselect(key="hm.methods").set_value(["gradcam", "randomcam"]).run()
    assert not at.exception, [e.message for e in at.exception]
    scores = frame(at, "on animal")
    assert sorted(scores["method"].unique()) == ["gradcam", "randomcam"]
    assert set(scores["side"]) == {"query", "match"}  # a pair: both sides scored
    assert scores[scores["side"] == "query"]["checkpoint"].tolist().count("epoch 12") == 2
    on_animal = scores["on animal"].dropna()  # percentages
    assert ((on_animal >= 0) & (on_animal <= 100)).all()
    assert any("animal mask: ground truth" in c.value for c in at.caption)
    assert any("Rank correlation of consecutive maps" in c.value for c in at.caption)
    # the query chosen here stays chosen on the Triage page
    query = at.selectbox(key="hm.query").value
    at = open_page(at, "triage")
    assert query in at.markdown[next(i for i, m in enumerate(at.markdown) if "/ " in m.value)].value


def test_triage_saves_buckets_artifacts_notes_and_undo(app, tmp_path):
    at = open_page(app, "triage")
    at.button(key="triage.b.worked").click().run()
    assert any("Annotator" in w.value for w in at.warning)  # no name yet: nothing saved
    store = TagStore(tmp_path / "tags.sqlite")
    assert store.count() == 0
    at.text_input(key="workspace.annotator").input("alice").run()
    nav = next(m.value for m in at.markdown if m.value.startswith("**1 / "))
    first = re.search(r"`([^`]+)`", nav).group(1)
    at.button(key="triage.b.spurious").click().run()
    state = store.current()
    assert state.set_index("image").at[first, "bucket"] == "spurious"
    assert state.set_index("image").at[first, "annotator"] == "alice"
    assert any(s.value.startswith("Saved: ") for s in at.success)
    # the next query is on screen now; tag an artifact on it, then undo twice
    nav = next(m.value for m in at.markdown if m.value.startswith("**2 / "))
    second = re.search(r"`([^`]+)`", nav).group(1)
    at.button(key="triage.a.tongue").click().run()
    assert store.current().set_index("image").at[second, "artifacts"] == "tongue"
    at.button(key="triage.undo").click().run()
    assert second not in set(store.current()["image"])
    at.button(key="triage.undo").click().run()
    assert store.current().empty
    assert store.count() == 4  # two actions, two undo events: nothing is deleted


def test_curate_preview_matches_ground_truth_and_exports(app, app_world, tmp_path):
    at = open_page(app, "curate")
    ds = load_dataset(app_world["data"])
    polluted = ds.table[ds.table["polluted"].astype(bool)]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["photos removed"] == str(len(polluted))
    assert metrics["posts touched"] == str(polluted["post_id"].nunique())
    out = tmp_path / "export"
    at.text_input(key="curate.out").input(str(out)).run()
    at.button(key="curate.export").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any(s.value.startswith(f"Wrote {out}") for s in at.success), [
        s.value for s in at.success
    ]
    cleaned = load_dataset(out / "manifest.csv", follow_links=True)  # links to the source
    assert len(cleaned.table) == len(ds.table) - len(polluted)
    assert not set(cleaned.table["post_id"]) & set(polluted["post_id"])
    assert (out / "provenance.json").exists() and (out / "worked").is_dir()


def test_search_finds_a_query_photo_itself(app, app_world):
    at = open_page(app, "search")
    ds = load_dataset(app_world["data"])
    at.selectbox(key="search.example").set_value(ds.split("query")["image"].iloc[0]).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.metric and at.metric[0].label.startswith("Best match: post ")
    assert re.fullmatch(r"\d+% confidence", at.metric[0].value)
    shown = at.number_input(key="search.posts").value
    posts = ds.split("gallery")["post_id"].nunique()
    strip = at.get("image")[0].proto.imgs
    assert len(strip) == 1 + min(shown, posts)
    assert strip[0].caption == "your photo" and strip[1].caption.startswith("#1 post ")
    assert np.isfinite(float(re.search(r"similarity (-?[\d.]+)", at.metric[0].delta).group(1)))


def test_compare_page_shows_deltas_grids_and_writes_the_report(app, app_world, tmp_path):
    at = open_page(app, "compare")
    at.text_input(key="compare.curated").input(str(app_world["curated"])).run()
    at.number_input(key="compare.n").set_value(2).run()
    at.number_input(key="compare.limit").set_value(10).run()
    at.button(key="compare.run").click().run()
    assert not at.exception, [e.message for e in at.exception]
    deltas = frame(at, "delta")
    assert set(deltas["epoch"]) == {3, 12}
    base = evaluate_series(load_dataset(app_world["data"]), app_world["series"], cache_dir=None)
    row = deltas[(deltas["epoch"] == 12) & (deltas["subset"] == "all")]
    row = row[row["measure"] == "mAP"].iloc[0]
    assert row["baseline"] == pytest.approx(base.metrics["mAP"].iloc[1], abs=1e-6)
    assert row["delta"] == pytest.approx(row["curated"] - row["baseline"], abs=1e-9)
    assert len(at.get("image")) >= 1  # the heatmap grid
    at.text_input(key="compare.out").input(str(tmp_path / "report")).run()
    at.button(key="compare.write").click().run()
    assert (tmp_path / "report" / "report.html").exists()
    assert any("report.html" in s.value for s in at.success)


def test_retrain_page_runs_a_background_training_job(app, app_world, tmp_path, monkeypatch):
    from workbench import jobs

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path / "ws"))
    at = open_page(app, "curate")
    at.text_input(key="curate.out").input(str(tmp_path / "ws" / "exports" / "cleaned")).run()
    at.button(key="curate.export").click().run()
    recipe = tmp_path / "ws" / "recipe.json"
    tiny = Recipe(height=64, width=32, epochs=1, save_at=(1,), batch_size=8, num_instances=2)
    recipe.write_text(json.dumps({"recipe": dataclasses.asdict(tiny)}))
    at = open_page(at, "retrain")
    assert at.text_input(key="retrain.manifest").value.endswith("cleaned/manifest.csv")
    at.text_input(key="retrain.recipe").input(str(recipe)).run()
    at.text_input(key="retrain.out").input(str(tmp_path / "ws" / "new")).run()
    assert any(f"--recipe {recipe}" in c.value for c in at.code)
    at.button(key="retrain.start").click().run()
    assert any(s.value.startswith("Started job") for s in at.success)
    job = jobs.current_job(tmp_path / "ws")
    assert job.wait(timeout=240) == "succeeded", jobs.read_log(job)
    assert (tmp_path / "ws" / "new" / "model.pth.tar-1").exists()
    at.run()
    assert any("Finished" in s.value for s in at.success)


def test_every_page_renders_without_errors(app):
    pages = ("home", "checkpoints", "heatmaps", "triage", "curate", "retrain", "compare", "search")
    for page in pages:
        at = open_page(app, page)
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title, page


def test_two_annotators_see_each_others_tags(app_world, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA", str(app_world["data"]))
    monkeypatch.setenv("WORKBENCH_CHECKPOINTS", str(app_world["series"]))
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "shared.sqlite"))
    monkeypatch.setenv("WORKBENCH_CACHE", str(app_world["base"] / "cache"))
    st.cache_data.clear()
    st.cache_resource.clear()
    ann, bob = (
        AppTest.from_file(APP, default_timeout=180),
        AppTest.from_file(APP, default_timeout=180),
    )
    for at, name in ((ann, "ann"), (bob, "bob")):
        at.run()
        at.text_input(key="workspace.annotator").input(name).run()
        open_page(at, "triage")
    total = len(load_dataset(app_world["data"]).split("query"))
    assert any(p.proto.text == f"0 of {total} queries reviewed" for p in bob.get("progress"))
    ann.button(key="triage.b.missed").click().run()
    bob.run()  # a refresh in the other browser
    assert any(p.proto.text == f"1 of {total} queries reviewed" for p in bob.get("progress"))
    state = TagStore(tmp_path / "shared.sqlite").current()
    assert state["annotator"].tolist() == ["ann"] and state["bucket"].tolist() == ["missed"]


def test_curate_controls_come_from_the_rule_catalog(app):
    from curation.rules import CATALOG

    at = open_page(app, "curate")
    assert [at.toggle(key=f"curate.{r.name}").value for r in CATALOG] == [
        r.on_by_default for r in CATALOG
    ]
    for r in CATALOG:
        at.toggle(key=f"curate.{r.name}").set_value(True)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    kinds = {"bool": at.toggle, "int": at.number_input, "float": at.number_input,
             "choice": at.selectbox, "multi": at.multiselect}  # fmt: skip
    for r in CATALOG:
        for p in r.params:
            widget = kinds[p.kind](key=f"curate.{r.name}.{p.name}")
            want = p.label[:1].upper() + p.label[1:]  # written for people, not the raw name
            assert widget.label == want and f"{r.name}:{p.name}=" in widget.help, (r.name, p.name)
    # the sample carries ground truth: the artifact source defaults to tags and manifest
    assert at.selectbox(key="curate.homogeneous_artifact.source").value == "tags+manifest"
    assert at.number_input(key="curate.quality_flags.blur").value == 30.0


def test_the_sidebar_starts_from_the_settings(app_world, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_ALLOWED_ROOTS", str(app_world["base"]))
    monkeypatch.setenv("WORKBENCH_CACHE", str(app_world["base"] / "cache"))
    for var in ("WORKBENCH_DATA", "WORKBENCH_CHECKPOINTS", "WORKBENCH_STORE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("WORKBENCH_ANNOTATOR", "env-ann")
    (tmp_path / "workbench.toml").write_text(
        f'data = "{app_world["data"]}"\ncheckpoints = "{app_world["series"]}"\n'
        'store = "team.sqlite"\n'
    )
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.text_input(key="workspace.annotator").value == "env-ann"
    assert at.text_input(key="workspace.data").value == str(app_world["data"])
    assert at.text_input(key="workspace.store").value == str(tmp_path / "team.sqlite")
    assert not at.error, [e.value for e in at.error]
    (tmp_path / "workbench.toml").write_text("colour = 1\n")
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    assert "unknown setting(s) colour" in at.error[0].value
