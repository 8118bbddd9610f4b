"""How well the detectors see: image-level precision, recall, F1 and mask IoU against truth.

Truth is a table with ``image`` and ``artifacts`` (``;``-joined names, empty for none) — the
sample's manifest or labels made by eye; detections are the runner's table. Scoring happens
after detection, so the detectors never read the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd


def truth_sets(truth: pd.DataFrame, column: str = "artifacts") -> dict[str, set[str]]:
    """``{image: set of artifact names}`` from a truth table (NaN or empty: no artifact)."""
    if "image" not in truth or column not in truth:
        raise ValueError(f"truth table needs 'image' and {column!r} columns")
    out = {}
    for image, value in zip(truth["image"], truth[column], strict=True):
        text = "" if not isinstance(value, str) else value
        out[image] = {a.strip() for a in text.split(";") if a.strip()}
    return out


def image_level(
    detections: pd.DataFrame,
    truth: dict[str, set[str]],
    artifacts: Iterable[str] | None = None,
    *,
    aliases: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Per artifact: ``positives`` (photos with it in the truth), ``detected``, ``tp``, ``fp``,
    ``fn``, ``precision``, ``recall``, ``f1`` (NaN where undefined), over the photos present in
    both ``detections`` and ``truth``. ``aliases`` maps a detector's artifact name to the
    truth's (e.g. ``{"text": "text-overlay"}``)."""
    aliases = aliases or {}
    names = sorted(set(detections["artifact"])) if artifacts is None else list(artifacts)
    rows = []
    for name in names:
        d = detections[(detections["artifact"] == name) & detections["image"].isin(set(truth))]
        label = aliases.get(name, name)
        pos = np.array([label in truth[i] for i in d["image"]], bool)
        hit = d["detected"].to_numpy(bool)
        tp, fp, fn = int((hit & pos).sum()), int((hit & ~pos).sum()), int((~hit & pos).sum())
        p = tp / (tp + fp) if tp + fp else math.nan
        r = tp / (tp + fn) if tp + fn else math.nan
        f1 = 2 * p * r / (p + r) if tp else (0.0 if (tp + fp) and (tp + fn) else math.nan)
        rows.append({"artifact": name, "photos": len(d), "positives": int(pos.sum()),
                     "detected": int(hit.sum()), "tp": tp, "fp": fp, "fn": fn,
                     "precision": p, "recall": r, "f1": f1})  # fmt: skip
    return pd.DataFrame(rows)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(H, W)`` bool masks (NaN when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    union = int((a | b).sum())
    return float((a & b).sum() / union) if union else math.nan
