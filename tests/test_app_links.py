"""Checkpoints, Search, Retrain, Compare and Curate through AppTest: links from a table row to
the query, the chosen threshold on Search, and the forms' defects fixed."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from curation.dataset import load_dataset
from tests import test_app
from tests.test_app import open_page

app = test_app.app  # the fixture, shared with the other page tests


def test_found_at_and_not_at_never_name_one_checkpoint(app):
    at = open_page(app, "checkpoints")
    at.selectbox(key="ckpt.found_at").set_value("epoch 3").run()
    assert "epoch 3" not in at.selectbox(key="ckpt.not_at").options
    assert "epoch 12" in at.selectbox(key="ckpt.not_at").options


def test_a_selected_row_links_to_heatmaps_and_triage(app):
    at = open_page(app, "checkpoints")
    table = test_app.frame(at, "trajectory")
    at.session_state["ckpt.table"] = {"selection": {"rows": [1], "columns": []}}
    at.run()
    links = {p.proto.label: p.proto for p in at.get("page_link")}
    assert set(links) >= {"Open in Heatmaps", "Open in Triage"}, list(links)
    q = table["query"].iloc[1]
    assert links["Open in Triage"].page.endswith("triage")
    assert f"query={q.replace('/', '%2F')}" in links["Open in Triage"].query_string or (
        f"query={q}" in links["Open in Triage"].query_string
    )


def search_example(at, image: str):
    at.selectbox(key="search.example").set_value(image).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_search_says_which_threshold_and_uses_the_one_chosen_on_checkpoints(app, app_world):
    ds = load_dataset(app_world["data"])
    image = ds.split("query")["image"].iloc[0]
    at = search_example(open_page(app, "search"), image)
    assert any("plain 50 % cut" in c.value for c in at.caption)
    at.session_state["ckpt.chosen_threshold"] = {
        "checkpoint": "epoch 12", "calibration": "logistic", "gallery": True,
        "threshold": 0.999, "target": 0.9,
    }  # fmt: skip
    at.run()
    caption = next(c.value for c in at.caption if "Likely the same animal" in c.value)
    assert "from 1.00 on: the threshold chosen on the Checkpoints page for epoch 12" in caption
    p = int(at.metric[0].value.split("%")[0]) / 100
    want = "likely the same animal" if p >= 0.999 else "probably not the same animal"
    assert at.metric[0].delta.endswith(want)


def test_the_last_of_upload_and_example_is_searched_and_said(app, app_world):
    ds = load_dataset(app_world["data"])
    images = ds.split("query")["image"].tolist()
    at = open_page(app, "search")
    photo = ds.path(images[1]).read_bytes()
    at.file_uploader(key="search.upload").upload("lost-cat.jpg", photo, "image/jpeg").run()
    assert any(c.value.startswith("Searching your upload **lost-cat.jpg**") for c in at.caption)
    at = search_example(at, images[0])
    said = [c.value for c in at.caption if c.value.startswith("Searching")]
    assert said == [
        f"Searching the dataset photo **{images[0]}** (not your upload lost-cat.jpg: remove it "
        "or upload again to search it)"
    ]
    strip = at.get("image")[0].proto.imgs
    truth = ds.table.set_index("image").at[images[0], "post_id"]
    assert strip[1].caption.startswith("#1 post ") and truth  # the example's search, framed


@pytest.mark.parametrize("layout", ["gallery only", "queries without a match"])
def test_search_works_where_retrieval_cannot_be_evaluated(app_world, tmp_path, monkeypatch, layout):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tests.conftest import write_image

    root = tmp_path / "d"
    for post in range(4):
        for photo in (1, 2):
            write_image(root / "gallery" / f"{100 + post}_{photo}.jpg", seed=post * 10 + photo)
    if layout != "gallery only":
        write_image(root / "query" / "900_1.jpg", seed=99)
    monkeypatch.setenv("WORKBENCH_DATA", str(root))
    monkeypatch.setenv("WORKBENCH_CHECKPOINTS", str(app_world["series"]))
    monkeypatch.setenv("WORKBENCH_STORE", str(tmp_path / "tags.sqlite"))
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_ALLOWED_ROOTS", f"{app_world['base']}:{tmp_path}")
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(test_app.APP, default_timeout=180)
    at.run()
    at = open_page(at, "search")
    pick = at.selectbox(key="search.example").options[1]
    at = search_example(at, pick)
    assert not at.error, [e.value for e in at.error]
    strip = at.get("image")[0].proto.imgs  # the nearest posts (the confidence may be missing:
    assert strip[0].caption == "your photo"  # random tiny models calibrate on too little)
    assert strip[1].caption.startswith("#1 post ")


def test_export_asks_before_replacing_and_offers_downloads(app, tmp_path):
    at = open_page(app, "curate")
    default = at.text_input(key="curate.out").value
    assert re.search(r"exports/cleaned-\d{8}-\d{6}$", default), default
    out = tmp_path / "export"
    at.text_input(key="curate.out").input(str(out)).run()
    at.button(key="curate.export").click().run()
    assert any(s.value.startswith(f"Wrote {out}") for s in at.success)
    assert {d.proto.label for d in at.get("download_button")} == {
        "Download the manifest (CSV)", "Download manifest, removals and provenance (zip)",
    }  # fmt: skip
    first = (out / "provenance.json").stat().st_mtime_ns
    at.run()
    assert at.button(key="curate.export").proto.disabled  # exists: not without the box
    assert at.checkbox(key="curate.replace").value is False
    assert (out / "provenance.json").stat().st_mtime_ns == first
    at.checkbox(key="curate.replace").check().run()
    at.button(key="curate.export").click().run()
    assert not at.error, [e.value for e in at.error]
    assert (out / "provenance.json").stat().st_mtime_ns != first


def test_rule_controls_read_for_people(app):
    at = open_page(app, "curate")
    at.toggle(key="curate.homogeneous_artifact").set_value(True).run()
    unknown = at.selectbox(key="curate.homogeneous_artifact.unknown")
    assert unknown.label == "Tags on images not in the dataset"
    assert unknown.options == ["stop and list them", "leave them out"]
    assert at.number_input(key="curate.homogeneous_artifact.min_photos").label == (
        "Fewest photos a post needs"
    )


def test_retrain_keeps_its_form_when_you_come_back(app, tmp_path):
    at = open_page(app, "retrain")
    at.text_input(key="retrain.epochs").input("7").run()
    at.text_input(key="retrain.out").input(str(tmp_path / "ws-series")).run()
    at = open_page(at, "checkpoints")
    at = open_page(at, "retrain")
    assert at.text_input(key="retrain.epochs").value == "7"
    assert at.text_input(key="retrain.out").value == str(tmp_path / "ws-series")


def fake_job(home, name: str, out, *, rc: int, cancelled: bool = False) -> None:
    """A finished job folder as workbench.jobs leaves it (status, result, log)."""
    d = home / "jobs" / name
    d.mkdir(parents=True)
    cmd = ["python", "-m", "workbench.cli", "train", "--out", str(out)]
    status = {"job_id": name, "command": cmd, "pid": None, "started": "2026-01-01T00:00:00+00:00"}
    (d / "status.json").write_text(json.dumps(status))
    (d / "result.json").write_text(json.dumps({"returncode": rc, "finished": "2026-01-01"}))
    (d / "log.txt").write_text("training for 5 epochs\nepoch 2/5  loss 0.3\n")
    if cancelled:
        (d / "cancelled").write_text("2026-01-01\n")


def test_a_finished_series_links_to_compare_which_starts_with_it(app, app_world, tmp_path):
    new = tmp_path / "series" / "new"
    shutil.copytree(app_world["curated"], new)
    fake_job(tmp_path, "20260101-000000-a", new, rc=0)
    at = open_page(app, "retrain")
    link = next(
        p.proto for p in at.get("page_link") if p.proto.label == "Compare it with the baseline"
    )
    assert link.page.endswith("compare") and "series=" in link.query_string
    at = open_page(at, "compare")
    assert at.text_input(key="compare.curated").value == str(new)  # the newest trained series
    assert not at.button(key="compare.run").proto.disabled


def test_your_cancel_is_info_not_an_error(app, tmp_path):
    fake_job(tmp_path, "20260101-000001-b", tmp_path / "x", rc=-15, cancelled=True)
    at = open_page(app, "retrain")
    assert any(i.value == "Cancelled by you at epoch 2 of 5." for i in at.info), [
        i.value for i in at.info
    ]
    assert not any("cancelled" in e.value for e in at.error)


def test_compare_disables_run_for_series_without_a_shared_epoch(app, app_world, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    import torch

    ckpt = torch.load(app_world["curated"] / "model.pth.tar-3", weights_only=True)
    torch.save({**ckpt, "epoch": 5}, other / "model.pth.tar-5")
    at = open_page(app, "compare")
    at.text_input(key="compare.curated").input(str(other)).run()
    run = at.button(key="compare.run")
    assert run.proto.disabled and "share no epoch" in run.proto.help
