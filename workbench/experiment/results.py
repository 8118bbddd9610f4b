"""Summaries of an experiment folder: per-run table, per-arm intervals, remedy verdicts, plot.

``results.csv``: one row per finished run. ``results.json``: per arm and metric the mean with
its t interval over seeds; per remedy (and learning-curve arm) and metric the difference from
the baseline with a paired t interval over seeds and a paired bootstrap interval over queries
(fixed seed 0, 2000 resamples), plus the verdict lines. ``results.html``: the plot (plotly,
self-contained: no network needed to open it).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from explain.compare.intervals import (
    Interval,
    bootstrap_delta,
    paired_t_interval,
    t_interval,
    verdict,
)
from explain.compare.intervals import (
    effect as interval_effect,
)
from workbench.experiment.arms import ARMS
from workbench.experiment.measure import RUN_METRICS
from workbench.experiment.runner import GRID, load_results, write_json

#: metric -> (label in verdicts, in percentage points?, per-query column, query subset column)
METRICS = {
    "mAP": ("mAP", False, "ap", None),
    "rank1": ("rank-1", True, "rank1", None),
    "mAP_clean": ("clean-query mAP", False, "ap", "clean"),
    "rank1_clean": ("clean-query rank-1", True, "rank1", "clean"),
    "decoy_rate": ("decoy rate", True, "decoy", "has_artifact"),
    "reliance_auc": ("reliance AUC", False, None, None),
    "reliance_polluted": ("polluted-post drop", False, None, None),
}
VERDICT_METRICS = ("mAP", "mAP_clean", "decoy_rate", "reliance_auc")
LEVEL = 0.95


def runs_table(results: list[dict]) -> pd.DataFrame:
    """One row per run: run, arm, seed, epochs, train_posts, train_images, train_seconds and
    the :data:`~workbench.experiment.measure.RUN_METRICS`."""
    cols = ["run", "arm", "seed", "epochs", "train_posts", "train_images", "train_seconds"]
    rows = [{**{c: r[c] for c in cols}, **r["metrics"]} for r in results]
    return pd.DataFrame(rows, columns=[*cols, *RUN_METRICS])


def _query_matrix(results: list[dict], column: str, subset: str | None) -> np.ndarray:
    mats = []
    for r in sorted(results, key=lambda r: r["seed"]):
        pq = pd.DataFrame(r["per_query"])
        values = pq[column].astype(float)
        if subset is not None:
            values = values.where(pq[subset] == 1)
        mats.append(values.to_numpy())
    return np.asarray(mats)


def _delta(arm_runs: list[dict], base_runs: list[dict], metric: str) -> dict:
    _, _, column, subset = METRICS[metric]
    seeds = sorted({r["seed"] for r in arm_runs} & {r["seed"] for r in base_runs})
    by = {(r["arm"], r["seed"]): r["metrics"][metric] for r in arm_runs + base_runs}
    arm_name, base_name = arm_runs[0]["arm"], base_runs[0]["arm"]
    seed_iv = paired_t_interval(
        [by[(arm_name, s)] for s in seeds], [by[(base_name, s)] for s in seeds], LEVEL
    )
    out = {"seeds": seeds, "seed_interval": seed_iv.to_dict()}
    if column is not None:
        a = _query_matrix([r for r in arm_runs if r["seed"] in seeds], column, subset)
        b = _query_matrix([r for r in base_runs if r["seed"] in seeds], column, subset)
        keep = ~np.isnan(b).all(axis=0)  # the subset's queries (the same in every run)
        out["query_interval"] = bootstrap_delta(a[:, keep], b[:, keep], level=LEVEL).to_dict()
    return out


def summarise(results: list[dict]) -> dict:
    """The content of ``results.json`` (see the module docstring)."""
    by_arm: dict[str, list[dict]] = {}
    for r in results:
        by_arm.setdefault(r["arm"], []).append(r)
    rank = {a: i for i, a in enumerate(ARMS)}
    by_arm = dict(sorted(by_arm.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))
    arms = {}
    for arm, runs in by_arm.items():
        arms[arm] = {
            "runs": len(runs),
            "train_posts": float(np.mean([r["train_posts"] for r in runs])),
            "metrics": {
                m: t_interval([r["metrics"][m] for r in runs], LEVEL).to_dict() for m in METRICS
            },
        }
    deltas, verdicts = {}, {}
    base = by_arm.get("baseline", [])
    for arm, runs in by_arm.items():
        if arm == "baseline" or not base:
            continue
        deltas[arm] = {m: _delta(runs, base, m) for m in METRICS}
        parts = []
        for m in VERDICT_METRICS:
            label, points, _, _ = METRICS[m]
            iv = Interval(**deltas[arm][m]["seed_interval"])
            parts.append(verdict(label, iv, points=points))
        verdicts[arm] = f"{arm}: " + "; ".join(parts)
    return {"level": LEVEL, "arms": arms, "deltas": deltas, "verdicts": verdicts}


#: metrics where a lower value is better (the shortcut is used less)
LOWER_IS_BETTER = ("decoy_rate", "reliance_auc", "reliance_polluted")


def effect(metric: str, interval: dict) -> str:
    """``better`` / ``worse`` when the interval of a difference excludes 0, else ``no
    detectable effect`` (``no interval`` with fewer than two values)."""
    return interval_effect(Interval(**interval), metric in LOWER_IS_BETTER)


def delta_table(summary: dict) -> pd.DataFrame:
    """One row per (arm, metric): the difference from the baseline with its seed interval and
    query-bootstrap interval, and the :func:`effect` of the seed interval."""
    rows = []
    for arm, metrics in summary["deltas"].items():
        for m, d in metrics.items():
            seed_iv, q = d["seed_interval"], d.get("query_interval") or {}
            rows.append(
                {
                    "arm": arm,
                    "metric": METRICS[m][0],
                    "delta": seed_iv["estimate"],
                    "seeds": seed_iv["n"],
                    "seed_low": seed_iv["low"],
                    "seed_high": seed_iv["high"],
                    "query_low": q.get("low", float("nan")),
                    "query_high": q.get("high", float("nan")),
                    "effect": effect(m, seed_iv),
                }
            )
    return pd.DataFrame(rows)


def arm_table(summary: dict) -> pd.DataFrame:
    """One row per arm: runs, train posts and each metric as ``mean [low, high]`` (seeds)."""
    rows = []
    for arm, a in summary["arms"].items():
        row = {"arm": arm, "runs": a["runs"], "train posts": a["train_posts"]}
        for m, iv in a["metrics"].items():
            lo, hi = iv["low"], iv["high"]
            span = f" [{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else ""
            row[METRICS[m][0]] = f"{iv['estimate']:.3f}{span}"
        rows.append(row)
    return pd.DataFrame(rows)


def figure(summary: dict):
    """Per-arm means with their seed intervals, one panel per verdict metric (plotly)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    metrics = ("mAP", "mAP_clean", "decoy_rate", "reliance_auc")
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[METRICS[m][0] for m in metrics])
    names = list(summary["arms"])
    for k, m in enumerate(metrics, 1):
        est = [summary["arms"][a]["metrics"][m]["estimate"] for a in names]
        lo = [summary["arms"][a]["metrics"][m]["low"] for a in names]
        hi = [summary["arms"][a]["metrics"][m]["high"] for a in names]
        fig.add_trace(
            go.Scatter(
                x=names,
                y=est,
                mode="markers",
                showlegend=False,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [h - e for h, e in zip(hi, est, strict=True)],
                    "arrayminus": [e - lo_ for lo_, e in zip(lo, est, strict=True)],
                },
            ),
            row=1,
            col=k,
        )
    fig.update_layout(
        title=f"mean over seeds with {int(LEVEL * 100)}% t interval", height=420, width=1400
    )
    return fig


def plot(summary: dict, path: Path) -> None:
    """:func:`figure` as a self-contained HTML file."""
    figure(summary).write_html(path, include_plotlyjs=True, full_html=True)


def write_results(out_dir: str | Path) -> dict:
    """Write results.csv, results.json and results.html for the finished runs in ``out_dir``;
    returns the summary. ValueError when no run has finished."""
    out_dir = Path(out_dir)
    results = load_results(out_dir)
    if not results:
        raise ValueError(f"{out_dir}: no finished run yet (no runs/*/result.json)")
    table = runs_table(results)
    table.to_csv(out_dir / "results.csv", index=False)
    summary = summarise(results)
    grid = out_dir / GRID
    if grid.is_file():
        summary["grid"] = json.loads(grid.read_text())
    write_json(out_dir / "results.json", summary)
    plot(summary, out_dir / "results.html")
    return summary
