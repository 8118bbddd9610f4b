"""Match confidence: how likely a query's top-1 gallery match is the right animal.

The evidence is the top-1 cosine similarity and the *margin*: top-1 similarity minus the best
similarity of any other identity (a clear winner is more trustworthy than a near tie). Both come
from the per-query table of :func:`explain.retrieval.metrics.evaluate`. A calibrator maps them to a
probability:

- ``logistic``: logistic regression on the standardised ``(similarity, margin)``;
- ``isotonic``: the logistic score, then an isotonic regression on it (monotone, no shape
  assumption; needs more data).

Calibration is honest: queries are split in two halves by a hash of their post id (all photos of
a post on the same side; deterministic), each half is scored by the calibrator fitted on the
other, and the reliability curve, the expected calibration error and the threshold chooser use
those held-out scores. ``Confidence.model`` is then refitted on all queries to score new ones.

Queries whose animal is not in the gallery are kept: their top-1 is wrong by definition and a
real user sees such queries too. Recall (threshold chooser) is measured against the queries that
*have* a true match in the gallery: "which share of the findable animals we act on correctly".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

METHODS = ("logistic", "isotonic")


class CalibrationError(ValueError):
    """Calibration is impossible with these queries; the message says why."""


def match_features(per_query: pd.DataFrame) -> pd.DataFrame:
    """Columns ``query``, ``post_id``, ``similarity``, ``margin``, ``correct`` (top-1 is the same
    post), ``in_gallery`` from an evaluation's per-query table."""
    need = {"query", "post_id", "top1_similarity", "margin", "top1_correct", "in_gallery"}
    missing = sorted(need - set(per_query.columns))
    if missing:
        raise ValueError(f"per-query table lacks {missing}; pass Evaluation.per_query")
    out = pd.DataFrame(
        {
            "query": per_query["query"].to_numpy(),
            "post_id": per_query["post_id"].to_numpy(),
            "similarity": per_query["top1_similarity"].astype(float).to_numpy(),
            "margin": per_query["margin"].astype(float).fillna(0.0).to_numpy(),
            "correct": per_query["top1_correct"].astype(bool).to_numpy(),
            "in_gallery": per_query["in_gallery"].astype(bool).to_numpy(),
        }
    )
    if out["similarity"].isna().any():
        raise ValueError("some queries have no top-1 match (empty gallery?)")
    return out


def halves(post_ids: pd.Series | np.ndarray) -> np.ndarray:
    """0/1 per row from a hash of the post id: deterministic, a post never straddles halves."""
    return np.array([int(hashlib.sha1(str(p).encode()).hexdigest()[:8], 16) % 2 for p in post_ids])


class Calibrator:
    """``fit(X, y)`` / ``predict(X)`` -> probabilities in [0, 1]; ``X`` is ``(N, 2)``:
    similarity and margin."""

    def __init__(self, method: str = "logistic"):
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; use one of {METHODS}")
        # scikit-learn loads in ~0.8 s: only when a calibrator is made (not on every page's start)
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.method = method
        self.logistic = make_pipeline(StandardScaler(), LogisticRegression())
        self.isotonic = None  # an IsotonicRegression once fitted

    def fit(self, x: np.ndarray, y: np.ndarray) -> Calibrator:
        self.logistic.fit(x, y)
        if self.method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            self.isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.isotonic.fit(self.logistic.decision_function(x), y.astype(float))
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.isotonic is not None:
            return self.isotonic.predict(self.logistic.decision_function(x))
        return self.logistic.predict_proba(x)[:, 1]


def _check_classes(y: np.ndarray, label: str) -> None:
    n_ok = int(y.sum())
    if n_ok == 0 or n_ok == len(y):
        raise CalibrationError(
            f"{label} has {n_ok} correct and {len(y) - n_ok} wrong top-1 matches; calibration "
            "needs both (use more queries, or an earlier checkpoint if every match is right)"
        )


def reliability_curve(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 10
) -> tuple[pd.DataFrame, float]:
    """Equal-width bins over [0, 1]: ``bin_lo``, ``bin_hi``, ``mean_confidence``, ``accuracy``
    (NaN for empty bins), ``count``; and the expected calibration error
    ``sum(count / N * |accuracy - mean_confidence|)`` in [0, 1]."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    ok_sum = np.bincount(which, weights=correct, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, ok_sum / count, np.nan)
    table = pd.DataFrame(
        {
            "bin_lo": edges[:-1],
            "bin_hi": edges[1:],
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
            "count": count,
        }
    )
    filled = count > 0
    ece = float(np.sum(count[filled] / len(confidence) * np.abs(accuracy - mean_conf)[filled]))
    return table, ece


@dataclass
class Confidence:
    """A fitted match-confidence model and its held-out evaluation.

    ``table``: per query ``query``, ``post_id``, ``similarity``, ``margin``, ``correct``,
    ``in_gallery``, ``half`` (0/1), ``confidence`` (held-out probability in [0, 1]);
    ``reliability``: see :func:`reliability_curve`; ``ece``/``brier``: on held-out scores.
    """

    method: str
    table: pd.DataFrame
    reliability: pd.DataFrame
    ece: float
    brier: float
    model: Calibrator

    def predict(self, similarity: np.ndarray, margin: np.ndarray) -> np.ndarray:
        """Confidence of new top-1 matches (model fitted on all queries), in [0, 1]."""
        x = np.column_stack([np.asarray(similarity, float), np.asarray(margin, float)])
        return self.model.predict(x)


def fit_confidence(
    per_query: pd.DataFrame, *, method: str = "logistic", bins: int = 10
) -> Confidence:
    """Fit and evaluate a calibrator on an evaluation's per-query table (see module docs)."""
    feats = match_features(per_query)
    x = feats[["similarity", "margin"]].to_numpy()
    y = feats["correct"].to_numpy()
    half = halves(feats["post_id"])
    if len(np.unique(half)) < 2:
        raise CalibrationError(
            f"all {len(feats)} queries fall into one half (too few posts); calibration needs "
            "queries from several posts"
        )
    held_out = np.empty(len(feats))
    for h in (0, 1):
        train = half != h
        _check_classes(y[train], f"half {1 - h}")
        held_out[~train] = Calibrator(method).fit(x[train], y[train]).predict(x[~train])
    _check_classes(y, "the query set")
    reliability, ece = reliability_curve(held_out, y, bins)
    table = feats.assign(half=half, confidence=held_out)
    brier = float(np.mean((held_out - y) ** 2))
    return Confidence(method, table, reliability, ece, brier, Calibrator(method).fit(x, y))


@dataclass
class ThresholdChoice:
    """The lowest confidence threshold whose accepted matches reach ``target_precision``.

    ``threshold`` None when no threshold reaches it (then precision/recall are those of the
    most precise threshold). ``curve``: ``threshold``, ``accepted``, ``precision``, ``recall``
    (accept when confidence ≥ threshold), one row per distinct confidence, high to low.
    """

    target_precision: float
    threshold: float | None
    precision: float
    recall: float
    accepted: int
    curve: pd.DataFrame


def precision_recall_curve(
    confidence: np.ndarray, correct: np.ndarray, positives: int
) -> pd.DataFrame:
    """Precision and recall when accepting matches with confidence ≥ each distinct value.

    ``positives``: the recall denominator (queries with a true match in the gallery)."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    if positives < 1:
        raise ValueError("no query has a true match in the gallery: recall is undefined")
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order]
    tp = np.cumsum(ok)
    accepted = np.arange(1, len(conf) + 1)
    last = np.r_[conf[1:] != conf[:-1], True]  # the last row of each run of equal confidence
    return pd.DataFrame(
        {
            "threshold": conf[last],
            "accepted": accepted[last],
            "precision": tp[last] / accepted[last],
            "recall": tp[last] / positives,
        }
    )


def choose_threshold(confidence: Confidence, target_precision: float) -> ThresholdChoice:
    """For ``target_precision`` in (0, 1]: the threshold with the highest recall among those
    whose held-out precision reaches the target."""
    if not 0.0 < target_precision <= 1.0:
        raise ValueError(f"target precision must lie in (0, 1], not {target_precision}")
    t = confidence.table
    curve = precision_recall_curve(t["confidence"], t["correct"], int(t["in_gallery"].sum()))
    ok = curve[curve["precision"] >= target_precision - 1e-12]
    if ok.empty:
        best = curve.loc[curve["precision"].idxmax()]
        return ThresholdChoice(
            target_precision,
            None,
            float(best["precision"]),
            float(best["recall"]),
            int(best["accepted"]),
            curve,
        )
    best = ok.loc[ok["recall"].idxmax()]
    return ThresholdChoice(
        target_precision,
        float(best["threshold"]),
        float(best["precision"]),
        float(best["recall"]),
        int(best["accepted"]),
        curve,
    )
