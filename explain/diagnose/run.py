"""The diagnosis of one checkpoint on one dataset: every measurement the report needs.

Reads photos and one checkpoint only (the sample's ground truth, when the caller passes it, is
used to *score* the measurements: ground-truth masks for the non-animal regions, the
generator's facing side). Query and gallery photos get Grad-CAM maps (similarity to themselves,
the heatmap cache's keys, so maps precomputed by ``workbench explain precompute`` are read),
silhouettes, threshold masks and the intruder detectors; every photo gets its embedding and
its mirror image's (for the pose spread of the training posts too).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from curation.images import load_rgb
from curation.perception import silhouette as sil
from curation.perception.runner import detect_dataset
from explain.diagnose import pose, segmentation
from explain.diagnose.stats import paired_difference
from explain.heatmaps.base import embed, explaining
from explain.heatmaps.cache import HeatmapCache, get_or_compute
from explain.heatmaps.scores import (
    ARTIFACT_PREFIX,
    load_mask,
    positive_attribution,
    rasterise_regions,
)
from explain.models.preprocess import test_transform
from explain.storage.hashing import content_hashes

INTRUDERS = ("hands", "collar", "grass")  # not animal, yet often inside the silhouette
METHOD = "gradcam"
TARGET_REF = "self"  # the batch precompute's key for "similarity to itself"
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class Measurements:
    """Per-photo tables and retrieval comparisons (see :func:`measure`)."""

    photos: pd.DataFrame  # one row per query/gallery photo: shares, mask loss, side, detections
    spread: pd.DataFrame  # per post (every split): photos per side, mixed
    alignment: dict  # pose.compare_alignment on query/gallery
    maps: dict  # pose.map_agreement
    cleaned: dict  # {"mAP"|"rank1": Estimate} of blacking out detected intruders
    cleaned_maps: dict  # as_is / cleaned mAP
    info: dict = field(default_factory=dict)


def _tensors(paths: list[Path], height: int, width: int) -> torch.Tensor:
    tf = test_transform(height, width)
    return torch.stack([tf(load_rgb(p)) for p in paths])


def _embed_all(model, x: torch.Tensor, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings ``(N, D)`` of ``x`` and of its mirror images."""
    plain, flipped = [], []
    with explaining(model):
        for s in range(0, len(x), batch):
            xb = x[s : s + batch]
            plain.append(torch.nn.functional.normalize(embed(model, xb).float(), dim=1))
            flipped.append(torch.nn.functional.normalize(
                embed(model, torch.flip(xb, dims=[3])).float(), dim=1))  # fmt: skip
    return torch.cat(plain).numpy(), torch.cat(flipped).numpy()


def _resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if mask.shape == (h, w):
        return mask
    img = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)
    return np.asarray(img) >= 128


def _detected_masks(found: pd.DataFrame, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """Detected intruder regions per image at the input size."""
    out: dict[str, np.ndarray] = {}
    for rec in found[found["detected"]].itertuples(index=False):
        regions = json.loads(rec.region)
        if not regions:
            continue
        with Image.open(rec.path) as img:  # regions are in the file's pixels
            w, h = img.size
        masks = rasterise_regions(regions, (w, h), size)
        for m in masks.values():
            out[rec.image] = out.get(rec.image, np.zeros(size, bool)) | m
    return out


def _truth_masks(dataset, rec: Mapping, size: tuple[int, int]) -> np.ndarray | None:
    cols = [f"{ARTIFACT_PREFIX}{k}" for k in INTRUDERS if f"{ARTIFACT_PREFIX}{k}" in rec]
    if not cols:
        return None
    out = np.zeros(size, bool)
    for c in cols:
        v = rec[c]
        if isinstance(v, str) and v.strip():
            out |= load_mask(dataset.path(v), size)
    return out


def measure(
    dataset,
    loaded,
    *,
    cache_dir: Path | None,
    perception_cache=None,
    truth_sides: Mapping[str, int] | None = None,
    progress: Progress | None = None,
) -> Measurements:
    """Every measurement of the diagnosis for checkpoint ``loaded`` (a LoadedModel) on
    ``dataset`` (a :class:`curation.dataset.Dataset` with query and gallery photos).

    ``truth_sides``: manifest image -> +1/-1 (the generator's facing side) to score the side
    decision; ``perception_cache``: the detectors' cache (``DiskCache(..., "perception")``).
    """
    table = dataset.table
    qg = table[table["split"].isin(["query", "gallery"])].reset_index(drop=True)
    if (qg["split"] == "query").sum() == 0 or (qg["split"] == "gallery").sum() == 0:
        raise ValueError("the diagnosis needs query and gallery photos; this dataset lacks one")
    height, width = loaded.input_size
    size = (height, width)
    model = loaded.model
    report = progress or (lambda *_: None)

    # embeddings of every photo and of its mirror image; sides from the silhouettes
    all_paths = [dataset.path(i) for i in table["image"]]
    x_all = _tensors(all_paths, height, width)
    report("embedding", 0, 1)
    feat, flip = _embed_all(model, x_all)
    report("embedding", 1, 1)
    emb_sides, _ = pose.facing_sides(feat, flip)
    sides, strength = np.ones(len(table), int), np.zeros(len(table))
    silhouettes = {}
    for i, p in enumerate(all_paths):
        mask = sil.animal_mask(np.asarray(load_rgb(p))).mask
        silhouettes[table["image"].iat[i]] = mask
        sides[i], strength[i] = pose.silhouette_side(mask)
        report("silhouettes", i + 1, len(all_paths))
    pos = {img: i for i, img in enumerate(table["image"])}
    spread = pose.pose_spread(table["post_id"].astype(str).tolist(), sides)

    # detectors (the non-animal regions inside the silhouette) on query and gallery photos
    found, _ = detect_dataset(dataset, list(INTRUDERS), cache=perception_cache,
                              images=list(qg["image"]),
                              progress=lambda d, t: report("detecting", d, t))  # fmt: skip
    found["path"] = [dataset.path(i) for i in found["image"]]
    detected = _detected_masks(found, size)
    kinds = found[found["detected"]].groupby("image")["artifact"].apply(
        lambda s: ";".join(sorted(s)))  # fmt: skip

    hcache = HeatmapCache(cache_dir) if cache_dir is not None else None
    qg_paths = [dataset.path(i) for i in qg["image"]]
    hashes = content_hashes(qg_paths)
    idx = [pos[i] for i in qg["image"]]
    x_qg = x_all[idx]
    rows, maps, cleaned_x = [], [], x_qg.clone()
    has_truth = any(c in qg.columns for c in (f"{ARTIFACT_PREFIX}{k}" for k in INTRUDERS))
    for n, (rec, path, sha) in enumerate(zip(qg.to_dict("records"), qg_paths, hashes,
                                            strict=True)):  # fmt: skip
        photo = np.asarray(load_rgb(path))
        silhouette = _resize_mask(silhouettes[rec["image"]], size)
        loss = segmentation.mask_loss(sil.silhouette(photo), sil.threshold_mask(photo))
        hm = get_or_compute(hcache, model, x_qg[n], "self", METHOD, checkpoint_sha1=loaded.sha1,
                            image_sha1=sha, target_ref=TARGET_REF)  # fmt: skip
        attribution = positive_attribution(hm)
        maps.append(hm.map)
        intruder = detected.get(rec["image"])
        shares = segmentation.attribution_shares(attribution, silhouette, intruder)
        row = {"image": rec["image"], "post_id": str(rec["post_id"]), "split": rec["split"],
               **shares, **loss, "detected": kinds.get(rec["image"], ""),
               "side": int(sides[pos[rec["image"]]]),
               "side_embedding": int(emb_sides[pos[rec["image"]]]),
               "side_strength": float(strength[pos[rec["image"]]])}  # fmt: skip
        if has_truth:
            gt = _truth_masks(dataset, rec, size)
            gt_shares = segmentation.attribution_shares(attribution, silhouette, gt)
            row["intruder_truth"] = gt_shares["intruder"]
        if truth_sides is not None:
            row["side_truth"] = int(truth_sides.get(rec["image"], 0))
        rows.append(row)
        if intruder is not None:  # what better segmentation would show the model: black there
            m = torch.from_numpy(intruder)
            black = test_transform(height, width)(Image.new("RGB", (width, height)))
            cleaned_x[n] = torch.where(m[None], black, cleaned_x[n])
        report("heatmaps", n + 1, len(qg))
    photos = pd.DataFrame(rows)

    q = (qg["split"] == "query").to_numpy()
    pids, cams = qg["post_id"].astype(str).to_numpy(), qg["camid"].to_numpy()
    qf, gf = feat[idx][q], feat[idx][~q]
    qfl, gfl = flip[idx][q], flip[idx][~q]
    s_qg = sides[idx]
    alignment = pose.compare_alignment((qf, qfl), (gf, gfl), pids[q], pids[~q], cams[q],
                                       cams[~q], s_qg[q], s_qg[~q])  # fmt: skip
    if truth_sides is not None:  # the generator's sides where it has one: what alignment could do
        t = np.array([truth_sides.get(i, 0) for i in qg["image"]])
        s_t = np.where(t != 0, t, s_qg)
        alignment["truth"] = pose.compare_alignment(
            (qf, qfl), (gf, gfl), pids[q], pids[~q], cams[q], cams[~q], s_t[q], s_t[~q]
        )
    map_est = pose.map_agreement(maps, list(pids), s_qg)

    cf, _ = _embed_all(model, cleaned_x)
    before = pose.retrieval(qf, gf, pids[q], pids[~q], cams[q], cams[~q])
    after = pose.retrieval(cf[q], cf[~q], pids[q], pids[~q], cams[q], cams[~q])
    valid = ~np.isnan(before.ap)
    hit_before = (before.first[valid] == 1).astype(float)
    hit_after = (after.first[valid] == 1).astype(float)
    cleaned = {"mAP": paired_difference(before.ap[valid], after.ap[valid]),
               "rank1": paired_difference(hit_before, hit_after)}  # fmt: skip
    info = {"photos": len(qg), "queries": int(q.sum()), "gallery": int((~q).sum()),
            "all_photos": len(table), "epoch": loaded.epoch, "checkpoint": str(loaded.path),
            "intruder_source": "detectors (" + ", ".join(INTRUDERS) + ")",
            "truth_masks": bool(has_truth), "photos_cleaned": len(detected),
            "method": METHOD}  # fmt: skip
    return Measurements(
        photos,
        spread,
        alignment,
        map_est,
        cleaned,
        {"as_is": float(before.mAP), "cleaned": float(after.mAP)},
        info,
    )
