"""Polluted posts and what removing or repairing them bought: the shortcut finder's posts.csv
and an experiment's results.csv.

``results.csv`` (written by ``workbench experiment``): one row per trained model with ``arm``
(``baseline``, ``drop``, ``repair``, ``augment``, ``random-drop``, ``fraction-0.25`` ...),
``seed``, ``mAP`` (``map`` accepted), optionally ``rank1`` and ``fraction`` (share of the
posts; without the column it is read from a ``fraction-X`` arm name, else 1). Its
``results.json`` beside it may hold ``verdicts`` (one line per arm), shown as they are.
``posts.csv`` (the shortcut finder): one row per post with ``post_id``, ``score``,
``data_score``, ``reliance`` and ``cause`` (empty or ``none`` for a clean post).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from explain.diagnose.stats import Estimate, t_mean

BASELINE = "baseline"
CURVE_ARMS = ("baseline", "curve", "learning-curve", "learning_curve", "fraction")
CURVE_PREFIX = "fraction-"
CLEAN_CAUSES = ("", "none", "clean", "nan")
MAX_CSV_BYTES = 64 * 1024 * 1024


def _read_csv(path: str | Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path} is not a file; give the CSV the tool wrote")
    if path.stat().st_size > MAX_CSV_BYTES:
        raise ValueError(
            f"{what} {path} is over {MAX_CSV_BYTES // 2**20} MiB; is it the right file?"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{what} {path} is not a readable CSV ({exc})") from exc


def _arm_fraction(arm: str) -> float:
    """``fraction-0.25`` -> 0.25; any other arm -> 1.0."""
    head, _, tail = arm.partition("-")
    if head.lower() == "fraction" and tail:
        try:
            return float(tail)
        except ValueError:
            return float("nan")
    return 1.0


def read_verdicts(path: str | Path) -> dict[str, str]:
    """The ``verdicts`` of an experiment's ``results.json`` (arm -> line), {} without the file."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"experiment summary {path} is unreadable ({exc})") from exc
    verdicts = data.get("verdicts", {}) if isinstance(data, dict) else {}
    return {str(k): str(v) for k, v in verdicts.items()} if isinstance(verdicts, dict) else {}


def read_results(path: str | Path) -> pd.DataFrame:
    """An experiment's results: columns ``arm``, ``seed``, ``fraction``, ``mAP`` (+ ``rank1``
    when present), rows with a missing mAP dropped."""
    df = _read_csv(path, "experiment results")
    df = df.rename(columns={"map": "mAP", "MAP": "mAP", "rank-1": "rank1"})
    missing = [c for c in ("arm", "seed", "mAP") if c not in df.columns]
    if missing:
        raise ValueError(f"experiment results {path} lack columns {missing} (need arm, seed, mAP)")
    if "fraction" not in df.columns:
        df["fraction"] = [_arm_fraction(a) for a in df["arm"].astype(str)]
    df["arm"] = df["arm"].astype(str)
    df["mAP"] = pd.to_numeric(df["mAP"], errors="coerce")
    df["fraction"] = pd.to_numeric(df["fraction"], errors="coerce").fillna(1.0)
    bad = df[(df["fraction"] <= 0) | (df["fraction"] > 1)]
    if len(bad):
        raise ValueError(f"experiment results {path}: fraction outside (0, 1] in {len(bad)} rows")
    return df.dropna(subset=["mAP"]).reset_index(drop=True)


def curve_points(results: pd.DataFrame) -> pd.DataFrame:
    """The learning-curve rows: the baseline recipe at every fraction of the posts."""
    arm = results["arm"].str.lower()
    keep = arm.isin(CURVE_ARMS) | arm.str.startswith(CURVE_PREFIX)
    return results[keep][["arm", "seed", "fraction", "mAP"]]


def remedy_gains(results: pd.DataFrame, metric: str = "mAP") -> dict[str, Estimate]:
    """Per remedy arm (every arm but the baseline, all posts): the mean of ``arm - baseline``
    over the seeds both were trained with, with a paired t interval over seeds."""
    full = results[np.isclose(results["fraction"], 1.0)]
    base = full[full["arm"] == BASELINE].groupby("seed")[metric].mean()
    if base.empty:
        raise ValueError("experiment results have no baseline arm at fraction 1; cannot compare")
    out = {}
    for arm, rows in full[full["arm"] != BASELINE].groupby("arm", sort=True):
        if str(arm).lower() in CURVE_ARMS or str(arm).lower().startswith(CURVE_PREFIX):
            continue
        vals = rows.groupby("seed")[metric].mean()
        common = sorted(set(vals.index) & set(base.index))
        out[str(arm)] = t_mean(vals[common].to_numpy() - base[common].to_numpy())
    return out


def read_posts(path: str | Path) -> pd.DataFrame:
    """The shortcut finder's posts: ``post_id``, ``score``, ``cause`` (+ ``data_score``,
    ``reliance`` when present), sorted by score, highest first."""
    df = _read_csv(path, "shortcut posts")
    missing = [c for c in ("post_id", "score", "cause") if c not in df.columns]
    if missing:
        raise ValueError(
            f"shortcut posts {path} lack columns {missing} (need post_id, score, cause)"
        )
    df["cause"] = df["cause"].fillna("").astype(str)
    df["post_id"] = df["post_id"].astype(str)
    return df.sort_values(["score", "post_id"], ascending=[False, True]).reset_index(drop=True)


def polluted_summary(posts: pd.DataFrame) -> dict:
    """How many posts the shortcut finder blames, per cause, and the worst ten."""
    blamed = posts[~posts["cause"].str.strip().str.lower().isin(CLEAN_CAUSES)]
    causes = blamed["cause"].value_counts().sort_index()
    top = blamed.head(10)[["post_id", "score", "cause"]]
    return {"posts": len(posts), "polluted": len(blamed),
            "by_cause": {str(k): int(v) for k, v in causes.items()},
            "top": top.to_dict(orient="records")}  # fmt: skip
