"""Shortcut scores on the bundled sample, run without ground truth and scored against it after.

    .venv/bin/python benchmarks/bench_shortcuts.py [--epochs 60] [--no-occlusion]
        [--cache /tmp/shortcuts-bench-cache] [--real /work/shared/real_pets --top 10]

One thread. The sample is loaded as a plain folder (``curation.dataset.load_folder``: file
names only, no manifest, no masks, no counterfactuals); the pixel detectors and the reliance
scan run on its train photos with the chosen checkpoint. Only then are the manifest's
``polluted`` and ``homogeneous_artifact`` columns read, to print one table per epoch: ROC AUC
against the planted polluted posts (20 of 80) of

- ``combined``     the post shortcut score (data x reliance, :mod:`explain.shortcuts.posts`)
- ``data only``    share of the post's photos with one detected artifact
- ``reliance``     the model's reliance on that artifact (mean over the post's photos)
- ``gradcam mass`` share of the Grad-CAM map (target: similarity to the post-mates) inside the
                   photo's detected artifact regions, mean over the post's photos with a
                   detection (0 for a post without any)
- ``occlusion``    the same with an occlusion map (window 32, stride 16, blur baseline)
- ``randomcam``    the same with RandomCAM (the sanity baseline)

overall and per artifact (one-vs-clean: the 5 posts planted with that artifact against the 60
clean posts), how many polluted posts the model relies on (``relied_share >= 0.5``), the
control spread and the time. ``--real``: the same scan on a query/gallery folder (gallery
posts), printing the highest-ranked posts with their evidence.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "WORKBENCH_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ("hands", "tongue", "grass", "glare")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (ties count half)."""
    labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater) / (len(pos) * len(neg))


def masses(loaded, ds, det, photos, feats, cache_dir, occlusion: bool) -> pd.DataFrame:
    """Per photo: the share of each map inside its detected artifact regions."""
    import torch

    from curation.images import file_sha1
    from explain.heatmaps.cache import HeatmapCache, get_or_compute
    from explain.heatmaps.targets import PairSimilarity
    from explain.shortcuts.regions import artifact_regions
    from explain.shortcuts.reliance import to_batch
    from explain.shortcuts.scan import input_image, mates_ref

    heat = HeatmapCache(cache_dir)
    size = tuple(loaded.input_size)
    by_image = {img: rows for img, rows in det.groupby("image")}
    hashes = [file_sha1(ds.path(img)) for img in photos["image"]]
    groups = photos.groupby(["split", "post_id"]).indices
    methods = {"gradcam": {}, "randomcam": {"seed": 0}}
    if occlusion:
        methods["occlusion"] = {"window": 32, "stride": 16, "baseline": "blur"}
    rows = []
    for i, rec in enumerate(photos.itertuples(index=False)):
        rows_i = by_image[rec.image].to_dict("records") if rec.image in by_image else []
        image, file_size = input_image(ds.path(rec.image), size)
        regions = artifact_regions(rows_i, None, file_size, size)
        out = {"image": rec.image, "post_id": rec.post_id, "detected": bool(regions)}
        if not regions:
            rows.append(out)
            continue
        mask = np.logical_or.reduce([r.mask for r in regions])
        mates = [j for j in groups[(rec.split, rec.post_id)] if j != i]
        target = PairSimilarity(torch.from_numpy(feats[mates].mean(axis=0)))
        ref = mates_ref([hashes[j] for j in mates])
        x = to_batch([image])
        for name, params in methods.items():
            hm = get_or_compute(heat, loaded.model, x, target, name, checkpoint_sha1=loaded.sha1,
                                image_sha1=hashes[i], target_ref=ref, **params)  # fmt: skip
            m = np.asarray(hm.map, np.float64)
            out[name] = float(m[mask].sum() / max(m.sum(), 1e-12))
        rows.append(out)
    return pd.DataFrame(rows)


def sample(args) -> None:
    from curation.dataset import load_folder
    from curation.perception.runner import detect_dataset
    from explain.models.series import load_series
    from explain.shortcuts import post_scores, scan
    from explain.storage.cache import DiskCache

    data = ROOT / "sample_data" / "pets"
    ds = load_folder(data)  # the folder layout only: no manifest, no truth
    train = ds.table[ds.table["split"] == "train"]["image"].tolist()
    t0 = time.perf_counter()
    det, _ = detect_dataset(ds, "pixel", images=train, cache=DiskCache(args.cache, "perception"))
    t_det = time.perf_counter() - t0
    series = load_series(ROOT / "sample_data" / "series" / "baseline")
    for epoch in args.epochs:
        loaded = next(m for m in series if m.epoch == epoch)
        t0 = time.perf_counter()
        regions, photos, info = scan(loaded, ds, det, splits=("train",), cache_dir=args.cache)
        t_scan = time.perf_counter() - t0
        posts = post_scores(regions, photos)
        t0 = time.perf_counter()
        mass = masses(loaded, ds, det, photos, info["features"], args.cache, args.occlusion)
        t_mass = time.perf_counter() - t0
        methods = ["gradcam", "randomcam"] + (["occlusion"] if args.occlusion else [])
        per_post = mass[mass["detected"]].groupby("post_id")[methods].mean()
        posts = posts.join(per_post, on="post_id").fillna({m: 0.0 for m in methods})
        # -- scoring: the only place the manifest's truth is read ------------------------------
        truth = pd.read_csv(data / "manifest.csv", dtype={"post_id": str})
        truth = truth[truth["split"] == "train"].drop_duplicates("post_id").set_index("post_id")
        posts["polluted"] = truth.loc[posts["post_id"], "polluted"].astype(bool).to_numpy()
        posts["planted"] = truth.loc[posts["post_id"], "homogeneous_artifact"].fillna("").to_numpy()
        columns = {"combined": "score", "data only": "data_score", "reliance": "reliance",
                   "gradcam mass": "gradcam", "occlusion mass": "occlusion",
                   "randomcam mass": "randomcam"}  # fmt: skip
        print(
            f"\nepoch {epoch}: {len(posts)} train posts, {int(posts['polluted'].sum())} "
            f"polluted; ROC AUC (overall, then each artifact's 5 posts vs the clean ones)"
        )
        print(f"{'score':<16}{'overall':>8}" + "".join(f"{a:>8}" for a in ARTIFACTS))
        clean = ~posts["polluted"]
        for label, col in columns.items():
            if col not in posts:
                print(f"{label:<16}{'skipped':>8}")
                continue
            line = f"{label:<16}{auc(posts['polluted'], posts[col]):>8.3f}"
            for a in ARTIFACTS:
                sel = clean | (posts["planted"] == a)
                line += f"{auc(posts.loc[sel, 'planted'] == a, posts.loc[sel, col]):>8.3f}"
            print(line)
        pol = posts[posts["polluted"]]
        relied = pol[(pol["relied_share"] >= 0.5) & (pol["data_kind"] == pol["planted"])]
        kind_ok = int((pol["data_kind"] == pol["planted"]).sum())
        print(f"polluted posts whose top detected kind is the planted one: {kind_ok} of {len(pol)}")
        print(
            f"polluted posts the model relies on the artifact (relied_share >= 0.5): "
            f"{len(relied)} of {len(pol)} ("
            + ", ".join(f"{a} {int((relied['planted'] == a).sum())}" for a in ARTIFACTS)
            + ")"
        )
        art = regions[regions["kind"] != "model"]
        print(
            f"control spread (std of the control drops) per artifact region: median "
            f"{art['control_std'].median():.4f}, 90th percentile "
            f"{art['control_std'].quantile(0.9):.4f}; drop median {art['drop'].median():.4f}"
        )
        print(
            f"time: detect {t_det:.1f} s, scan {t_scan:.1f} s ({info['computed']} regions "
            f"computed, {info['cached']} cached, engine {info['engine']}), maps {t_mass:.1f} s"
        )


def real(args) -> None:
    from curation.dataset import load_folder
    from curation.perception.runner import detect_dataset
    from explain.models.series import load_series
    from explain.retrieval.outliers import photo_outliers
    from explain.shortcuts import post_scores, scan
    from explain.storage.cache import DiskCache

    ds = load_folder(args.real)
    gallery = ds.table[ds.table["split"] == "gallery"]["image"].tolist()
    det, _ = detect_dataset(ds, "pixel", images=gallery,
                            cache=DiskCache(args.cache, "perception"))  # fmt: skip
    series = load_series(ROOT / "sample_data" / "series" / "baseline")
    loaded = next(m for m in series if m.epoch == args.epochs[-1])
    regions, photos, info = scan(loaded, ds, det, splits=("gallery",), cache_dir=args.cache)
    posts = post_scores(regions, photos)
    print(f"\n{args.real}: {len(photos)} gallery photos, {len(posts)} posts, epoch {loaded.epoch}")
    print(f"{'post':>8} {'n':>2} {'score':>6} {'data':>5} {'reliance':>9} {'model':>7}  cause; "
          "photos (reliance)")  # fmt: skip
    for r in posts.head(args.top).itertuples(index=False):
        ev = json.loads(r.evidence)
        shown = ", ".join(f"{Path(p['image']).name} ({p['reliance']})" for p in ev["photos"])
        print(f"{r.post_id:>8} {r.n_photos:>2} {r.score:>6.3f} {r.data_score:>5.2f} "
              f"{r.reliance:>9.4f} {r.model_reliance:>7.4f}  {r.cause}; {shown}")  # fmt: skip
    out = photo_outliers(photos, info["features"])
    print("\nmost outlying photos (leave-one-out similarity to their post):")
    for r in out.head(5).itertuples(index=False):
        print(f"  {r.image}  loo {r.loo_similarity:.3f}  z {r.robust_z:.2f}  gap {r.gap:.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", default="60", help="comma-separated sample epochs [60]")
    p.add_argument("--no-occlusion", dest="occlusion", action="store_false")
    p.add_argument("--cache", type=Path, default=Path("/tmp/shortcuts-bench-cache"))
    p.add_argument("--real", type=Path, default=None, help="also scan this query/gallery folder")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--only-real", action="store_true", help="skip the sample")
    args = p.parse_args()
    args.epochs = [int(e) for e in args.epochs.split(",")]
    from explain.models.device import set_threads

    set_threads(1)
    if not args.only_real:
        sample(args)
    if args.real is not None:
        real(args)


if __name__ == "__main__":
    main()
