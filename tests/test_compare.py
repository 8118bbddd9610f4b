"""Comparing two series: metric deltas (all and clean queries), artifact mass, counterfactual
drops, heatmap grids, the HTML report, and the cache making a second run compute nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from curation.dataset import load_dataset
from explain.compare.grid import HEADER, NAME_WIDTH
from explain.compare.report import ReportError, write_report
from explain.compare.series import compare_series, deltas, subset_metrics
from explain.heatmaps.cache import HeatmapCache


def series(folder: Path, seed: int) -> Path:
    from explain.models.adapter import build_model

    folder.mkdir(parents=True)
    for epoch in (1, 2):
        torch.manual_seed(seed * 10 + epoch)
        model = build_model("osnet_x0_25", 4)
        torch.save({"state_dict": model.state_dict(), "epoch": epoch, "arch": "osnet_x0_25",
                    "num_classes": 4, "height": 64, "width": 32},
                   folder / f"model.pth.tar-{epoch}")  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from workbench.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("compare")
    config = SynthConfig(seed=2, n_train_ids=6, n_test_ids=6, n_gallery_distractors=2,
                         n_query_without_gallery=0, height=64, width=32, test_artifact_rate=0.4,
                         polluted_fraction=0.5)  # fmt: skip
    generate(base / "pets", config)
    ds = load_dataset(base / "pets", check="none")
    return ds, series(base / "a", 1), series(base / "b", 2), base


def test_subset_metrics_by_hand():
    table = pd.DataFrame({
        "query": ["q1", "q2", "q3", "q4"], "in_gallery": [True, True, True, False],
        "rank": pd.array([1, 3, 7, pd.NA], dtype="Int64"), "ap": [1.0, 0.5, 0.2, np.nan],
        "inp": [1.0, 0.25, 0.1, np.nan],
    })  # fmt: skip
    m = subset_metrics(table)
    assert m["num_query"] == 4 and m["num_valid"] == 3
    assert m["mAP"] == pytest.approx(1.7 / 3) and m["rank1"] == pytest.approx(1 / 3)
    assert m["rank5"] == pytest.approx(2 / 3) and m["rank10"] == 1.0
    assert m["mINP"] == pytest.approx(1.35 / 3)
    only = subset_metrics(table, table["query"].isin(["q2", "q4"]))
    assert only["num_valid"] == 1 and only["mAP"] == 0.5 and only["rank1"] == 0.0


def test_deltas_match_epochs_by_number():
    t = pd.DataFrame({"series": ["baseline", "baseline", "curated", "curated"],
                      "epoch": [3, 12, 3, 30], "x": [0.5, 0.6, 0.7, 0.9]})  # fmt: skip
    d = deltas(t, ["epoch"], ["x"])
    assert d.to_dict("records") == [
        {"epoch": 3, "measure": "x", "baseline": 0.5, "curated": 0.7, "delta": pytest.approx(0.2)}
    ]


def test_compare_two_series_and_write_the_report(world, tmp_path, monkeypatch):
    from explain.retrieval.series import evaluate_series

    ds, a, b, base = world
    cache = HeatmapCache(base / "cache")
    stages = set()
    cmp = compare_series(ds, a, b, methods=["gradcam"], n_queries=3, limit=8, cache=cache,
                         progress=lambda s, d, t: stages.add(s.split()[0]))  # fmt: skip
    assert {"embeddings", "heatmaps", "counterfactuals", "grid"} <= stages

    m = cmp.metrics
    assert len(m) == 8 and set(m["subset"]) == {"all", "clean"}
    ev = evaluate_series(ds, b, cache_dir=None)
    got = m[(m["series"] == "curated") & (m["epoch"] == 2) & (m["subset"] == "all")].iloc[0]
    want = ev.metrics.iloc[1]
    for col in ("mAP", "rank1", "rank5", "rank10", "mINP"):
        assert got[col] == pytest.approx(want[col])
    query = ds.split("query")
    clean = (query["artifacts"].fillna("") == "").sum()
    assert cmp.meta["clean_queries"] == clean and 0 < clean < len(query)
    assert m.loc[m["subset"] == "clean", "num_query"].eq(clean).all()
    d = cmp.metric_deltas
    assert len(d) == 2 * 2 * 5  # epochs x subsets x metrics
    np.testing.assert_allclose(d["delta"], d["curated"] - d["baseline"])
    pq = cmp.per_query  # the rows the bootstrap intervals resample
    first = pq[(pq["series"] == "baseline") & (pq["epoch"] == 1)]
    got_map = m[(m["series"] == "baseline") & (m["epoch"] == 1) & (m["subset"] == "all")]["mAP"]
    assert first["ap"].mean() == pytest.approx(float(got_map.iloc[0]))

    mass = cmp.artifact_mass
    assert {"any", "hands"} <= set(mass["artifact"]) and set(mass["series"]) == {
        "baseline", "curated"}  # fmt: skip
    assert mass["mass_mean"].dropna().between(0, 1).all()
    assert len(cmp.artifact_deltas) > 0
    cf = cmp.counterfactual
    assert set(cf["group"]) >= {"all", "polluted"} and (cf["n"] > 0).all()

    grid = Image.open(cmp.grids["gradcam"])
    assert grid.size == (NAME_WIDTH + 4 * 32, HEADER + 3 * 64 + 4 + 10 + 14)  # + colour bar
    assert cmp.columns == ["baseline e1", "baseline e2", "curated e1", "curated e2"]
    assert len(cmp.queries) == 3

    report = write_report(cmp, tmp_path / "report")
    html = report.read_text()
    assert "<script src='plotly.min.js'></script>" in html and "cdn.plot.ly" not in html
    assert (tmp_path / "report" / "plotly.min.js").stat().st_size > 1_000_000
    from explain.compare.intervals import headline, series_intervals

    assert f"<h2 class='headline'>{headline(series_intervals(cmp.per_query))}</h2>" in html
    assert html.count("<tr style='background:") == 2 * 2 * 2  # epochs x subsets x measures
    for name in ("metrics", "metric_deltas", "artifact_mass", "counterfactual_deltas"):
        assert not pd.read_csv(tmp_path / "report" / f"{name}.csv").empty
    assert (tmp_path / "report" / "grid_gradcam.png").is_file()
    assert write_report(cmp, tmp_path / "report") == report  # an earlier report is replaced
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ReportError, match="holds no earlier report"):
        write_report(cmp, tmp_path / "other")

    # the second run reads every heatmap from the cache
    import functools

    from explain.heatmaps.catalog import METHODS, get_method

    calls = []
    real = get_method("gradcam")

    @functools.wraps(real)
    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setitem(METHODS, "gradcam", counted)
    again = compare_series(ds, a, b, methods=["gradcam"], n_queries=3, limit=8, cache=cache)
    assert calls == []
    # the same maps, read back at float16 precision
    pd.testing.assert_frame_equal(again.artifact_mass, cmp.artifact_mass, rtol=1e-3)


def test_a_series_against_itself_changes_nothing(world, tmp_path):
    ds, a, _, _ = world
    cmp = compare_series(ds, a, a, methods=["gradcam"], n_queries=1, limit=6,
                         cache=HeatmapCache(tmp_path / "cache"))  # fmt: skip
    assert (cmp.metric_deltas["delta"].abs() < 1e-12).all()
    # the second series reads the first one's maps from the cache, at float16 precision
    ad = cmp.artifact_deltas
    assert set(ad["measure"]) == {"mass_mean", "enrichment_mean"}
    assert (ad.loc[ad["measure"] == "mass_mean", "delta"].abs() < 1e-4).all()
    assert (ad.loc[ad["measure"] == "enrichment_mean", "delta"].abs() < 1e-2).all()
    assert (cmp.counterfactual_deltas["delta"].abs() < 1e-6).all()
    assert cmp.meta["recipe_differences"] == {} and cmp.meta["matched_epochs"] == [1, 2]


def test_compare_command(world, tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    ds, a, b, base = world
    out = tmp_path / "report"
    args = ["compare", str(a), str(b), "--data", str(ds.root), "--out", str(out), "--queries",
            "3", "--limit", "8", "--cache", str(base / "cache")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert (
        "Retrieval (curated - baseline)" in result.output and "recipes: the same" in result.output
    )
    assert (out / "report.html").is_file() and (out / "grid_gradcam.png").is_file()
    bad = CliRunner().invoke(main, [*args[:3], "--data", str(ds.root), "--methods", "nope"])
    assert bad.exit_code != 0 and "unknown method(s) nope" in bad.output


def test_without_ground_truth_clean_queries_and_regions_come_from_the_store(world, tmp_path):
    from curation.dataset import load_folder
    from curation.store import TagStore

    ds, a, b, _ = world
    plain = load_folder(ds.root, check="none")  # the folders alone: no ground truth
    assert not plain.has_ground_truth
    queries = plain.split("query")["image"].tolist()
    with TagStore(tmp_path / "t.sqlite") as store:
        for q in queries[:2]:
            store.set_bucket(q, "worked", "alice")
        store.set_artifacts(queries[1], ["tongue"], "alice",
                            regions=[{"artifact": "tongue", "kind": "box",
                                      "points": [[4, 20], [28, 44]]}])  # fmt: skip
        tags = store.current()
    untagged = compare_series(plain, a, b, n_queries=2, limit=4, cache=HeatmapCache(tmp_path))
    assert untagged.meta["clean_queries"] == 0 and untagged.artifact_mass.empty
    cmp = compare_series(plain, a, b, n_queries=2, limit=4, cache=HeatmapCache(tmp_path),
                         tags=tags)  # fmt: skip
    assert cmp.meta["clean_queries"] == 1 and cmp.meta["clean_from"] == "tag store"
    clean = cmp.metrics[cmp.metrics["subset"] == "clean"]
    assert len(clean) == 4 and (clean["num_query"] == 1).all()  # 2 series x 2 epochs
    mass = cmp.artifact_mass
    assert set(mass["artifact"]) == {"tongue", "any"} and (mass["n"] == 1).all()
    assert mass["mass_mean"].between(0, 1).all() and len(mass) == 2 * 2 * 2
    assert set(cmp.artifact_deltas["artifact"]) == {"tongue", "any"}
