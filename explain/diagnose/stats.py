"""Bootstrap intervals with a fixed seed: a mean over items, a paired difference of two means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

N_BOOT = 2000
LEVEL = 0.95
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A number with its bootstrap interval: ``value`` (the estimate on all items), ``low`` and
    ``high`` (the ``level`` percentile interval; NaN when fewer than two items), ``n`` items."""

    value: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def to_dict(self) -> dict:
        """JSON-ready: NaN becomes None."""
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip

    def text(self, digits: int = 3, signed: bool = False) -> str:
        """``0.123 [0.100, 0.150]`` (``+0.123 ...`` when ``signed``: a difference; ``n/a`` for a
        missing value, no interval when unknown)."""
        if math.isnan(self.value):
            return "n/a"
        v = f"{self.value:+.{digits}f}" if signed else f"{self.value:.{digits}f}"
        if math.isnan(self.low):
            return v
        return f"{v} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


NAN = Estimate(float("nan"), float("nan"), float("nan"), 0)


def _clean(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = SEED,
) -> Estimate:
    """The mean of ``values`` (NaN left out) with a percentile bootstrap interval over items."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    x = _clean(values)
    if x.size == 0:
        return NAN
    if x.size == 1:
        return Estimate(float(x[0]), float("nan"), float("nan"), 1, level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    means = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(float(x.mean()), float(lo), float(hi), int(x.size), level)


def paired_difference(
    before: Sequence[float] | np.ndarray, after: Sequence[float] | np.ndarray, **kw
) -> Estimate:
    """Mean of ``after - before`` over items present in both (paired bootstrap over items)."""
    a = np.asarray(before, dtype=np.float64).ravel()
    b = np.asarray(after, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {a.size} before, {b.size} after")
    return bootstrap_mean(b - a, **kw)


def bootstrap_ratio(
    num: Sequence[float] | np.ndarray,
    den: Sequence[float] | np.ndarray,
    *,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
    seed: int = SEED,
) -> Estimate:
    """``sum(num) / sum(den)`` over items, resampling items (e.g. pooled attribution shares)."""
    n = np.asarray(num, dtype=np.float64).ravel()
    d = np.asarray(den, dtype=np.float64).ravel()
    if n.shape != d.shape:
        raise ValueError(f"numerator and denominator differ in length: {n.size} vs {d.size}")
    keep = np.isfinite(n) & np.isfinite(d)
    n, d = n[keep], d[keep]
    if n.size == 0 or d.sum() <= 0:
        return NAN
    value = float(n.sum() / d.sum())
    if n.size == 1:
        return Estimate(value, float("nan"), float("nan"), 1, level)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n.size, size=(n_boot, n.size))
    dd = d[idx].sum(axis=1)
    ratios = np.where(dd > 0, n[idx].sum(axis=1) / np.where(dd > 0, dd, 1), np.nan)
    lo, hi = np.nanquantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(value, float(lo), float(hi), int(n.size), level)


def t_mean(values: Sequence[float] | np.ndarray, *, level: float = LEVEL) -> Estimate:
    """The mean of a few values (e.g. one per training seed) with Student's t interval
    (``mean ± t · sd / √n``): a bootstrap of 2-3 values would pretend to a precision it lacks.
    No interval for fewer than two values."""
    from scipy.stats import t as student

    x = _clean(values)
    if x.size == 0:
        return NAN
    if x.size == 1:
        return Estimate(float(x[0]), float("nan"), float("nan"), 1, level)
    half = float(student.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    m = float(x.mean())
    return Estimate(m, m - half, m + half, int(x.size), level)
