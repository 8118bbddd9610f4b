"""`tags list` shows the checkpoint an event named and the regions drawn."""

from __future__ import annotations

from click.testing import CliRunner

from curation.store import TagStore
from workbench.cli import main


def test_tags_list_keeps_the_model_and_shows_regions(tmp_path):
    store = str(tmp_path / "t.sqlite")
    base = ["tags", "--store", store, "--annotator", "alice"]
    runs = [
        [*base, "bucket", "query/1_1.jpg", "worked", "--model", "baseline", "--epoch", "60"],
        [*base, "artifacts", "query/1_1.jpg", "tongue", "--region", "tongue:box:10,10,40,40"],
        [*base, "bucket", "query/1_1.jpg", "spurious", "--epoch", "30"],  # epoch only
    ]
    for args in runs:
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    current = TagStore(store).current().iloc[0]
    assert (current["model"], int(current["epoch"])) == ("baseline", 30)
    out = CliRunner().invoke(main, ["tags", "--store", store, "list"]).output
    line = next(ln for ln in out.splitlines() if ln.startswith("query/1_1.jpg"))
    assert "tongue box 10,10-40,40" in line and " baseline " in line and "None" not in line
    csv = CliRunner().invoke(main, ["tags", "--store", store, "list", "--format", "csv"]).output
    assert '""points"":[[10.0,10.0],[40.0,40.0]]' in csv
