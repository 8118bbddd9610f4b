"""The diagnosis end to end on a small generated dataset, the command, and the sample's sides."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from curation.dataset import load_dataset
from explain.diagnose import report
from explain.diagnose.run import measure
from explain.models.series import load_series
from workbench.cli import main as cli
from workbench.facing_truth import sample_sides, side_truth

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "pets"


@pytest.fixture(scope="module")
def measured(app_world, tmp_path_factory):
    ds = load_dataset(app_world["data"])
    loaded = load_series(app_world["series"])[-1]
    truth = side_truth(sample_sides(app_world["data"]))
    cache = tmp_path_factory.mktemp("cache")
    return ds, measure(ds, loaded, cache_dir=cache, truth_sides=truth), cache


def test_measure_gives_shares_sides_and_paired_comparisons(measured):
    ds, m, _ = measured
    qg = ds.table[ds.table["split"] != "train"]
    assert sorted(m.photos["image"]) == sorted(qg["image"])
    shares = m.photos[["background", "animal", "intruder"]].to_numpy()
    ok = ~np.isnan(shares).any(axis=1)
    assert ok.all() and np.allclose(shares.sum(axis=1), 1.0)
    assert ((shares >= -1e-9) & (shares <= 1 + 1e-9)).all()
    # ground-truth masks exist in the generated manifest: both sources are reported
    assert "intruder_truth" in m.photos.columns
    assert set(m.photos["side"]) <= {-1, 1}
    assert m.spread["photos"].sum() == len(ds.table)
    a = m.alignment
    for arm in ("as_is", "aligned", "flip_average"):
        assert 0 <= a[arm]["mAP"].value <= 1
    pq = a["per_query"].dropna(subset=["ap_as_is"])
    assert a["gain_aligned"]["mAP"].value == pytest.approx(
        (pq["ap_aligned"] - pq["ap_as_is"]).mean()
    )
    assert "truth" in a  # alignment by the generator's sides, for scale
    assert m.cleaned_maps["as_is"] == pytest.approx(a["as_is"]["mAP"].value, abs=1e-6)


def test_report_is_written_read_back_and_ranks_the_unmeasured_last(measured, tmp_path):
    _, m, _ = measured
    rows = [{"arm": "baseline", "seed": s, "fraction": f, "mAP": 0.2 * f**0.5 * (1 + 0.05 * s)}
            for s in (0, 1) for f in (0.25, 0.5, 0.75, 1.0)]  # fmt: skip
    rows += [{"arm": "drop", "seed": s, "fraction": 1.0, "mAP": 0.25 + 0.01 * s} for s in (0, 1)]
    rows += [{"arm": "random-drop", "seed": s, "fraction": 1.0, "mAP": 0.19} for s in (0, 1)]
    results = pd.DataFrame(rows)
    d = report.build(m, results=results, dataset_name="tiny")
    gains = [r["gain"]["value"] for r in d["recommendation"]]
    assert all(r["measured"] for r in d["recommendation"]) and gains == sorted(gains)[::-1]
    drop = next(r for r in d["recommendation"] if r["name"] == "polluted posts: drop")
    assert drop["gain"]["value"] == pytest.approx(0.05)  # paired by seed
    assert "random-drop control -0.015" in drop["evidence"]  # the control is not a candidate
    assert not any("random-drop" in r["name"] for r in d["recommendation"])
    more = next(r for r in d["recommendation"] if r["name"] == "more data")
    assert more["gain"]["value"] == pytest.approx(0.205 * (1.25**0.5 - 1), abs=1e-9)
    files = report.write(d, tmp_path / "out")
    assert all(f.exists() for f in files)
    back, figs = report.read(tmp_path / "out")
    assert back == json.loads(json.dumps(d))
    assert set(figs) == {"segmentation", "dark_fur", "pose", "data", "ranking"}
    md = (tmp_path / "out" / "diagnosis.md").read_text()
    assert d["summary"][0] in md and "## Aligned poses?" in md
    empty = report.build(m)
    lines = [r["line"] for r in empty["recommendation"]]
    assert lines[-2].startswith("more data: not measured — run `workbench experiment --fractions")
    assert lines[-1].startswith("polluted posts: not measured")


def test_the_command_writes_the_diagnosis(app_world, measured, tmp_path):
    _, _, cache = measured
    out = tmp_path / "diag"
    r = CliRunner().invoke(cli, ["diagnose", "--data", str(app_world["data"]), "--checkpoints",
                                 str(app_world["series"]), "--cache", str(cache), "--epoch", "12",
                                 "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    d = json.loads((out / "diagnosis.json").read_text())
    assert d["info"]["epoch"] == 12
    assert d["pose"]["side_truth_known"] > 0
    assert "1. " in r.output and "not measured" in r.output
    bad = CliRunner().invoke(cli, ["diagnose", "--data", str(app_world["data"]), "--checkpoints",
                                   str(app_world["series"]), "--experiment", str(tmp_path),
                                   "--out", str(out)])  # fmt: skip
    assert bad.exit_code != 0 and "results.csv" in bad.output


@pytest.mark.skipif(not (SAMPLE / "synth.json").exists(), reason="the sample dataset is absent")
def test_the_shipped_sample_is_an_older_format_whose_sides_are_not_replayed():
    with pytest.raises(ValueError, match="format 1 of the generator; this one writes format 2"):
        sample_sides(SAMPLE, ["query/15268_2.jpg"])
    with pytest.raises(ValueError, match="not written by the sample generator"):
        sample_sides(SAMPLE.parent)


@pytest.fixture(scope="module")
def sided(tmp_path_factory):
    """A dataset of today's generator with many queries (their facing side replayable)."""
    from workbench.synth import SynthConfig, generate

    folder = tmp_path_factory.mktemp("sided") / "pets"
    generate(folder, SynthConfig(seed=5, n_train_ids=2, n_test_ids=40, n_gallery_distractors=0,
                                 n_query_without_gallery=0, photos_min=2, photos_max=3,
                                 height=128, width=64, counterfactual=False))  # fmt: skip
    return folder


def test_the_sides_are_replayed_from_the_generator(sided):
    ds = load_dataset(sided)
    images = list(ds.split("query")["image"])
    got = sample_sides(sided, images)
    assert set(got) == set(images)
    assert all(side in (-1, 1) for _, side in got.values())
    truth = side_truth(got)
    assert {truth[i] for i in images} <= {-1, 0, 1}
    assert all((truth[i] == 0) == (got[i][0] not in ("stand", "lie")) for i in images)


def test_a_dataset_of_another_generator_version_is_named_not_replayed(app_world, tmp_path):
    import shutil

    folder = tmp_path / "pets"
    shutil.copytree(app_world["data"], folder)
    info = json.loads((folder / "synth.json").read_text())
    info["config"]["future_option"] = 1
    (folder / "synth.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match="another version of the generator.*future_option"):
        sample_sides(folder)


def test_the_silhouette_rule_finds_the_generators_side(sided):
    from curation.images import load_rgb
    from curation.perception.silhouette import animal_mask
    from explain.diagnose.pose import side_accuracy, silhouette_side

    ds = load_dataset(sided)
    images = list(ds.split("query")["image"])
    truth = side_truth(sample_sides(sided, images))
    sides = [silhouette_side(animal_mask(np.asarray(load_rgb(ds.path(i)))).mask)[0]
             for i in images]  # fmt: skip
    t = np.array([truth[i] for i in images])
    assert (t != 0).sum() >= 15
    known = t != 0
    assert float((np.array(sides)[known] == t[known]).mean()) >= 0.9
    assert side_accuracy(np.array(sides), t) >= 0.9


def test_dark_fur_on_the_real_photos(real_pets):
    from curation.images import load_rgb
    from curation.perception.silhouette import silhouette, threshold_mask
    from explain.diagnose.segmentation import mask_loss

    black_dog = np.asarray(load_rgb(real_pets / "gallery" / "10648_1.jpg"))
    assert mask_loss(silhouette(black_dog), threshold_mask(black_dog))["lost"] > 0.3


def test_shortcut_posts_of_another_dataset_are_refused(app_world, measured, tmp_path):
    _, _, cache = measured
    posts = tmp_path / "posts.csv"
    pd.DataFrame({"post_id": ["no-such-post"], "score": [1.0], "cause": ["hands"]}).to_csv(
        posts, index=False
    )
    r = CliRunner().invoke(cli, ["diagnose", "--data", str(app_world["data"]), "--checkpoints",
                                 str(app_world["series"]), "--cache", str(cache), "--shortcuts",
                                 str(posts), "--out", str(tmp_path / "d")])  # fmt: skip
    assert r.exit_code != 0 and "names none of this dataset's posts" in r.output
