"""The Diagnose page through app.py (AppTest): run the diagnosis, read it back, show it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest import open_app


@pytest.fixture
def page(app_world, tmp_path, monkeypatch) -> AppTest:
    return open_app(app_world, tmp_path, monkeypatch, "diagnose", timeout=240)


def test_the_page_runs_the_diagnosis_and_shows_every_answer(page, tmp_path):
    assert any("No diagnosis in" in i.value for i in page.info)
    out = page.text_input(key="diagnose.out").value
    assert out == str(tmp_path / "diagnosis" / "epoch-12")
    page.button(key="diagnose.run").click().run()
    assert not page.exception, [e.message for e in page.exception]
    assert not page.error, [e.value for e in page.error]
    d = json.loads((Path(out) / "diagnosis.json").read_text())
    md = "\n".join(m.value for m in page.markdown)
    assert d["summary"][0] in md
    metrics = {m.label: m.value for m in page.metric}
    seg = d["segmentation"]["shares"]["background"]
    table = next(t.value for t in page.dataframe if "95 % low" in t.value.columns)
    row = table[table["measure"] == "attribution on the background"].iloc[0]
    assert (row["value"], row["95 % low"], row["95 % high"]) == (seg["value"], seg["low"],
                                                                 seg["high"])  # fmt: skip
    assert metrics["Posts mixing sides"] == f"{d['pose']['mixed_posts']} of {d['pose']['posts']}"
    assert any("Not measured: run `workbench experiment" in i.value for i in page.info)
    assert len(page.get("plotly_chart")) >= 3


def test_a_folder_outside_the_workspace_is_refused(page):
    page.text_input(key="diagnose.out").input("/etc/diagnosis").run()
    assert any("outside the folders" in e.value for e in page.error)
