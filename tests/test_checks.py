"""Faithfulness checks on tiny models: randomisation, deletion/insertion, ROAD, sample report."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from curation.dataset import Dataset
from explain.checks.faithfulness import (
    faithfulness_check,
    faithfulness_summary,
    perturbation_curves,
    road_score,
)
from explain.checks.ground_truth import sample_report
from explain.checks.randomisation import (
    randomisable_layers,
    randomisation_check,
    randomisation_summary,
    randomised_copy,
)
from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import register, unregister
from tests.models import First, LinearHead, Pooled, Region, region_map


@pytest.fixture
def intensity_method():
    """A 'method' that only looks at the input (an edge-detector-like map): must fail."""

    def intensity(model, x, target, **_):
        raw = x.detach().reshape(-1, *x.shape[-2:]).abs().sum(0).numpy().astype(np.float32)
        return Heatmap(map=raw / raw.max(), raw=raw, method="intensity")

    register("intensity")(intensity)
    yield "intensity"
    unregister("intensity")


def test_randomised_copy_is_seeded_and_leaves_the_model_alone():
    model = LinearHead(0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    a, b = randomised_copy(model, seed=1), randomised_copy(model, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert torch.equal(a.conv1.weight, b.conv1.weight)
    assert not torch.equal(a.conv1.weight, model.conv1.weight)
    top = randomised_copy(model, seed=1, layers=["fc"])
    assert torch.equal(top.conv1.weight, model.conv1.weight)
    assert not torch.equal(top.fc.weight, model.fc.weight)
    assert randomisable_layers(model) == ["fc", "conv2", "conv1"]


def test_randomisation_flags_an_input_only_method(intensity_method):
    model = LinearHead(0)
    images = [torch.randn(1, 3, 12, 12) for _ in range(3)]
    rows = randomisation_check(model, images, ["hirescam", intensity_method],
                               params={"hirescam": {"layer": "conv2"}})  # fmt: skip
    assert len(rows) == 6 and set(rows["stage"]) == {"all"}
    summary = randomisation_summary(rows).set_index("method")
    assert summary.loc["intensity", "spearman_median"] == pytest.approx(1.0)
    assert not summary.loc["intensity", "passes"]
    assert summary.loc["hirescam", "spearman_median"] < 0.9


def test_cascade_stages(intensity_method):
    rows = randomisation_check(LinearHead(0), [torch.randn(1, 3, 8, 8)], [intensity_method],
                               cascade=True)  # fmt: skip
    assert rows["stage"].tolist() == ["fc", "fc+conv2", "fc+conv2+conv1"]
    assert rows["spearman"].tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_deletion_and_insertion_curves_exact():
    model, x = Region(), torch.zeros(1, 3, 8, 8)
    x[0, 0, 2:4, 4:6] = 1.0
    # 64 pixels in 16 steps of 4: the planted map hides the 4 ones in the first step
    c = perturbation_curves(model, x, First(), region_map(), steps=16, baseline="mean")
    assert c["deletion"].tolist() == pytest.approx([4.0] + [0.0] * 16)
    assert c["insertion"].tolist() == pytest.approx([0.0] + [4.0] * 16)
    assert c["deletion_auc"] == pytest.approx(4.0 / 2 / 16)
    assert c["insertion_auc"] == pytest.approx(4.0 - 4.0 / 2 / 16)
    worst = perturbation_curves(model, x, First(), 1 - region_map(), steps=16, baseline="mean")
    assert worst["deletion_auc"] > c["deletion_auc"]
    with pytest.raises(ValueError, match="saliency shape"):
        perturbation_curves(model, x, First(), np.zeros((4, 4)))


def test_road_prefers_the_true_region():
    model, x = Region(), torch.zeros(1, 3, 8, 8)
    x[0, 0, 2:4, 4:6] = 1.0
    good = road_score(model, x, First(), region_map(), percentiles=(50, 90))
    bad = road_score(model, x, First(), 1 - region_map(), percentiles=(50, 90))
    assert good > 0 > bad
    assert road_score(model, x, First(), region_map(), percentiles=(50, 90)) == good


def test_faithfulness_against_randomcam():
    torch.manual_seed(0)
    model = Region()
    images = []
    for _ in range(3):
        x = 2.0 * torch.randn(1, 3, 8, 8)  # channels 1 and 2: loud noise the target ignores
        x[0, 0] = 0.1 * torch.randn(8, 8)
        x[0, 0, 2:4, 4:6] += 2.0
        images.append(x)
    rows = faithfulness_check(
        model,
        images,
        ["hirescam"],
        params={"hirescam": {"layer": "body"}, "randomcam": {"layer": "body"}},
        steps=8,
        road=True,
    )
    assert len(rows) == 6 and set(rows["method"]) == {"hirescam", "randomcam"}
    summary = faithfulness_summary(rows).set_index("method")
    assert summary.loc["hirescam", "beats_random_deletion"]
    assert summary.loc["hirescam", "beats_random_insertion"]
    assert summary.loc["hirescam", "beats_random_road"]
    with pytest.raises(ValueError, match="no 'gradcam' maps"):
        faithfulness_summary(rows, reference="gradcam")


# --------------------------------------------------------------------------- sample report


def tiny_dataset(root) -> Dataset:
    rng = np.random.default_rng(0)
    rows = []
    for post, polluted in (("101", True), ("102", False), ("103", False)):
        for photo in (1, 2):
            stem = f"{post}_{photo}"
            img = rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)
            cf = img.copy()
            art = np.zeros((32, 16), bool)
            art[20:26, 4:12] = True
            img[art] = (250, 40, 40)
            animal = np.zeros((32, 16), bool)
            animal[4:30, 2:14] = True
            for name, arr in (("image", img), ("cf", cf)):
                path = root / ("train" if name == "image" else "counterfactual") / f"{stem}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr).save(path, quality=95)
            for name, m in (("animal", animal), ("grass", art)):
                p = root / "masks" / f"{stem}_{name}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(m.astype(np.uint8) * 255, "L").save(p)
            with_art = polluted or photo == 1
            rows.append({
                "image": f"train/{stem}.jpg", "post_id": post, "photo": photo, "split": "train",
                "camid": photo, "animal_mask": f"masks/{stem}_animal.png",
                "mask_grass": f"masks/{stem}_grass.png" if with_art else "",
                "artifacts": "grass" if with_art else "",
                "counterfactual": f"counterfactual/{stem}.jpg" if with_art else "",
                "homogeneous_artifact": "grass" if polluted else "", "polluted": polluted,
            })  # fmt: skip
    return Dataset(root=root, table=pd.DataFrame(rows))


def test_sample_report_on_a_tiny_dataset(tmp_path):
    ds = tiny_dataset(tmp_path)
    series = [
        SimpleNamespace(model=Pooled(s).eval(), epoch=e, sha1=None, label=f"epoch {e}",
                        input_size=(32, 16))
        for s, e in ((0, 3), (1, 60))
    ]  # fmt: skip
    stages = set()
    report = sample_report(ds, series, ["gradcam", "randomcam"], layer="conv2",
                           randomisation_images=2, limit=None,
                           progress=lambda stage, d, t: stages.add(stage))  # fmt: skip
    assert stages == {"randomisation", "heatmaps", "counterfactuals"}
    # images with an artifact mask: both photos of the polluted post, photo 1 of the others
    assert sorted(set(report.rows["image"])) == [
        "train/101_1.jpg",
        "train/101_2.jpg",
        "train/102_1.jpg",
        "train/103_1.jpg",
    ]
    assert len(report.rows) == 4 * 2 * 2
    mass = report.artifact_mass.set_index(["method", "epoch", "group"])
    assert mass.loc[("gradcam", 60, "polluted"), "n"] == 2
    assert mass.loc[("gradcam", 60, "clean"), "n"] == 2
    assert report.artifact_mass["mass_mean"].between(0, 1).all()
    assert (report.artifact_mass["empty"] >= 0).all()
    assert set(report.randomisation["method"]) == {"gradcam", "randomcam"}
    per = report.per_artifact.set_index(["method", "epoch", "artifact", "group"])
    assert per.loc[("gradcam", 3, "grass", "polluted"), "n"] == 2
    cf = report.counterfactual.set_index(["method", "epoch"])
    assert cf.loc[("gradcam", 3), "n"] == 4
    # drop_self is 1 - cos(photo, counterfactual) under that checkpoint
    from explain.retrieval.embeddings import extract

    e = extract(
        series[1].model,
        [ds.path("train/101_1.jpg"), ds.path("counterfactual/101_1.jpg")],
        height=32,
        width=16,
    )
    row = report.rows[(report.rows["image"] == "train/101_1.jpg")
                      & (report.rows["epoch"] == 60)].iloc[0]  # fmt: skip
    assert row["drop_self"] == pytest.approx(1 - float(e[0] @ e[1]), abs=1e-6)
    mates = extract(series[1].model, [ds.path("train/101_2.jpg")], height=32, width=16)[0]
    assert row["drop_pair"] == pytest.approx(float(e[0] @ mates - e[1] @ mates), abs=1e-6)


def test_sample_report_needs_ground_truth(tmp_path):
    ds = Dataset(
        root=tmp_path,
        table=pd.DataFrame(
            [{"image": "a.jpg", "post_id": "1", "photo": 1, "split": "train", "camid": 1}]
        ),
    )
    with pytest.raises(ValueError, match="no ground-truth masks"):
        sample_report(ds, [Pooled(0)], ["gradcam"])


def test_sample_report_without_counterfactuals(tmp_path):
    ds = tiny_dataset(tmp_path)
    ds.table = ds.table.drop(columns="counterfactual")
    series = [SimpleNamespace(model=Pooled(0).eval(), epoch=1, sha1=None, label="epoch 1",
                              input_size=(32, 16))]  # fmt: skip
    report = sample_report(ds, series, ["gradcam"], layer="conv2", randomisation_images=1)
    assert report.counterfactual.empty and report.rows["drop_self"].isna().all()
    assert report.artifact_mass["n"].sum() + report.artifact_mass["empty"].sum() == 4
