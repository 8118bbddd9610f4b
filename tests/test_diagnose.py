"""The diagnosis analyses on small generated data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explain.diagnose import curve, pollution, pose, recommend, segmentation
from explain.diagnose.stats import Estimate, bootstrap_mean, bootstrap_ratio, paired_difference

# -- bootstrap ------------------------------------------------------------------------------


def test_bootstrap_of_a_constant_has_no_width_and_is_reproducible():
    e = bootstrap_mean([0.3] * 20)
    assert (e.value, e.low, e.high, e.n) == (pytest.approx(0.3), pytest.approx(0.3),
                                              pytest.approx(0.3), 20)  # fmt: skip
    x = np.random.default_rng(1).normal(0.5, 0.1, 200)
    a, b = bootstrap_mean(x), bootstrap_mean(x)
    assert a == b and a.low < x.mean() < a.high
    assert a.high - a.low == pytest.approx(2 * 1.96 * x.std() / np.sqrt(200), rel=0.2)


def test_paired_difference_and_ratio():
    before = np.linspace(0, 1, 50)
    e = paired_difference(before, before + 0.1)
    assert e.value == pytest.approx(0.1) and e.low == pytest.approx(0.1)
    assert bootstrap_ratio([1, 1, 2], [2, 2, 4]).value == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1, 2], [1])
    assert bootstrap_mean([float("nan")]).n == 0
    assert bootstrap_mean([]).text() == "n/a"


# -- segmentation ---------------------------------------------------------------------------


def _silhouette() -> np.ndarray:
    m = np.zeros((16, 8), bool)
    m[4:12, 2:6] = True
    return m


def test_maps_all_on_the_background_give_background_share_one():
    sil = _silhouette()
    s = segmentation.attribution_shares(np.where(sil, 0.0, 1.0), sil)
    assert s == {"background": 1.0, "animal": 0.0, "intruder": 0.0}


def test_shares_split_between_animal_and_intruder():
    sil = _silhouette()
    intruder = np.zeros_like(sil)
    intruder[4:8, 2:6] = True  # half of the silhouette
    intruder[0, 0] = True  # outside the silhouette: background, not intruder
    a = np.where(sil, 1.0, 0.0)
    a[0, 0] = 16.0  # the same mass as the silhouette's 16 intruder pixels
    s = segmentation.attribution_shares(a, sil, intruder)
    assert s["background"] == pytest.approx(16 / 48)
    assert s["intruder"] == pytest.approx(16 / 48)
    assert s["animal"] == pytest.approx(16 / 48)
    assert np.isnan(segmentation.attribution_shares(np.zeros((16, 8)), sil)["animal"])
    with pytest.raises(ValueError, match="resize"):
        segmentation.attribution_shares(a, sil[:8])


def test_dark_fur_is_missed_by_the_threshold_mask_and_listed():
    from curation.perception.silhouette import silhouette, threshold_mask

    photo = np.zeros((64, 32, 3), np.uint8)
    photo[10:54, 6:26] = 200  # a bright animal ...
    photo[20:44, 10:22] = 10  # ... with a dark saddle (above black, below the old threshold)
    loss = segmentation.mask_loss(silhouette(photo), threshold_mask(photo))
    assert loss["lost"] == pytest.approx(24 * 12 / (44 * 20), abs=0.02)
    bright = photo.copy()
    bright[20:44, 10:22] = 200
    rows = pd.DataFrame([
        {"image": "a.jpg", "post_id": "1", **loss},
        {"image": "b.jpg", "post_id": "2",
         **segmentation.mask_loss(silhouette(bright), threshold_mask(bright))},
    ])  # fmt: skip
    dark = segmentation.dark_animals(rows)
    assert list(dark["image"]) == ["a.jpg"]


# -- pose ----------------------------------------------------------------------------------


def _animal(head_right: bool) -> np.ndarray:
    """A side-view blob: a long low body and a head rising at one end."""
    m = np.zeros((64, 64), bool)
    m[30:44, 8:56] = True
    m[14:32, 44:58] = True
    return m if head_right else m[:, ::-1]


def test_the_silhouette_says_where_the_head_is():
    assert pose.silhouette_side(_animal(True))[0] == 1
    assert pose.silhouette_side(_animal(False))[0] == -1
    assert pose.silhouette_side(np.zeros((8, 8), bool)) == (1, 0.0)


def _posed_features(n_ids: int = 6, seed: int = 0):
    """Embeddings = identity + side · (a strong shared pose direction): unaligned, two photos
    of one animal facing opposite ways are further apart than two animals facing one way."""
    rng = np.random.default_rng(seed)
    d = 32
    ident = rng.normal(size=(n_ids, d))
    ident /= np.linalg.norm(ident, axis=1, keepdims=True)
    v = np.zeros(d)
    v[0] = 3.0
    return ident, v


def test_facing_sides_from_embeddings_and_alignment_restores_the_rank():
    ident, v = _posed_features()
    n = len(ident)
    # query i faces -1, its gallery photo faces +1; other gallery posts face -1 like the query
    q_side = -np.ones(n, int)
    g_side = np.ones(n, int)
    q, q_fl = ident + q_side[:, None] * v, ident - q_side[:, None] * v
    g = np.concatenate([ident + v, ident[::-1] * 0.9 - v])  # true matches, then decoys
    g_fl = np.concatenate([ident - v, ident[::-1] * 0.9 + v])
    g_pids = np.r_[np.arange(n), 100 + np.arange(n)]
    g_side = np.r_[g_side, -np.ones(n, int)]
    sides, _ = pose.facing_sides(np.r_[q, g], np.r_[q_fl, g_fl])
    truth = np.r_[q_side, g_side]
    assert pose.side_accuracy(sides, truth) == 1.0
    res = pose.compare_alignment((q, q_fl), (g, g_fl), np.arange(n), g_pids, np.zeros(n),
                                 np.ones(2 * n), sides[:n], sides[n:])  # fmt: skip
    assert res["as_is"]["rank1"].value == 0.0  # a decoy facing the same way wins
    assert res["aligned"]["mAP"].value == pytest.approx(1.0)
    assert res["aligned"]["rank1"].value == 1.0
    assert res["gain_aligned"]["rank1"].value == 1.0


def test_pose_spread_counts_posts_with_both_sides():
    s = pose.pose_spread(["a", "a", "b", "b", "c"], np.array([1, -1, 1, 1, -1]))
    assert list(s["mixed"]) == [True, False, False]
    assert list(s["side_b"]) == [1, 0, 1]


def test_aligned_maps_agree_when_one_is_the_mirror_of_the_other():
    rng = np.random.default_rng(0)
    m = rng.random((16, 8))
    est = pose.map_agreement([m, m[:, ::-1].copy()], ["p", "p"], np.array([1, -1]))
    assert est["pairs"] == 1
    assert est["aligned"].value == pytest.approx(1.0)
    assert est["as_is"].value < 0.5


# -- learning curve ------------------------------------------------------------------------


def _points(fn, seeds=(0, 1, 2), noise=0.0):
    rng = np.random.default_rng(0)
    rows = []
    for f in (0.25, 0.5, 0.75, 1.0):
        for s in seeds:
            rows.append({"fraction": f, "seed": s, "mAP": fn(f) + noise * rng.normal()})
    return pd.DataFrame(rows)


def test_a_power_law_is_recovered_exactly():
    lc = curve.learning_curve(_points(lambda f: 0.4 * f**0.3))
    fit = lc["fit"]
    assert fit.form == "power"
    assert (fit.a, fit.b) == (pytest.approx(0.4), pytest.approx(0.3))
    assert lc["gain"].value == pytest.approx(0.4 * (1.25**0.3 - 1))
    assert lc["gain"].low == pytest.approx(lc["gain"].value)  # no spread between seeds


def test_a_log_law_is_told_apart_and_the_seed_spread_gives_an_interval():
    lc = curve.learning_curve(_points(lambda f: 0.5 + 0.1 * np.log(f)))
    assert lc["fit"].form == "log"
    assert lc["gain"].value == pytest.approx(0.1 * np.log(1.25))
    noisy = curve.learning_curve(_points(lambda f: 0.5 + 0.1 * np.log(f), noise=0.01))
    g = noisy["gain"]
    assert g.low < g.value < g.high and g.high - g.low > 0.001


def test_too_few_fractions_say_how_to_get_them():
    pts = _points(lambda f: f)[lambda d: d["fraction"] >= 0.75]
    with pytest.raises(ValueError, match="workbench experiment --fractions"):
        curve.learning_curve(pts)


# -- polluted posts and remedies -------------------------------------------------------------


def test_remedies_are_paired_over_seeds_and_posts_summarised(tmp_path):
    rows = [
        {"arm": "baseline", "seed": s, "fraction": 1.0, "mAP": 0.30 + 0.01 * s} for s in range(3)
    ]
    rows += [{"arm": "drop", "seed": s, "fraction": 1.0, "mAP": 0.34 + 0.01 * s} for s in range(3)]
    rows += [{"arm": "baseline", "seed": s, "fraction": 0.5, "mAP": 0.2} for s in range(3)]
    path = tmp_path / "results.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    res = pollution.read_results(path)
    gains = pollution.remedy_gains(res)
    assert list(gains) == ["drop"]
    assert gains["drop"].value == pytest.approx(0.04) and gains["drop"].low == pytest.approx(0.04)
    assert len(pollution.curve_points(res)) == 6
    posts = tmp_path / "posts.csv"
    pd.DataFrame({"post_id": [1, 2, 3], "score": [0.9, 0.1, 0.5],
                  "cause": ["hands", "", "tongue"]}).to_csv(posts, index=False)  # fmt: skip
    s = pollution.polluted_summary(pollution.read_posts(posts))
    assert s["polluted"] == 2 and s["by_cause"] == {"hands": 1, "tongue": 1}
    assert [r["post_id"] for r in s["top"]] == ["1", "3"]
    pd.DataFrame({"arm": ["x"]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="lack columns"):
        pollution.read_results(tmp_path / "bad.csv")


# -- recommendation ------------------------------------------------------------------------


def test_the_recommendation_orders_by_gain_and_lists_the_unmeasured_last():
    est = lambda v, lo, hi: Estimate(v, lo, hi, 10)  # noqa: E731
    cands = [
        recommend.Candidate("more data", "", None, how="workbench experiment"),
        recommend.Candidate("aligned poses", "flip", est(0.02, -0.01, 0.05)),
        recommend.Candidate("repair", "repair the 20 posts with hands", est(0.04, 0.01, 0.07)),
        recommend.Candidate("segmentation", "clean", est(0.02, 0.01, 0.03)),
        recommend.Candidate("polluted posts", "", None, how="the shortcut finder"),
    ]
    ranked = recommend.rank(cands)
    assert [c.name for c in ranked] == ["repair", "segmentation", "aligned poses", "more data",
                                        "polluted posts"]  # fmt: skip
    lines = recommend.summary(ranked)
    assert (
        lines[0] == "1. first: repair: repair the 20 posts with hands — +0.040 [0.010, 0.070] mAP"
    )
    assert "not distinguishable from 0" in lines[2]
    assert lines[3] == "4. more data: not measured — run workbench experiment"
    with pytest.raises(ValueError, match="unique"):
        recommend.rank(cands + cands[:1])


def test_fraction_arms_name_their_share_of_the_posts_and_verdicts_are_read(tmp_path):
    rows = [{"arm": "baseline", "seed": 0, "mAP": 0.3}, {"arm": "fraction-0.25", "seed": 0,
             "mAP": 0.1}, {"arm": "fraction-0.5", "seed": 0, "mAP": 0.2},
            {"arm": "repair", "seed": 0, "mAP": 0.35}]  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    res = pollution.read_results(tmp_path / "results.csv")
    assert dict(zip(res["arm"], res["fraction"], strict=True)) == {
        "baseline": 1.0, "fraction-0.25": 0.25, "fraction-0.5": 0.5, "repair": 1.0}  # fmt: skip
    assert sorted(pollution.curve_points(res)["fraction"]) == [0.25, 0.5, 1.0]
    assert list(pollution.remedy_gains(res)) == ["repair"]
    assert pollution.read_verdicts(tmp_path / "results.json") == {}
    (tmp_path / "results.json").write_text('{"verdicts": {"repair": "repair: mAP +0.05"}}')
    assert pollution.read_verdicts(tmp_path / "results.json") == {"repair": "repair: mAP +0.05"}


def test_few_seeds_give_honest_intervals():
    from explain.diagnose.stats import t_mean

    e = t_mean([0.01, 0.03])  # two seeds: t(1) = 12.71
    assert e.value == pytest.approx(0.02)
    assert e.high - e.value == pytest.approx(12.706 * np.std([0.01, 0.03], ddof=1) / np.sqrt(2),
                                             rel=1e-3)  # fmt: skip
    two = curve.learning_curve(_points(lambda f: 0.4 * f**0.3, seeds=(0, 1), noise=0.01))
    assert np.isnan(two["gain"].low) and two["seeds"] == 2
    assert two["r2"] > 0.9


def test_a_gain_without_interval_says_so():
    c = recommend.Candidate(
        "more data", "+25% posts", Estimate(0.01, float("nan"), float("nan"), 4)
    )
    assert c.line() == "more data: +25% posts — +0.010 mAP (no interval)"
