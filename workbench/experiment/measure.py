"""What one trained model does on the sample, scored against the generator's ground truth.

The ground truth (artifacts, counterfactuals, polluted posts) measures the model here; it is never
an input to training. Per query: average precision, rank-1 hit, clean (no artifact), decoy hit
(top-1 is another animal sharing one of the query's artifacts). Per train post: the reliance drop,
``mean over post-mates m of (e . m - c . m)`` for each photo ``e`` with a counterfactual ``c``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from curation.dataset import Dataset
from explain.retrieval.embeddings import extract
from explain.retrieval.metrics import evaluate

#: Metrics of one run (one row of results.csv besides arm, seed and sizes).
QUERY_METRICS = ("mAP", "rank1", "mAP_clean", "rank1_clean", "decoy_rate")
RUN_METRICS = (*QUERY_METRICS, "reliance_auc", "reliance_polluted", "reliance_clean")


def artifacts_of(value: object) -> set[str]:
    """``'collar;glare'`` -> ``{'collar', 'glare'}``; empty for ``''`` or a missing value."""
    return {a for a in str(value).split(";") if a} if isinstance(value, str) else set()


def needs_ground_truth(dataset: Dataset) -> None:
    """ValueError unless the manifest has the sample's ground-truth columns."""
    missing = {"artifacts", "counterfactual", "polluted"} - set(dataset.table.columns)
    if missing:
        raise ValueError(
            f"{dataset.source or dataset.root}: an experiment scores runs against the sample's "
            f"ground truth, which this manifest lacks (no {', '.join(sorted(missing))}); "
            "generate one with `workbench generate --preset shortcut --out DIR`"
        )


def features(
    model: torch.nn.Module, dataset: Dataset, height: int, width: int
) -> dict[str, np.ndarray]:
    """Unit-norm features of every photo and counterfactual of the dataset, by entry."""
    table = dataset.table
    cf = table["counterfactual"].fillna("")
    names = sorted(set(table["image"]) | set(cf[cf != ""]))
    f = extract(model, [dataset.path(n) for n in names], height=height, width=width)
    return dict(zip(names, f, strict=True))


def per_query(dataset: Dataset, feats: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per query photo with a true match in the gallery: ``query``, ``ap``, ``rank1``
    (0/1), ``clean`` (no artifact), ``has_artifact``, ``decoy`` (0/1; 0 without artifact)."""
    query, gallery = dataset.split("query"), dataset.split("gallery")
    qf = np.stack([feats[i] for i in query["image"]])
    gf = np.stack([feats[i] for i in gallery["image"]])
    pq = evaluate(qf, gf, query, gallery, k=1, max_rank=1).per_query
    g_arts = dict(zip(gallery["image"], gallery["artifacts"].map(artifacts_of), strict=True))
    q_arts = query["artifacts"].map(artifacts_of).tolist()
    decoy = []
    for arts, (_, row) in zip(q_arts, pq.iterrows(), strict=True):
        top = row["top1_image"]
        other = top is not None and row["top1_post_id"] != row["post_id"]
        decoy.append(int(bool(arts) and other and bool(arts & g_arts.get(top, set()))))
    out = pd.DataFrame(
        {
            "query": pq["query"].to_numpy(),
            "ap": pq["ap"].to_numpy(dtype=float),
            "rank1": (pq["rank"] == 1).fillna(False).to_numpy(dtype=int),
            "clean": [int(not a) for a in q_arts],
            "has_artifact": [int(bool(a)) for a in q_arts],
            "decoy": decoy,
            "valid": pq["in_gallery"].to_numpy(dtype=bool),
        }
    )
    return out[out["valid"]].drop(columns="valid").reset_index(drop=True)


def query_summary(pq: pd.DataFrame) -> dict[str, float]:
    """The :data:`QUERY_METRICS` of a :func:`per_query` table (NaN where a subset is empty)."""
    clean, art = pq[pq["clean"] == 1], pq[pq["has_artifact"] == 1]

    def mean(s: pd.Series) -> float:
        return float(s.mean()) if len(s) else float("nan")

    return {
        "mAP": mean(pq["ap"]),
        "rank1": mean(pq["rank1"]),
        "mAP_clean": mean(clean["ap"]),
        "rank1_clean": mean(clean["rank1"]),
        "decoy_rate": mean(art["decoy"]),
    }


def post_drops(table: pd.DataFrame, feats: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per train post: ``post_id``, ``polluted``, ``kind``, ``artifact_photos``,
    ``drop`` (mean similarity drop to post-mates without the artifact; 0 without one)."""
    train = table[table["split"] == "train"]
    rows = []
    for post, photos in train.groupby("post_id", sort=True):
        drops = []
        for _, row in photos.iterrows():
            if not isinstance(row["counterfactual"], str) or not row["counterfactual"]:
                continue
            mates = [feats[m] for m in photos["image"] if m != row["image"]]
            if not mates:
                continue
            m = np.stack(mates)
            drops.append(float(np.mean(m @ feats[row["image"]] - m @ feats[row["counterfactual"]])))
        rows.append(
            {
                "post_id": post,
                "polluted": bool(photos["polluted"].iloc[0]),
                "kind": photos["homogeneous_artifact"].iloc[0],
                "artifact_photos": len(drops),
                "drop": float(np.mean(drops)) if drops else 0.0,
            }
        )
    return pd.DataFrame(rows)


def reliance_summary(drops: pd.DataFrame) -> dict[str, float]:
    """``reliance_auc`` (ROC AUC of the drop separating polluted from clean train posts; 1 =
    every polluted post drops more, 0.5 = no difference), the median drop of polluted posts and
    of clean posts that have an artifact photo (cosine similarity units)."""
    pol = drops[drops["polluted"]]
    touched = drops[~drops["polluted"] & (drops["artifact_photos"] > 0)]
    both = drops["polluted"].nunique() == 2
    return {
        "reliance_auc": float(roc_auc_score(drops["polluted"], drops["drop"]))
        if both
        else float("nan"),
        "reliance_polluted": float(pol["drop"].median()) if len(pol) else float("nan"),
        "reliance_clean": float(touched["drop"].median()) if len(touched) else float("nan"),
    }


def measure_checkpoint(path: str | Path, dataset: Dataset) -> tuple[dict, pd.DataFrame]:
    """Load a checkpoint (weights only) and measure it: ``(metrics, per-query table)``."""
    from explain.models.checkpoints import load_model

    needs_ground_truth(dataset)
    loaded = load_model(path, device="cpu")
    height, width = loaded.input_size
    feats = features(loaded.model, dataset, height, width)
    pq = per_query(dataset, feats)
    metrics = {**query_summary(pq), **reliance_summary(post_drops(dataset.table, feats))}
    return metrics, pq
