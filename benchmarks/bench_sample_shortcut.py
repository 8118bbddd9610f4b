"""Does a series match through the sample's planted artifacts? Counterfactual drops, decoy rate.

    .venv/bin/python benchmarks/bench_sample_shortcut.py [--data sample_data/pets]
        [--series baseline=sample_data/series/baseline --series curated=sample_data/series/curated]
        [--epochs 30,60] [--threads 1]

Reads the shipped checkpoints (trains nothing) and the generator's ground truth (it measures the
sample, so it may). For every series and epoch it prints:

(a) reliance, per train post: for each photo that has a counterfactual (the same render without
    its artifacts), ``mean over post-mates m of (e . m - c . m)`` — how much the photo's cosine
    similarity to the other photos of its post falls when its artifact is removed; a post's drop
    is the mean over its photos with an artifact (0 when it has none). Medians for polluted and
    clean posts (also clean posts that have at least one artifact photo), and the ROC AUC of the
    drop separating polluted from clean posts (1 = every polluted post drops more);
(b) decoy rate on the test split: among queries with an artifact, the share whose top-1 gallery
    photo is another animal carrying one of the query's artifacts; ``chance`` is that share for
    a top-1 drawn uniformly from the other animals' gallery photos; ``cf``: the same with every
    such query replaced by its counterfactual (same photo, artifact removed; the gallery and the
    decoys keep theirs) — the part of the rate that the query's artifact causes.

Plus rank-1 / mAP of each checkpoint, on all queries and on queries without artifacts, and of a
colour-histogram matcher (HSV histogram of the non-black pixels) for scale.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from curation.dataset import Dataset, load_dataset  # noqa: E402
from curation.images import load_rgb  # noqa: E402
from explain.models.device import set_threads  # noqa: E402
from explain.models.series import load_series  # noqa: E402
from explain.retrieval.embeddings import extract  # noqa: E402
from explain.retrieval.metrics import evaluate  # noqa: E402
from workbench.experiment.measure import artifacts_of as _artifacts  # noqa: E402
from workbench.experiment.measure import post_drops  # noqa: E402


def reliance_summary(drops: pd.DataFrame) -> dict:
    pol, clean = drops[drops["polluted"]], drops[~drops["polluted"]]
    touched = clean[clean["artifact_photos"] > 0]
    out = {
        "polluted_median": float(pol["drop"].median()),
        "polluted_mean": float(pol["drop"].mean()),
        "clean_median": float(clean["drop"].median()),
        "clean_with_artifact_median": float(touched["drop"].median()),
        "auc": float(roc_auc_score(drops["polluted"], drops["drop"])),
        "auc_vs_clean_with_artifact": float(
            roc_auc_score(pd.concat([pol, touched])["polluted"], pd.concat([pol, touched])["drop"])
        ),
    }
    for kind, grp in pol.groupby("kind"):
        out[f"median_{kind}"] = float(grp["drop"].median())
    return out


def decoy_rate(per_query: pd.DataFrame, query: pd.DataFrame, gallery: pd.DataFrame) -> dict:
    """Share of artifact-carrying queries whose top-1 is another animal with the same artifact."""
    q_arts = dict(zip(query["image"], query["artifacts"].map(_artifacts), strict=True))
    g_arts = dict(zip(gallery["image"], gallery["artifacts"].map(_artifacts), strict=True))
    g_post = gallery["post_id"].to_numpy()
    g_shares = gallery["artifacts"].map(_artifacts).to_numpy()
    hits, chance, n = 0, [], 0
    for _, row in per_query.iterrows():
        arts = q_arts[row["query"]]
        if not arts or row["top1_image"] is None:
            continue
        n += 1
        if row["top1_post_id"] != row["post_id"] and arts & g_arts[row["top1_image"]]:
            hits += 1
        others = g_post != row["post_id"]
        chance.append(float(np.mean([bool(arts & s) for s in g_shares[others]])))
    return {"queries": n, "decoy_top1": hits, "rate": hits / n if n else float("nan"),
            "chance": float(np.mean(chance)) if chance else float("nan")}  # fmt: skip


def colour_histograms(dataset: Dataset, images: list[str], bins=(12, 4, 4)) -> np.ndarray:
    """``(N, prod(bins))`` unit-norm square roots of HSV histograms of the non-black pixels."""
    out = []
    for rel in images:
        rgb = load_rgb(dataset.path(rel))
        hsv = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2HSV)
        keep = (np.asarray(rgb).max(axis=2) > 16).astype(np.uint8)
        h = cv2.calcHist([hsv], [0, 1, 2], keep, list(bins), [0, 180, 0, 256, 0, 256]).ravel()
        h = np.sqrt(h / max(h.sum(), 1.0))
        out.append(h / max(np.linalg.norm(h), 1e-12))
    return np.asarray(out, dtype=np.float32)


def retrieval(
    dataset: Dataset, feats: dict[str, np.ndarray], counterfactual_queries: bool = False
) -> tuple[dict, pd.DataFrame]:
    """Rank-1 / mAP (all queries, queries without artifacts) and the per-query table; with
    ``counterfactual_queries`` each query with an artifact is replaced by its counterfactual."""
    query, gallery = dataset.split("query"), dataset.split("gallery")
    names = query["image"]
    if counterfactual_queries:
        names = query["counterfactual"].where(query["counterfactual"] != "", query["image"])
    qf = np.stack([feats[i] for i in names])
    gf = np.stack([feats[i] for i in gallery["image"]])
    ev = evaluate(qf, gf, query, gallery)
    pq = ev.per_query
    clean = pq[(query["artifacts"] == "").to_numpy() & pq["in_gallery"].to_numpy()]
    valid = pq[pq["in_gallery"]]
    out = {
        "rank1": ev.summary["rank1"],
        "mAP": ev.summary["mAP"],
        "rank1_clean": float((clean["rank"] == 1).mean()),
        "mAP_clean": float(clean["ap"].mean()),
        "valid": len(valid),
    }
    return out, pq


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="sample_data/pets")
    ap.add_argument("--series", action="append", default=None, help="NAME=FOLDER (repeatable)")
    ap.add_argument("--epochs", default="30,60", help="checkpoint epochs to measure")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    set_threads(args.threads)
    series = args.series or [
        "baseline=sample_data/series/baseline",
        "curated=sample_data/series/curated",
    ]
    epochs = {int(e) for e in args.epochs.split(",")}
    dataset = load_dataset(Path(args.data))
    table = dataset.table
    images = sorted(
        set(table["image"]) | set(table.loc[table["counterfactual"] != "", "counterfactual"])
    )
    query, gallery = dataset.split("query"), dataset.split("gallery")
    n_art = int((query["artifacts"] != "").sum())
    print(f"{args.data}: {len(table)} photos, {table['post_id'].nunique()} posts; "
          f"{int(table['polluted'].sum())} polluted train photos in "
          f"{table.loc[table['polluted'], 'post_id'].nunique()} posts; "
          f"{n_art} of {len(query)} queries carry an artifact")  # fmt: skip

    hist = colour_histograms(dataset, list(query["image"]) + list(gallery["image"]))
    hfeats = dict(zip(list(query["image"]) + list(gallery["image"]), hist, strict=True))
    hret, hpq = retrieval(dataset, hfeats)
    hdec = decoy_rate(hpq, query, gallery)
    n_ids = gallery["post_id"].nunique()
    print(f"colour histogram: rank-1 {hret['rank1']:.3f} mAP {hret['mAP']:.3f} "
          f"(clean queries {hret['rank1_clean']:.3f} / {hret['mAP_clean']:.3f}); decoy rate "
          f"{hdec['rate']:.3f} ({hdec['decoy_top1']}/{hdec['queries']}, chance "
          f"{hdec['chance']:.3f}); chance rank-1 about 1/{n_ids}")  # fmt: skip

    rows = []
    for spec in series:
        name, _, folder = spec.partition("=")
        for loaded in load_series(folder, device="cpu"):
            if loaded.epoch not in epochs:
                continue
            height, width = loaded.input_size
            f = extract(loaded.model, [dataset.path(i) for i in images], height=height, width=width)
            feats = dict(zip(images, f, strict=True))
            ret, pq = retrieval(dataset, feats)
            rel = reliance_summary(post_drops(table, feats))
            dec = decoy_rate(pq, query, gallery)
            cf_dec = decoy_rate(retrieval(dataset, feats, True)[1], query, gallery)
            rows.append({"series": name, "epoch": loaded.epoch, **ret, **rel,
                         "decoy_rate": dec["rate"], "decoy_chance": dec["chance"],
                         "decoy_n": f"{dec['decoy_top1']}/{dec['queries']}",
                         "decoy_rate_cf": cf_dec["rate"],
                         "decoy_n_cf": f"{cf_dec['decoy_top1']}/{cf_dec['queries']}"})  # fmt: skip
    out = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        cols = ["series", "epoch", "rank1", "mAP", "rank1_clean", "mAP_clean"]
        print("\nretrieval\n" + out[cols].round(3).to_string(index=False))
        cols = ["series", "epoch", "polluted_median", "polluted_mean", "clean_median",
                "clean_with_artifact_median", "auc", "auc_vs_clean_with_artifact"]  # fmt: skip
        print("\n(a) similarity drop to post-mates without the artifact, per train post\n"
              + out[cols].round(3).to_string(index=False))  # fmt: skip
        kinds = [c for c in out.columns if c.startswith("median_")]
        print("\n    polluted posts' median drop per artifact\n"
              + out[["series", "epoch", *kinds]].round(3).to_string(index=False))  # fmt: skip
        cols = ["series", "epoch", "decoy_rate", "decoy_n", "decoy_chance", "decoy_rate_cf",
                "decoy_n_cf"]  # fmt: skip
        print("\n(b) decoy rate on the test split (top-1 another animal sharing the query's "
              "artifact); _cf: the same queries without their artifact (counterfactual)\n"
              + out[cols].round(3).to_string(index=False))  # fmt: skip


if __name__ == "__main__":
    main()
