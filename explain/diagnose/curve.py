"""Would more data help? A learning curve fitted to mAP at several fractions of the posts.

Two two-parameter forms, fitted by least squares to the mean mAP per fraction ``f`` in (0, 1]:

- ``power``: ``mAP = a · f^b`` (a line in log-log; needs mAP > 0);
- ``log``: ``mAP = a + b · ln f``.

The form with the smaller squared error on the mAP scale is used. The gain of more data is the
curve's step from ``f = 1`` (all posts) to ``f = 1 + step`` (default +25 % posts) — an
extrapolation, said so in the report. Its interval resamples the seeds within each fraction
(bootstrap, fixed seed) and refits; with fewer than three seeds at some fraction there is no
interval (resampling two values would pretend to a precision it lacks).
The points are never invented: without an experiment's results there is no curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from explain.diagnose.stats import LEVEL, N_BOOT, SEED, Estimate

FORMS = ("power", "log")
MIN_FRACTIONS = 3
MIN_SEEDS = 3  # per fraction, for an interval: resampling two values pretends to precision


@dataclass(frozen=True)
class Fit:
    """One fitted form: ``a``, ``b`` and the squared error ``sse`` on the mAP scale."""

    form: str
    a: float
    b: float
    sse: float

    def predict(self, f: np.ndarray | float) -> np.ndarray:
        """mAP at fractions ``f`` (> 0)."""
        f = np.asarray(f, dtype=np.float64)
        if np.any(f <= 0):
            raise ValueError("fractions must be above 0")
        return self.a * f**self.b if self.form == "power" else self.a + self.b * np.log(f)


def fit_form(fractions: np.ndarray, values: np.ndarray, form: str) -> Fit:
    """Least-squares fit of one of :data:`FORMS` to points ``(fraction, mAP)``."""
    f, y = np.asarray(fractions, np.float64), np.asarray(values, np.float64)
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, not {form!r}")
    if f.shape != y.shape or f.size < 2 or np.unique(f).size < 2:
        raise ValueError("a learning curve needs points at two or more different fractions")
    if np.any(f <= 0) or np.any(f > 1.0 + 1e-9):
        raise ValueError(f"fractions must lie in (0, 1], got {sorted(set(f.tolist()))}")
    x = np.log(f)
    if form == "power":
        if np.any(y <= 0):
            return Fit(form, float("nan"), float("nan"), float("inf"))
        b, loga = np.polyfit(x, np.log(y), 1)
        fit = Fit(form, float(np.exp(loga)), float(b), 0.0)
    else:
        b, a = np.polyfit(x, y, 1)
        fit = Fit(form, float(a), float(b), 0.0)
    sse = float(((fit.predict(f) - y) ** 2).sum())
    return Fit(fit.form, fit.a, fit.b, sse)


def best_fit(fractions: np.ndarray, values: np.ndarray) -> Fit:
    """The form of :data:`FORMS` with the smaller squared error."""
    fits = [fit_form(fractions, values, form) for form in FORMS]
    return min(fits, key=lambda ft: ft.sse)


def _means(points: pd.DataFrame) -> pd.DataFrame:
    return points.groupby("fraction", sort=True)["mAP"].agg(["mean", "std", "count"]).reset_index()


def learning_curve(points: pd.DataFrame, step: float = 0.25, *, n_boot: int = N_BOOT,
                   level: float = LEVEL, seed: int = SEED) -> dict:  # fmt: skip
    """Fit the curve to ``points`` (columns ``fraction`` in (0, 1], ``mAP``, ``seed``; one row
    per trained model) and estimate the gain of ``step`` more posts (share of the current
    posts, e.g. 0.25).

    Returns ``{"fit": Fit, "gain": Estimate (mAP per +step), "per_fraction": DataFrame (mean,
    std, count of mAP per fraction), "step": step, "fractions": n, "seeds": fewest seeds at
    a fraction, "r2": share of the variance of the mean mAP the fit explains}``. Raises
    ValueError with fewer than :data:`MIN_FRACTIONS` fractions.
    """
    missing = [c for c in ("fraction", "mAP") if c not in points.columns]
    if missing:
        raise ValueError(f"learning-curve points lack columns {missing}")
    if not 0 < step <= 4:
        raise ValueError(f"step must lie in (0, 4] (share of the current posts), got {step}")
    pts = points[["fraction", "mAP"]].astype(float).dropna()
    per = _means(pts)
    if len(per) < MIN_FRACTIONS:
        raise ValueError(
            f"a learning curve needs at least {MIN_FRACTIONS} fractions of the posts, got "
            f"{len(per)}; run `workbench experiment --fractions 0.25,0.5,0.75,1.0`"
        )
    fit = best_fit(per["fraction"].to_numpy(), per["mean"].to_numpy())
    gain = float(fit.predict(1.0 + step) - fit.predict(1.0))
    groups = [g["mAP"].to_numpy() for _, g in pts.groupby("fraction", sort=True)]
    fr = per["fraction"].to_numpy()
    lo = hi = float("nan")
    if min(len(g) for g in groups) >= MIN_SEEDS:
        rng = np.random.default_rng(seed)
        gains = []
        for _ in range(n_boot):
            y = np.array([rng.choice(g, size=len(g)).mean() for g in groups])
            ft = fit_form(fr, y, fit.form)
            if np.isfinite(ft.a):
                gains.append(float(ft.predict(1.0 + step) - ft.predict(1.0)))
        if gains:
            lo, hi = (float(v) for v in np.quantile(gains, [(1 - level) / 2, (1 + level) / 2]))
    est = Estimate(gain, lo, hi, len(pts), level)
    y = per["mean"].to_numpy()
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - fit.sse / ss if ss > 0 else float("nan")
    seeds = int(min(len(g) for g in groups))
    return {"fit": fit, "gain": est, "per_fraction": per, "step": step,
            "fractions": len(per), "seeds": seeds, "r2": r2}  # fmt: skip
