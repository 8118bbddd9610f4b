"""What the app's pages ask of a dataset and a checkpoint series, as plain functions.

- :func:`photo`: a manifest image as the model sees it (resized picture, input tensor, SHA-1);
- :func:`regions_for`: the animal mask and artifact regions of a photo, from the manifest's
  ground truth, from annotators' regions, or — for photos without masks — the animal mask of
  :mod:`curation.perception.silhouette` (the silhouette of a segmented photo, GrabCut
  otherwise) and the artifacts its pixel detectors find, with the source named;
- :func:`explain_query`: maps of a query (and its match, both directions) for every checkpoint
  and method, with attribution scores per epoch;
- :func:`attribution_outcomes`: per query, the share of attribution on the animal and on the
  artifact regions at one checkpoint, the numbers :func:`curation.suggest.suggest` needs.

Maps go through :class:`explain.heatmaps.cache.HeatmapCache` when one is given, so a page that
has been opened once reads its maps from disk.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from PIL import Image

from curation.dataset import Dataset
from curation.images import file_sha1, load_rgb
from curation.perception import silhouette as sil
from curation.perception.catalog import select
from curation.perception.runner import detect_image
from explain.heatmaps.base import Heatmap
from explain.heatmaps.cache import HeatmapCache, get_or_compute
from explain.heatmaps.scores import masks_for_row, rasterise_regions, score_heatmap
from explain.heatmaps.series import (
    SeriesMaps,
    members,
    pair_embeddings,
    series_maps,
    series_pair_maps,
)
from explain.heatmaps.targets import pair_targets
from explain.models.preprocess import to_input

Progress = Callable[[int, int], None]
BLACK = 16  # 0..255: a pixel brighter than this in some channel belongs to the animal
PIXEL_THRESHOLDS = {e.name: e.threshold for e in select("pixel")}


@dataclass(frozen=True)
class Photo:
    """One manifest image prepared for a model.

    ``picture``: RGB at the model's input size ``(W, H)``; ``x``: ``(1, 3, H, W)`` normalised;
    ``original_size``: ``(width, height)`` of the file (region coordinates refer to it).
    """

    image: str
    picture: Image.Image
    x: torch.Tensor
    sha1: str
    original_size: tuple[int, int]


def photo(dataset: Dataset, image: str, size: tuple[int, int] = (256, 128)) -> Photo:
    """Read ``image`` (a manifest entry) and prepare it for a model of input ``size`` (H, W)."""
    return photo_file(dataset.path(image), size, name=image)


def photo_file(path, size: tuple[int, int] = (256, 128), *, name: str | None = None) -> Photo:
    """Any image file prepared for a model of input ``size`` (H, W); ``name`` labels it.

    Raises :class:`curation.images.ImageReadError` for files that are not readable images.
    """
    rgb = load_rgb(path)
    h, w = size
    return Photo(name or str(path), rgb.resize((w, h), Image.BILINEAR), to_input(rgb, h, w),
                 file_sha1(path), rgb.size)  # fmt: skip


def segmentation_mask(picture: Image.Image, threshold: int = BLACK) -> np.ndarray | None:
    """The animal of a segmented photo: its silhouette (:func:`curation.perception.silhouette.
    silhouette` — connected non-background components, holes filled, specks removed, so dark
    fur inside the outline counts), ``threshold`` being the brightness (0..255) above which a
    pixel surely belongs to it.

    Returns a ``(H, W)`` bool array, or None when the photo does not look segmented
    (:func:`curation.perception.silhouette.is_segmented`).
    """
    arr = np.asarray(picture.convert("RGB"))
    return sil.silhouette(arr, bright=threshold) if sil.is_segmented(arr) else None


def animal_of(picture: Image.Image) -> tuple[np.ndarray, str]:
    """The animal mask of a photo without a manifest mask, and its kind: the silhouette of a
    segmented photo, else GrabCut (:func:`curation.perception.silhouette.animal_mask`)."""
    am = sil.animal_mask(np.asarray(picture.convert("RGB")))
    return am.mask, am.kind


@functools.lru_cache(maxsize=4096)
def _detected(path: str, stamp: tuple[int, int]) -> tuple[tuple[str, tuple], ...]:
    rows, _ = detect_image(path, select("pixel"))
    hits = []
    for r in rows:
        if r["score"] >= PIXEL_THRESHOLDS[r["artifact"]]:
            hits += [(g["artifact"], tuple(map(tuple, g["points"]))) for g in r["region"]]
    return tuple(hits)


def detected_regions(path: str, original_size: tuple[int, int] | None = None) -> list[dict]:
    """The artifact regions the pixel detectors of :mod:`curation.perception` find in a photo
    file at their default thresholds, as tag-store polygons in the file's own pixels (kept in
    memory per file path, size and modification time)."""
    st_ = os.stat(path)
    return [
        {"artifact": a, "kind": "polygon", "points": [list(p) for p in pts]}
        for a, pts in _detected(str(path), (st_.st_size, st_.st_mtime_ns))
    ]


@dataclass(frozen=True)
class Regions:
    """Where the animal and the artifacts are in one photo, at one resolution ``(H, W)``.

    ``animal_source``: ``ground truth`` (manifest mask), ``silhouette`` (of a segmented
    photo), ``grabcut`` or ``none``; ``artifact_source``: ``ground truth``, ``detected``,
    ``annotator``, joined by ``+``, or ``none``.
    """

    animal: np.ndarray | None
    artifacts: dict[str, np.ndarray]
    animal_source: str
    artifact_source: str


def regions_for(
    dataset: Dataset,
    image: str,
    size: tuple[int, int],
    *,
    annotator_regions: Sequence[Mapping] | None = None,
    original_size: tuple[int, int] | None = None,
    picture: Image.Image | None = None,
    detect: bool | None = None,
) -> Regions:
    """Masks of ``image`` at ``size`` (H, W): ground truth from the manifest when it has some,
    annotator regions (union with ground truth per artifact), the animal mask of ``picture``
    (:func:`animal_of`: silhouette or GrabCut) when the manifest has no animal mask, and the
    artifacts the pixel detectors find (:func:`detected_regions`) when ``detect`` — by default
    when the manifest carries no artifact ground truth, i.e. on real photos.
    ``animal_source`` names the mask (``ground truth``, ``silhouette``, ``grabcut``, ``none``);
    ``artifact_source`` joins ``ground truth``, ``detected`` and ``annotator``."""
    row = dataset.table.loc[dataset.table["image"] == image]
    if row.empty:
        raise KeyError(f"{image} is not in the dataset; pick an image of its manifest")
    animal, artifacts = masks_for_row(dataset, row.iloc[0].to_dict(), size)
    animal_source = "ground truth" if animal is not None else "none"
    if animal is None and picture is not None:
        animal, animal_source = animal_of(picture.resize((size[1], size[0])))
    sources = ["ground truth"] if artifacts else []
    if detect is None:
        detect = not dataset.has_ground_truth
    extra = []
    if detect:
        found = detected_regions(str(dataset.path(image)))
        if found:
            extra.append(("detected", found))
    if annotator_regions:
        extra.append(("annotator", list(annotator_regions)))
    for source, regions in extra:
        if original_size is None:
            original_size = load_rgb(dataset.path(image)).size
        drawn = rasterise_regions(regions, original_size, size)
        for tag, mask in drawn.items():
            artifacts[tag] = artifacts[tag] | mask if tag in artifacts else mask
        sources.append(source)
    return Regions(animal, artifacts, animal_source, " + ".join(sources) or "none")


def scores_table(maps: SeriesMaps, regions: Regions) -> pd.DataFrame:
    """Attribution scores of each map of a series: one row per (epoch, region) with ``label``,
    ``epoch``, ``region``, ``mass`` (share of positive attribution in [0, 1]), ``area``,
    ``enrichment`` (mass / area), ``peak`` (pointing game), ``empty`` (no positive
    attribution)."""
    rows = []
    for label, epoch, hm in zip(maps.labels, maps.epochs, maps.heatmaps, strict=True):
        empty = float(hm.map.max()) == 0.0
        for s in score_heatmap(hm, regions.animal, regions.artifacts):
            rows.append({"label": label, "epoch": epoch, **vars(s), "empty": empty})
    cols = ["label", "epoch", "region", "mass", "area", "enrichment", "peak", "empty"]
    return pd.DataFrame(rows, columns=cols)


@dataclass
class QueryExplanation:
    """Maps of a query (and its match) for every checkpoint, per method.

    ``query[method]``/``match[method]``: :class:`SeriesMaps` (``match`` empty without a match);
    ``similarity``: cosine similarity of the pair per checkpoint (empty without a match);
    ``scores[method]``: :func:`scores_table` of the query's maps.
    """

    query: dict[str, SeriesMaps] = field(default_factory=dict)
    match: dict[str, SeriesMaps] = field(default_factory=dict)
    similarity: list[float] = field(default_factory=list)
    scores: dict[str, pd.DataFrame] = field(default_factory=dict)


def explain_query(
    series: Sequence[object],
    query: Photo,
    methods: Sequence[str],
    *,
    match: Photo | None = None,
    regions: Regions | None = None,
    params: Mapping[str, Mapping] | None = None,
    cache: HeatmapCache | None = None,
    progress: Progress | None = None,
) -> QueryExplanation:
    """Maps of ``query`` for each method and checkpoint of ``series``.

    With ``match``, each checkpoint explains the pair's cosine similarity in both directions
    (what the query contributed, what the match contributed); without, the query's similarity
    to its own embedding. ``params[method]``: the method's parameters (layer, window ...).
    ``progress(done, total)`` counts maps over all methods.
    """
    out = QueryExplanation()
    n = len(members(series))
    total, done = n * len(methods), 0
    for method in methods:
        p = dict((params or {}).get(method, {}))

        def step(i: int, _n: int, base: int = done) -> None:
            if progress is not None:
                progress(base + i, total)

        if match is None:
            out.query[method] = series_maps(
                series, query.x, method, "self", cache=cache, image_sha1=query.sha1,
                progress=step, **p,
            )  # fmt: skip
        else:
            q, g = series_pair_maps(
                series, query.x, match.x, method, cache=cache, query_sha1=query.sha1,
                match_sha1=match.sha1, progress=step, **p,
            )  # fmt: skip
            out.query[method], out.match[method] = q, g
            out.similarity = list(q.extra["similarity"])
        done += n
        if regions is not None:
            out.scores[method] = scores_table(out.query[method], regions)
    return out


def attribution_outcomes(
    dataset: Dataset,
    member: object,
    per_query: pd.DataFrame,
    *,
    method: str = "gradcam",
    params: Mapping | None = None,
    annotator_regions: Mapping[str, Sequence[Mapping]] | None = None,
    cache: HeatmapCache | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Per query: the share of the query's attribution on the animal and on artifact regions.

    ``member``: one checkpoint (a ``LoadedModel``); ``per_query``: its per-query table
    (:func:`explain.retrieval.metrics.evaluate`). The target is the query's similarity to its top-1
    match (what made the model pick it), or to itself when there is no top-1. Returns the
    per-query columns ``image``, ``post_id``, ``rank``, ``in_gallery`` plus ``animal_mass``,
    ``artifact_mass`` (NaN where no such region is known or the map has no positive
    attribution), ``animal_source``, ``artifact_source``, ``target``.
    """
    (m,) = members([member])
    size = getattr(member, "input_size", (256, 128))
    rows = []
    total = len(per_query)
    for i, rec in enumerate(per_query.to_dict("records")):
        q = photo(dataset, rec["query"], size)
        drawn = (annotator_regions or {}).get(rec["query"])
        reg = regions_for(
            dataset, rec["query"], size, annotator_regions=drawn,
            original_size=q.original_size, picture=q.picture,
        )  # fmt: skip
        top1 = rec.get("top1_image")
        hm, target = _query_map(m, q, dataset, top1, size, method, dict(params or {}), cache)
        animal = artifact = float("nan")
        if float(hm.map.max()) > 0.0:
            found = {s.region: s.mass for s in score_heatmap(hm, reg.animal, reg.artifacts)}
            animal = found.get("animal", float("nan"))
            artifact = found.get("artifacts", float("nan"))
        rows.append(
            {
                "image": rec["query"], "post_id": rec["post_id"], "rank": rec["rank"],
                "in_gallery": rec["in_gallery"], "animal_mass": animal, "artifact_mass": artifact,
                "animal_source": reg.animal_source, "artifact_source": reg.artifact_source,
                "target": target,
            }
        )  # fmt: skip
        if progress is not None:
            progress(i + 1, total)
    out = pd.DataFrame(rows)
    if not out.empty:
        out["rank"] = out["rank"].astype("Int64")
    return out


def _query_map(m, q: Photo, dataset, top1, size, method, params, cache) -> tuple[Heatmap, str]:
    if isinstance(top1, str) and top1:
        g = photo(dataset, top1, size)
        emb = pair_embeddings(m.model, q.x, g.x)
        t_q, _ = pair_targets(emb[0], emb[1], q.sha1, g.sha1)
        hm = get_or_compute(
            cache if m.sha1 else None, m.model, q.x, t_q, method,
            checkpoint_sha1=m.sha1, image_sha1=q.sha1, target_ref=f"pair:{g.sha1}", **params,
        )  # fmt: skip
        return hm, f"similarity to top-1 {top1}"
    hm = get_or_compute(
        cache if m.sha1 else None, m.model, q.x, "self", method,
        checkpoint_sha1=m.sha1, image_sha1=q.sha1, **params,
    )  # fmt: skip
    return hm, "self-similarity (no top-1)"


def gallery_self_queries(
    dataset: Dataset, member: object, *, cache_dir=None, flip: bool = False, k: int = 10
) -> pd.DataFrame:
    """Per-query table of every gallery photo searched among the other gallery photos.

    More top-1 matches to calibrate the match confidence on when the query split is small; the
    photo itself has its own post and camid, so the protocol leaves it out of its own search.
    """
    from explain.retrieval.embeddings import embed_dataset
    from explain.retrieval.metrics import evaluate

    gallery = dataset.split("gallery")
    splits = ("query", "gallery")
    emb = embed_dataset(member, dataset, cache_dir=cache_dir, flip=flip, splits=splits)
    feats = emb.rows(gallery["image"].tolist())
    return evaluate(feats, feats, gallery, gallery, k=k).per_query


def mean_colour(dataset: Dataset, images: Sequence[str], threshold: int = BLACK) -> tuple:
    """Mean RGB in [0, 1] of the non-black pixels of ``images`` (manifest entries): the flat
    occlusion baseline that looks like "some fur" rather than like the segmented background."""
    if not len(images):
        raise ValueError("no images to take the mean colour of")
    total, count = np.zeros(3), 0
    for image in images:
        arr = np.asarray(load_rgb(dataset.path(image)).convert("RGB"), dtype=np.float64)
        fg = arr.max(axis=2) > threshold
        total += arr[fg].sum(axis=0)
        count += int(fg.sum())
    if count == 0:
        return (0.0, 0.0, 0.0)
    return tuple(float(v) for v in total / count / 255.0)
