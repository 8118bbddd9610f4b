"""Confidence intervals for comparing training runs: over seeds (Student t) and over queries
(a paired bootstrap with a fixed seed), plus the one-line verdict they support.

An interval is ``(low, high)`` around an estimate at ``level`` (default 0.95). Differences are
always *arm minus baseline*, in the metric's own units (mAP, rates in [0, 1]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval; ``n``: how many values it rests on (seeds or queries).
    ``low``/``high`` are NaN when there are too few values for an interval (fewer than 2)."""

    estimate: float
    low: float
    high: float
    n: int

    @property
    def covers_zero(self) -> bool:
        """True when 0 lies inside the interval (or there is no interval)."""
        return not (self.low > 0 or self.high < 0)

    def to_dict(self) -> dict:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n}


def _finite(values: Sequence[float]) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a[np.isfinite(a)]


def t_interval(values: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``values`` with the two-sided Student-t interval ``mean ± t(level, n-1) · s/√n``
    (``s``: sample standard deviation). NaN values are left out."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie between 0 and 1, not {level}")
    a = _finite(values)
    if len(a) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(a.mean())
    if len(a) < 2:
        return Interval(mean, math.nan, math.nan, 1)
    half = float(stats.t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a)))
    return Interval(mean, mean - half, mean + half, len(a))


def paired_t_interval(
    arm: Sequence[float], baseline: Sequence[float], level: float = 0.95
) -> Interval:
    """t interval of the per-seed differences ``arm[i] - baseline[i]`` (same seeds, same order;
    a pair with a NaN is left out)."""
    if len(arm) != len(baseline):
        raise ValueError(f"{len(arm)} arm values but {len(baseline)} baseline values; pair by seed")
    return t_interval(np.asarray(arm, dtype=float) - np.asarray(baseline, dtype=float), level)


def bootstrap_delta(
    arm: np.ndarray,
    baseline: np.ndarray,
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Paired bootstrap over queries of ``mean(arm) - mean(baseline)``.

    ``arm``/``baseline``: ``(S, Q)`` per-query values (S seeds or runs, Q queries, the same
    queries in the same order; S may differ between the two). Each resample draws Q queries with
    replacement (``numpy`` generator seeded by ``seed``) and takes the difference of the means
    over runs and drawn queries; the interval is the percentile interval. Queries with a NaN in
    any run are left out."""
    a, b = (
        np.atleast_2d(np.asarray(arm, dtype=float)),
        np.atleast_2d(np.asarray(baseline, dtype=float)),
    )
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{a.shape[1]} arm queries but {b.shape[1]} baseline queries; use the same"
        )
    keep = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
    d = a[:, keep].mean(axis=0) - b[:, keep].mean(axis=0)
    if len(d) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    if len(d) < 2:
        return Interval(float(d.mean()), math.nan, math.nan, 1)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(resamples, len(d)))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(float(d.mean()), float(lo), float(hi), len(d))


def verdict(label: str, interval: Interval, *, points: bool = False) -> str:
    """``'clean-query mAP +0.040 [0.010, 0.070]'``; with ``points`` the values are shown in
    percentage points (``'decoy rate -12 pp [-20, -4]'``); ``'no detectable effect'`` follows
    when the interval covers 0, ``'no interval'`` when there is none."""
    if math.isnan(interval.estimate):
        return f"{label}: not measured"
    scale, fmt, unit = (100.0, "{:+.0f}", " pp") if points else (1.0, "{:+.3f}", "")
    est = fmt.format(interval.estimate * scale) + unit
    if math.isnan(interval.low):
        return f"{label} {est} (no interval: one value)"
    rng = f"[{fmt.format(interval.low * scale)}, {fmt.format(interval.high * scale)}]"
    tail = " — no detectable effect" if interval.covers_zero else ""
    return f"{label} {est} {rng}{tail}"


def series_intervals(
    per_query: pd.DataFrame, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Curated minus baseline per matched epoch, subset (``all``/``clean``) and measure (mAP,
    rank1), with the paired bootstrap interval over queries (:func:`bootstrap_delta`).

    ``per_query``: rows ``series`` (``baseline``/``curated``), ``epoch``, ``query``, ``ap``,
    ``rank1``, ``clean``. Columns: epoch, subset, measure, delta, low, high, queries, effect
    (``better``/``worse``/``no detectable effect``). One model per series: the interval covers
    the choice of queries, not training noise (that needs several seeds)."""
    rows = []
    for epoch in sorted(set(per_query["epoch"])):
        at = per_query[per_query["epoch"] == epoch]
        base = at[at["series"] == "baseline"].set_index("query")
        cur = at[at["series"] == "curated"].set_index("query")
        shared = base.index.intersection(cur.index)
        if shared.empty:
            continue
        for subset in ("all", "clean"):
            keep = shared if subset == "all" else shared[base.loc[shared, "clean"].to_numpy(bool)]
            for measure, col in (("mAP", "ap"), ("rank1", "rank1")):
                iv = bootstrap_delta(
                    cur.loc[keep, col].to_numpy(float)[None],
                    base.loc[keep, col].to_numpy(float)[None],
                    level=level,
                    resamples=resamples,
                    seed=seed,
                )
                rows.append({"epoch": int(epoch), "subset": subset, "measure": measure,
                             "delta": iv.estimate, "low": iv.low, "high": iv.high,
                             "queries": iv.n, "effect": effect(iv)})  # fmt: skip
    cols = ["epoch", "subset", "measure", "delta", "low", "high", "queries", "effect"]
    return pd.DataFrame(rows, columns=cols)


def effect(iv: Interval, lower_is_better: bool = False) -> str:
    """``better``/``worse`` when the interval of a difference excludes 0 (``lower_is_better``
    flips the sense), ``no detectable effect`` when it covers 0, ``no interval`` without one."""
    if math.isnan(iv.low):
        return "no interval"
    if iv.covers_zero:
        return "no detectable effect"
    return "better" if (iv.low > 0) != lower_is_better else "worse"


def headline(table: pd.DataFrame) -> str:
    """One sentence on the last epoch's clean-query (else all-query) mAP difference."""
    if table.empty:
        return "No epoch is shared by both series: nothing to compare."
    last = table[table["epoch"] == table["epoch"].max()]
    pick = last[(last["measure"] == "mAP") & (last["subset"] == "clean") & (last["queries"] > 0)]
    if pick.empty:
        pick = last[(last["measure"] == "mAP") & (last["subset"] == "all")]
    row = pick.iloc[0]
    label = "clean-query mAP" if row["subset"] == "clean" else "mAP"
    iv = Interval(row["delta"], row["low"], row["high"], int(row["queries"]))
    return f"Epoch {int(row['epoch'])}: " + verdict(label, iv) + " (bootstrap over queries)"
