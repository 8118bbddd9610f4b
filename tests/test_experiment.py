"""Experiments: intervals, arms (the random-drop control), repair, a tiny grid end to end."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.dataset import load_dataset
from curation.repair import RepairError, repair, repair_pixels
from explain.compare.intervals import (
    Interval,
    bootstrap_delta,
    paired_t_interval,
    t_interval,
    verdict,
)
from workbench.experiment.arms import prepare_arms, rule_posts
from workbench.experiment.results import write_results
from workbench.experiment.runner import RESULT, run_grid
from workbench.synth import SynthConfig, generate

SMALL = SynthConfig(
    seed=4,
    n_train_ids=18,
    n_test_ids=8,
    n_gallery_distractors=4,
    n_query_without_gallery=0,
    photos_min=3,
    photos_max=4,
    height=64,
    width=32,
    polluted_fraction=0.34,
    mismatch_fraction=0.4,
    decoy_fraction=1.0,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exp") / "pets"
    generate(out, SMALL)
    return out


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# -- intervals ---------------------------------------------------------------------------------


def test_t_interval_matches_the_textbook_value():
    iv = t_interval([1.0, 2.0, 3.0])
    # mean 2, s = 1, t(0.975, 2) = 4.302653
    assert iv.estimate == pytest.approx(2.0)
    assert iv.high - iv.estimate == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert iv.low == pytest.approx(2.0 - 4.302653 / math.sqrt(3), rel=1e-5)
    assert iv.n == 3
    one = t_interval([0.5, float("nan")])
    assert one.estimate == 0.5 and math.isnan(one.low) and one.n == 1


def test_paired_t_interval_works_on_differences():
    iv = paired_t_interval([0.5, 0.7, 0.6], [0.4, 0.5, 0.5])  # differences 0.1, 0.2, 0.1
    assert iv.estimate == pytest.approx(0.4 / 3)
    half = 4.302653 * np.std([0.1, 0.2, 0.1], ddof=1) / math.sqrt(3)
    assert iv.high == pytest.approx(0.4 / 3 + half, rel=1e-5)
    with pytest.raises(ValueError, match="pair by seed"):
        paired_t_interval([1.0], [1.0, 2.0])


def test_bootstrap_of_a_constant_shift_is_that_shift():
    rng = np.random.default_rng(1)
    base = rng.random((2, 40))
    iv = bootstrap_delta(base + 0.1, base)
    assert (iv.estimate, iv.low, iv.high) == pytest.approx((0.1, 0.1, 0.1))
    assert iv.n == 40


def test_bootstrap_is_seeded_and_covers_the_mean_difference():
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 60)), rng.random((3, 60))
    one, two = bootstrap_delta(a, b, seed=0), bootstrap_delta(a, b, seed=0)
    assert one == two
    assert one.estimate == pytest.approx(a.mean() - b.mean())
    assert one.low < one.estimate < one.high
    nan_b = b.copy()
    nan_b[:, :10] = np.nan  # a subset: queries outside it are left out
    part = bootstrap_delta(a, nan_b)
    assert part.n == 50
    assert part.estimate == pytest.approx(a[:, 10:].mean() - b[:, 10:].mean())


def test_verdict_says_no_detectable_effect_when_the_interval_covers_zero():
    assert verdict("clean-query mAP", Interval(0.04, 0.01, 0.07, 3)) == (
        "clean-query mAP +0.040 [+0.010, +0.070]"
    )
    text = verdict("decoy rate", Interval(-0.12, -0.3, 0.05, 3), points=True)
    assert text == "decoy rate -12 pp [-30, +5] — no detectable effect"
    assert "no interval" in verdict("mAP", Interval(0.1, float("nan"), float("nan"), 1))


# -- arms --------------------------------------------------------------------------------------


def test_random_drop_removes_as_many_posts_as_drop_but_other_ones(sample, tmp_path):
    dataset = load_dataset(sample)
    arms = prepare_arms(dataset, tmp_path, ["baseline", "drop", "random-drop"], seeds=[0, 1])
    dropped = arms["drop"].removed_for(0)
    polluted = sorted(dataset.table.loc[dataset.table["polluted"], "post_id"].unique())
    assert dropped == polluted == rule_posts(dataset)  # the rule finds the planted posts
    assert arms["baseline"].removed_for(0) == []
    for seed in (0, 1):
        control = arms["random-drop"].removed_for(seed)
        assert len(control) == len(dropped)
        assert not set(control) & set(dropped)
    assert arms["random-drop"].removed_for(0) != arms["random-drop"].removed_for(1)
    recorded = json.loads((tmp_path / "arms.json").read_text())
    assert recorded["random-drop"]["removed"]["1"] == arms["random-drop"].removed_for(1)


def test_unknown_arm_and_missing_baseline_are_refused(sample, tmp_path):
    dataset = load_dataset(sample)
    with pytest.raises(ValueError, match="unknown arm"):
        prepare_arms(dataset, tmp_path, ["baseline", "prune"], seeds=[0])
    with pytest.raises(ValueError, match="must include baseline"):
        prepare_arms(dataset, tmp_path, ["drop"], seeds=[0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        prepare_arms(dataset, tmp_path, ["baseline"], seeds=[0], fractions=[1.5])


# -- repair ------------------------------------------------------------------------------------


def test_repair_pixels_changes_only_the_masked_region():
    rgb = np.full((20, 10, 3), 100, dtype=np.uint8)
    rgb[5:8, 3:6] = 250  # a bright patch
    mask = np.zeros((20, 10), dtype=np.uint8)
    mask[5:8, 3:6] = 255
    for method in ("inpaint", "mask"):
        out = repair_pixels(rgb, mask, method)
        assert np.array_equal(out[mask == 0], rgb[mask == 0])
        assert out[5:8, 3:6].max() < 200  # the patch is gone
    assert rgb[6, 4, 0] == 250  # the input is untouched
    with pytest.raises(RepairError, match="unknown repair method"):
        repair_pixels(rgb, mask, "blur")


def test_repair_writes_only_its_output_with_provenance(sample, tmp_path):
    dataset = load_dataset(sample)
    before = _tree_hashes(sample)
    train = dataset.split("train")
    chosen = set(train.loc[train["polluted"], "image"])
    result = repair(dataset, tmp_path / "fixed", chosen)
    assert _tree_hashes(sample) == before  # the source is only read
    assert result.repaired == len(chosen)  # every polluted photo has a mask
    manifest = pd.read_csv(tmp_path / "fixed" / "manifest.csv", keep_default_na=False)
    fixed = manifest[manifest["repaired"] != ""]
    assert set(fixed["image"]) == chosen
    assert (fixed["repaired_from"] == fixed["image"]).all()
    assert all(v.startswith("inpaint:") for v in fixed["repaired"])
    assert (manifest.loc[manifest["repaired"] == "", "repaired_from"] == "").all()
    one = sorted(chosen)[0]
    old = np.asarray(Image.open(sample / one), dtype=int)
    new = np.asarray(Image.open(tmp_path / "fixed" / one), dtype=int)
    assert np.abs(old - new).max() > 30  # the artifact region changed
    untouched = manifest.loc[manifest["repaired"] == "", "image"].iloc[0]
    assert (tmp_path / "fixed" / untouched).read_bytes() == (sample / untouched).read_bytes()
    provenance = json.loads((tmp_path / "fixed" / "provenance.json").read_text())
    assert provenance["repaired"] == len(chosen) and provenance["method"] == "inpaint"
    assert len(load_dataset(tmp_path / "fixed").table) == len(dataset.table)
    with pytest.raises(RepairError, match="inside the dataset"):
        repair(dataset, sample / "repaired", chosen)
    with pytest.raises(RepairError, match="not an empty folder"):
        repair(dataset, tmp_path / "fixed", chosen)
    with pytest.raises(RepairError, match="not in the dataset"):
        repair(dataset, tmp_path / "other", {"train/nope.jpg"})


# -- a tiny grid end to end ----------------------------------------------------------------------


def test_tiny_grid_runs_resumes_and_summarises(sample, tmp_path):
    out = tmp_path / "grid"
    events: list[tuple[str, str]] = []
    arms = ["baseline", "drop", "repair", "augment", "random-drop"]

    def progress(event, info):
        events.append((event, info["run"]))

    results = run_grid(
        sample, out, arms=arms, seeds=[0, 1], epochs=2, fractions=[0.5], progress=progress
    )
    names = sorted(r["run"] for r in results)
    assert len(names) == 12 and "fraction-0.5-s1" in names
    assert sorted(n for e, n in events if e == "done") == names
    by = {r["run"]: r for r in results}
    n_posts = by["baseline-s0"]["train_posts"]
    dropped = len(by["drop-s0"]["removed_posts"])
    assert dropped > 0
    assert by["drop-s0"]["train_posts"] == by["random-drop-s0"]["train_posts"] == n_posts - dropped
    assert set(by["drop-s0"]["removed_posts"]).isdisjoint(by["random-drop-s1"]["removed_posts"])
    assert by["repair-s0"]["train_posts"] == n_posts
    assert "artifact_erasing" in by["augment-s0"]["augment"]
    assert by["fraction-0.5-s0"]["train_posts"] == round(0.5 * n_posts)
    for r in results:
        for key in ("mAP", "mAP_clean", "decoy_rate", "reliance_auc"):
            assert 0.0 <= r["metrics"][key] <= 1.0
        assert r["metrics"]["mAP"] == pytest.approx(np.mean(r["per_query"]["ap"]))

    stamp = (out / "runs" / "baseline-s0" / RESULT).stat().st_mtime_ns
    events.clear()
    again = run_grid(sample, out, arms=arms, seeds=[0, 1], epochs=2, fractions=[0.5],
                     progress=progress)  # fmt: skip
    assert [e for e, _ in events] == ["skip"] * 12  # nothing retrained
    assert (out / "runs" / "baseline-s0" / RESULT).stat().st_mtime_ns == stamp
    assert len(again) == 12

    (out / "runs" / "drop-s1" / RESULT).unlink()  # as if killed while training drop-s1
    events.clear()
    run_grid(sample, out, arms=arms, seeds=[0, 1], epochs=2, fractions=[0.5], progress=progress)
    assert [n for e, n in events if e == "done"] == ["drop-s1"]

    with pytest.raises(ValueError, match="another recipe"):
        run_grid(sample, out, arms=arms, seeds=[0, 1], epochs=3)

    summary = write_results(out)
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 12 and set(table["arm"]) == {*arms, "fraction-0.5"}
    assert set(summary["verdicts"]) == {"drop", "repair", "augment", "random-drop", "fraction-0.5"}
    assert list(summary["arms"]) == [*arms, "fraction-0.5"]  # baseline first, then remedies
    assert summary["verdicts"]["drop"].startswith("drop: mAP ")
    base = table[table["arm"] == "baseline"]["mAP"]
    assert summary["arms"]["baseline"]["metrics"]["mAP"]["estimate"] == pytest.approx(base.mean())
    delta = summary["deltas"]["drop"]["mAP"]
    drop = table[table["arm"] == "drop"].sort_values("seed")["mAP"].to_numpy()
    paired = drop - table[table["arm"] == "baseline"].sort_values("seed")["mAP"].to_numpy()
    assert delta["seed_interval"]["estimate"] == pytest.approx(paired.mean())
    assert delta["query_interval"]["n"] == len(by["baseline-s0"]["per_query"]["ap"])
    assert (out / "results.html").stat().st_size > 10_000


def test_series_intervals_and_headline_on_known_per_query_rows():
    from explain.compare.intervals import headline, series_intervals

    rows = []
    for i in range(20):
        for series, shift in (("baseline", 0.0), ("curated", 0.1)):
            ap = 0.3 + 0.02 * i + shift
            rows.append({"series": series, "epoch": 5, "query": f"q{i}", "ap": ap,
                         "rank1": float(ap > 0.5), "clean": i < 10})  # fmt: skip
    table = series_intervals(pd.DataFrame(rows))
    m = table[(table["measure"] == "mAP") & (table["subset"] == "clean")].iloc[0]
    assert (m["delta"], m["low"], m["high"]) == pytest.approx((0.1, 0.1, 0.1))
    assert m["queries"] == 10 and m["effect"] == "better"
    assert (
        headline(table)
        == "Epoch 5: clean-query mAP +0.100 [+0.100, +0.100] (bootstrap over queries)"
    )


def test_shortcut_augmentations_change_what_they_should():
    import random

    from workbench.augment import RandomGamma, erase_region
    from workbench.recipe import Recipe
    from workbench.train import TrainingError, _erase_masks

    img = Image.fromarray(np.full((16, 8, 3), 128, dtype=np.uint8))
    random.seed(0)
    out = np.asarray(RandomGamma(p=1.0, gamma=(2.0, 2.0), brightness=(1.0, 1.0))(img))
    assert out[0, 0, 0] == round(255 * (128 / 255) ** 2)  # gamma 2 on mid-grey
    assert np.asarray(RandomGamma(p=0.0)(img)).tolist() == np.asarray(img).tolist()
    mask = np.zeros((16, 8), dtype=bool)
    mask[2:5, 1:4] = True
    erased = np.asarray(erase_region(img, mask, p=1.0))
    assert (erased[~mask] == 128).all() and (erased[mask] != 128).any()
    Recipe(augment=("random_flip", "random_gamma", "artifact_erasing")).validate()
    with pytest.raises(ValueError, match="between 0 and 1"):
        RandomGamma(p=2.0)
    no_masks = pd.DataFrame({"image": ["train/1_1.jpg"], "split": ["train"]})
    with pytest.raises(TrainingError, match="no mask_<artifact> column"):
        _erase_masks(None, no_masks, Recipe(augment=("artifact_erasing",)))
