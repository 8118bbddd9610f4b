"""Match confidence: held-out calibration, reliability curve, threshold chooser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explain.retrieval.confidence import (
    CalibrationError,
    choose_threshold,
    fit_confidence,
    halves,
    precision_recall_curve,
    reliability_curve,
)


def synthetic(n: int = 600, seed: int = 0) -> pd.DataFrame:
    """A per-query table whose top-1 is right with probability sigmoid(30 · (margin − 0.05))."""
    rng = np.random.default_rng(seed)
    margin = rng.uniform(0.0, 0.2, n)
    sim = 0.6 + margin + rng.normal(0, 0.05, n)
    p = 1 / (1 + np.exp(-30 * (margin - 0.05)))
    correct = rng.random(n) < p
    in_gallery = correct | (rng.random(n) < 0.8)
    return pd.DataFrame(
        {
            "query": [f"query/{i}_1.jpg" for i in range(n)],
            "post_id": [str(i // 2) for i in range(n)],  # two queries per post
            "top1_similarity": sim,
            "margin": margin,
            "top1_correct": correct,
            "in_gallery": in_gallery,
            "p_true": p,
        }
    )


def test_reliability_curve_by_hand():
    table, ece = reliability_curve([0.05, 0.15, 0.15, 0.95], [0, 1, 0, 1], bins=10)
    assert table["count"].tolist() == [1, 1 + 1, 0, 0, 0, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(table["mean_confidence"].iloc[[0, 1, 9]], [0.05, 0.15, 0.95])
    np.testing.assert_allclose(table["accuracy"].iloc[[0, 1, 9]], [0.0, 0.5, 1.0])
    assert table["accuracy"].iloc[2:9].isna().all()
    assert ece == pytest.approx(0.25 * 0.05 + 0.5 * 0.35 + 0.25 * 0.05)
    assert reliability_curve([1.0, 0.0], [1, 0], bins=4)[0]["count"].tolist() == [1, 0, 0, 1]


def test_precision_recall_curve_by_hand():
    curve = precision_recall_curve([0.9, 0.8, 0.8, 0.3], [True, False, True, False], positives=3)
    assert curve["threshold"].tolist() == [0.9, 0.8, 0.3]
    assert curve["accepted"].tolist() == [1, 3, 4]
    np.testing.assert_allclose(curve["precision"], [1, 2 / 3, 2 / 4])
    np.testing.assert_allclose(curve["recall"], [1 / 3, 2 / 3, 2 / 3])


def test_halves_keep_posts_together_and_are_deterministic():
    posts = pd.Series([str(i // 3) for i in range(300)])
    h = halves(posts)
    assert set(h) == {0, 1} and 100 < h.sum() < 200
    assert (pd.Series(h).groupby(posts).nunique() == 1).all()
    np.testing.assert_array_equal(h, halves(posts[::-1])[::-1])


@pytest.mark.parametrize("method", ["logistic", "isotonic"])
def test_fit_confidence_is_calibrated_on_held_out_queries(method):
    data = synthetic()
    conf = fit_confidence(data, method=method)
    t = conf.table
    assert len(t) == 600 and set(t["half"]) == {0, 1}
    assert t["confidence"].between(0, 1).all()
    assert conf.ece < 0.08  # held-out calibration error
    assert conf.reliability["count"].sum() == 600
    # the confidence tracks the true probability of a right match
    assert np.corrcoef(t["confidence"], data["p_true"])[0, 1] > 0.8
    assert (
        t.loc[t["correct"], "confidence"].mean() > t.loc[~t["correct"], "confidence"].mean() + 0.2
    )
    assert conf.brier < 0.2
    new = conf.predict([0.6, 0.8], [0.0, 0.2])
    assert new[0] < 0.3 < 0.9 < new[1]


def test_choose_threshold():
    conf = fit_confidence(synthetic())
    choice = choose_threshold(conf, 0.95)
    assert choice.threshold is not None and choice.precision >= 0.95
    accepted = conf.table["confidence"] >= choice.threshold
    assert accepted.sum() == choice.accepted
    ok = conf.table.loc[accepted, "correct"]
    assert ok.mean() == pytest.approx(choice.precision)
    assert choice.recall == pytest.approx(ok.sum() / conf.table["in_gallery"].sum())
    loose = choose_threshold(conf, 0.6)
    assert loose.threshold <= choice.threshold and loose.recall >= choice.recall
    # the curve is what a plot needs: recall never decreases as the threshold drops
    assert np.all(np.diff(choice.curve["recall"]) >= 0)
    with pytest.raises(ValueError, match="target precision"):
        choose_threshold(conf, 1.5)


def test_unreachable_precision_has_no_threshold():
    conf = fit_confidence(synthetic())
    conf.table = pd.DataFrame(
        {"confidence": [0.9, 0.8, 0.4], "correct": [False, True, True], "in_gallery": True}
    )
    choice = choose_threshold(conf, 0.99)
    assert choice.threshold is None
    assert choice.precision == pytest.approx(2 / 3) and choice.recall == pytest.approx(2 / 3)
    assert choose_threshold(conf, 0.6).threshold == 0.4


def test_calibration_needs_right_and_wrong_matches():
    data = synthetic()
    data["top1_correct"] = True
    with pytest.raises(CalibrationError, match="needs both"):
        fit_confidence(data)
    with pytest.raises(ValueError, match="unknown calibration method"):
        fit_confidence(synthetic(), method="platt")
