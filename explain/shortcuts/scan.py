"""Reliance of every photo of a data set on its candidate regions, from one checkpoint.

:func:`scan` is what the CLI and a page call: the photos of some splits, the detector table
(:func:`curation.perception.runner.detect_dataset`), optionally the annotators' regions, and
one loaded checkpoint in; one row per (photo, region) out (:data:`REGION_COLUMNS`). Reads only
the table's ``image``, ``post_id`` and ``split``: no ground truth.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from curation.images import file_sha1, load_rgb
from curation.perception.silhouette import animal_mask
from explain.heatmaps.cache import HeatmapCache, get_or_compute
from explain.heatmaps.targets import PairSimilarity, SelfSimilarity
from explain.models.checkpoints import LoadedModel
from explain.models.engine import engine_for
from explain.retrieval.embeddings import embed_dataset
from explain.shortcuts.regions import Region, artifact_regions, model_regions
from explain.shortcuts.reliance import (
    DEFAULT_CONTROLS,
    ControlSettings,
    drops,
    edited_embeddings,
    to_batch,
)
from explain.storage.cache import DiskCache

REGION_COLUMNS = ("image", "post_id", "split", "kind", "source", "label", "area", "similarity",
                  "drop", "control_drops", "control_mean", "control_std", "control_coverage",
                  "reliance", "reference", "n_mates")  # fmt: skip
Progress = Callable[[int, int], None]


def input_image(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The photo resized to the input ``size`` ``(H, W)`` as torchreid's test transform does
    (PIL bilinear), ``(H, W, 3)`` uint8, and the file's ``(width, height)``."""
    img = load_rgb(path)
    h, w = size
    return np.asarray(img.resize((w, h), Image.BILINEAR), dtype=np.uint8), img.size


def mates_ref(hashes: Sequence[str]) -> str:
    """The heatmap cache's target reference of "similarity to these post-mates" (their image
    hashes, in any order)."""
    return "postmates:" + hashlib.sha1(":".join(sorted(hashes)).encode()).hexdigest()


def scan(
    loaded: LoadedModel,
    dataset,
    detections: pd.DataFrame,
    *,
    annotations: pd.DataFrame | None = None,
    splits: Sequence[str] = ("train", "gallery"),
    cache_dir: str | Path | None = None,
    fill_method: str = "telea",
    controls: ControlSettings = DEFAULT_CONTROLS,
    model_k: int = 2,
    cam_layer: str | None = None,
    engine: str = "auto",
    progress: Progress | None = None,
    images: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per-region reliance of every photo of ``splits``.

    ``detections``: the detector table (``image``, ``artifact``, ``detected``, ``region``) of
    these photos; ``annotations``: ``image`` and ``regions`` (the store's
    :meth:`~curation.store.TagStore.current`), or None. ``model_k``: how many Grad-CAM regions
    per photo (0: none; Grad-CAM's target is the cosine similarity to the mean of the post-mates'
    embeddings, or the photo itself for a post of one photo). ``cam_layer``: Grad-CAM layer
    (None: the architecture's default). ``engine``: the inference engine of the forwards.
    ``images``: score only these photos (their post-mates still come from every photo of
    ``splits``), e.g. one worker's share of the photos.
    Returns ``(regions, embeddings table, info)``: one row per (photo, region)
    (:data:`REGION_COLUMNS`, sorted by image and label); the photos with their clean embeddings
    (``image``, ``post_id``, ``split``, ``features`` as a ``(N, D)`` array in ``info``); and
    ``info`` (counts of cached and computed regions, the fill, the engine).
    """
    table = dataset.table
    table = table[table["split"].isin(list(splits))].reset_index(drop=True)
    if table.empty:
        raise ValueError(f"the dataset has no photos in {', '.join(splits)}")
    needed = {"image", "artifact", "detected", "region"}
    if not needed <= set(detections.columns):
        raise ValueError(
            f"the detection table lacks {', '.join(sorted(needed - set(detections.columns)))}; "
            "pass the table of curation.perception.runner.detect_dataset (or `workbench detect`)"
        )
    det = {img: rows for img, rows in detections.groupby("image")}
    notes = {}
    if annotations is not None:
        if not {"image", "regions"} <= set(annotations.columns):
            raise ValueError("annotations need columns 'image' and 'regions' (TagStore.current)")
        notes = {str(r.image): r.regions for r in annotations.itertuples(index=False)}
    emb = embed_dataset(loaded, dataset, cache_dir=Path(cache_dir) if cache_dir else None,
                        splits=splits, engine=engine)  # fmt: skip
    feats = emb.rows(table["image"].tolist())
    size = tuple(loaded.input_size)
    disk = DiskCache(cache_dir, "shortcuts") if cache_dir is not None else None
    heat = HeatmapCache(cache_dir) if cache_dir is not None and model_k > 0 else None
    forward = engine_for(loaded.model, engine)
    paths = [dataset.path(img) for img in table["image"]]
    hashes = [file_sha1(p) for p in paths]
    groups = table.groupby(["split", "post_id"], sort=False).indices
    wanted = None if images is None else set(images)
    if wanted is not None and not wanted <= set(table["image"]):
        stray = sorted(wanted - set(table["image"]))[:3]
        raise ValueError(f"images not among the photos of {', '.join(splits)}: {stray}")
    order = [i for i in range(len(table)) if wanted is None or table["image"][i] in wanted]
    rows, computed, read = [], 0, 0
    for done, i in enumerate(order, start=1):
        rec = table.iloc[i]
        mates_idx = [j for j in groups[(rec.split, rec.post_id)] if j != i]
        mates = feats[mates_idx] if mates_idx else None
        image, file_size = input_image(paths[i], size)
        animal = animal_mask(image).mask
        regions: list[Region] = artifact_regions(
            det[rec.image].to_dict("records") if rec.image in det else [],
            notes.get(rec.image), file_size, size,
        )  # fmt: skip
        if model_k > 0:
            if mates is not None:
                target = PairSimilarity(torch.from_numpy(mates.mean(axis=0)))
                ref = mates_ref([hashes[j] for j in mates_idx])
            else:
                target, ref = SelfSimilarity(), "self"
            cam = get_or_compute(
                heat, loaded.model, to_batch([image]), target, "gradcam",
                checkpoint_sha1=loaded.sha1, image_sha1=hashes[i], target_ref=ref,
                layer=cam_layer,
            )  # fmt: skip
            # the map as the cache stores it (float16), so a first run and a resumed one
            # draw the same regions (and hit the same reliance entries)
            regions += model_regions(cam.map.astype(np.float16).astype(np.float32), model_k)
        if regions:
            clean, edited, n_new = edited_embeddings(
                forward, image, animal, regions, checkpoint_sha1=loaded.sha1,
                image_sha1=hashes[i], fill_method=fill_method, controls=controls, cache=disk,
            )  # fmt: skip
            computed += n_new
            read += len(regions) - n_new
            for r, e in zip(regions, edited, strict=True):
                d = drops(clean, e, mates)
                rows.append({
                    "image": rec.image, "post_id": str(rec.post_id), "split": rec.split,
                    "kind": r.kind, "source": r.source, "label": r.label,
                    "area": round(r.area, 5), **d,
                    "control_drops": json.dumps(d["control_drops"]),
                    "control_coverage": json.dumps([float(v) for v in e["coverage"]]),
                    "n_mates": len(mates_idx),
                })  # fmt: skip
        if progress is not None:
            progress(done, len(order))
    out = pd.DataFrame(rows, columns=list(REGION_COLUMNS))
    out = out.sort_values(["image", "label"], kind="mergesort").reset_index(drop=True)
    photos = table.iloc[order][["image", "post_id", "split"]].reset_index(drop=True)
    photos = photos.assign(post_id=photos["post_id"].astype(str))
    info = {"computed": computed, "cached": read, "fill": fill_method, "engine": forward.kind,
            "features": feats[order], "controls": controls.n, "photos": len(order)}  # fmt: skip
    return out, photos, info
