"""Run the catalog's detectors over photos, with a resumable cache.

:func:`detect_image` is the per-photo work, a pure function of (path, detector list) apart
from the cache it may read and fill, so a local loop or a Ray actor can run it the same way;
:func:`detect_dataset` runs it over a :class:`curation.dataset.Dataset` and returns the table:

``image``, ``post_id``, ``split``   the photo (manifest entry) and its post and split
``artifact``                         the detector's artifact name (the catalog's key)
``score``                            in [0, 1]
``detected``                         ``score >= threshold`` (the catalog's default unless given)
``threshold``                        the threshold that decided ``detected``
``region``                           JSON list of regions in :mod:`curation.regions` format
                                     (polygons, one per connected part, in pixels of the
                                     original file), ``[]`` when the mask is empty
``area``                             share of the photo the detection mask covers, in [0, 1]
``detector``, ``version``            the module's name and version
``annotator``                        ``detector:NAME@VERSION`` (how a machine tag signs)
``mask``                             the animal mask's kind (silhouette, alpha, grabcut, ...)
``info``                             JSON of the detector's details (OCR words, phone, place)

The cache is any object with ``get(key) -> dict[str, np.ndarray] | None`` and
``put(key, arrays)`` (the command line passes ``explain.storage.cache.DiskCache``); keys are
SHA-1 of the image file's SHA-1, the detector's name and version and the animal-mask settings.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import pandas as pd

from curation.images import file_sha1
from curation.perception import silhouette as sil
from curation.perception.base import Detection
from curation.perception.catalog import Entry, select

COLUMNS = ("image", "post_id", "split", "artifact", "score", "detected", "threshold", "region",
           "area", "detector", "version", "annotator", "mask", "info")  # fmt: skip
MAX_SIDE = 512  # detectors see a copy whose longer side is at most this (pixels)
MAX_REGIONS = 8  # polygons per detection (the largest parts)


class Cache(Protocol):
    def get(self, key: str) -> dict[str, np.ndarray] | None: ...
    def put(self, key: str, arrays: Mapping[str, np.ndarray]) -> Any: ...


def cache_key(image_sha1: str, name: str, version: str, mask_method: str, max_side: int) -> str:
    """Hex SHA-1 naming one (image, detector) result in the cache."""
    blob = json.dumps(
        {"ns": "perception", "image": image_sha1, "detector": name, "version": version,
         "mask": [mask_method, sil.VERSION], "max_side": max_side},
        sort_keys=True, separators=(",", ":"),
    )  # fmt: skip
    return hashlib.sha1(blob.encode()).hexdigest()


def _pack(mask: np.ndarray, **extra: Any) -> dict[str, np.ndarray]:
    out = {"mask": np.packbits(mask.ravel()), "shape": np.asarray(mask.shape, np.int64)}
    for k, v in extra.items():
        out[k] = np.frombuffer(v.encode(), np.uint8) if isinstance(v, str) else np.asarray(v)
    return out


def _unpack(arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    h, w = (int(v) for v in arrays["shape"])
    return np.unpackbits(arrays["mask"], count=h * w).reshape(h, w).astype(bool)


def _text(arrays: Mapping[str, np.ndarray], key: str) -> str:
    return bytes(np.asarray(arrays[key], np.uint8)).decode()


def regions_of(mask: np.ndarray, artifact: str, size: tuple[int, int]) -> list[dict]:
    """The parts of ``mask`` (``(h, w)`` bool, at working resolution) as polygon regions in
    pixels of the original file of ``size`` ``(width, height)``; the largest parts first, at
    most :data:`MAX_REGIONS`."""
    h, w = mask.shape
    sx, sy = size[0] / w, size[1] / h
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    regions = []
    for c in sorted(contours, key=cv2.contourArea, reverse=True)[:MAX_REGIONS]:
        c = cv2.approxPolyDP(c, 0.75, True)[:, 0, :].astype(np.float64)
        if len(c) < 3 or cv2.contourArea(c.astype(np.float32)) <= 0:
            x0, y0 = c.min(axis=0)
            x1, y1 = c.max(axis=0) + 1
            regions.append({"artifact": artifact, "kind": "box",
                            "points": [[x0 * sx, y0 * sy], [x1 * sx, y1 * sy]]})  # fmt: skip
            continue
        # contour points are pixel indices; their centres lie at +0.5
        pts = [[round((x + 0.5) * sx, 1), round((y + 0.5) * sy, 1)] for x, y in c]
        regions.append({"artifact": artifact, "kind": "polygon", "points": pts})
    return regions


def _working_copy(path: Path, max_side: int) -> tuple[np.ndarray, np.ndarray | None, tuple]:
    rgb, alpha = sil.read_photo(path)
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if alpha is not None:
            alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return rgb, alpha, (w, h)


def detect_image(
    path: str | Path,
    entries: Sequence[Entry],
    *,
    cache: Cache | None = None,
    mask_method: str = "auto",
    max_side: int = MAX_SIDE,
) -> tuple[list[dict], int]:
    """Every detector of ``entries`` on one photo file.

    Returns ``(rows, computed)``: one dict per detector with ``artifact``, ``score``,
    ``region`` (list), ``area``, ``detector``, ``version``, ``annotator``, ``mask`` (kind),
    ``info`` (dict); ``computed`` counts the results that were not in the cache (the animal
    mask included). The photo is decoded only when something is missing from the cache.
    """
    if mask_method not in sil.METHODS:
        raise ValueError(f"unknown animal-mask method {mask_method!r}; use one of {sil.METHODS}")
    path = Path(path)
    digest = file_sha1(path)
    got: dict[str, Mapping[str, np.ndarray] | None] = {}
    animal_key = cache_key(digest, "animal", sil.VERSION, mask_method, max_side)
    for e in entries:
        got[e.name] = cache.get(cache_key(digest, e.name, e.version, mask_method, max_side)) \
            if cache is not None else None  # fmt: skip
    animal_cached = cache.get(animal_key) if cache is not None else None
    computed = 0
    photo = None
    if animal_cached is None or any(v is None for v in got.values()):
        photo, alpha, size = _working_copy(path, max_side)
        if animal_cached is None:
            am = sil.animal_mask(photo, alpha, method=mask_method)
            animal_cached = _pack(am.mask, kind=am.kind, size=np.asarray(size, np.int64))
            computed += 1
            if cache is not None:
                cache.put(animal_key, animal_cached)
    animal = _unpack(animal_cached)
    kind = _text(animal_cached, "kind")
    size = tuple(int(v) for v in animal_cached["size"])
    rows = []
    for e in entries:
        arrays = got[e.name]
        if arrays is None:
            det: Detection = e.detect(photo, animal)
            arrays = _pack(det.mask, score=np.float64(det.score), info=json.dumps(det.info))
            computed += 1
            if cache is not None:
                cache.put(cache_key(digest, e.name, e.version, mask_method, max_side), arrays)
        mask = _unpack(arrays)
        rows.append({
            "artifact": e.name,
            "score": float(arrays["score"]),
            "region": regions_of(mask, e.tag, size),
            "area": float(mask.mean()),
            "detector": e.module.rsplit(".", 1)[-1],
            "version": e.version,
            "annotator": e.annotator,
            "mask": kind,
            "info": json.loads(_text(arrays, "info")),
        })  # fmt: skip
    return rows, computed


def detect_dataset(
    dataset,
    artifacts: Iterable[str] | str | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
    cache: Cache | None = None,
    progress: Callable[[int, int], None] | None = None,
    mask_method: str = "auto",
    max_side: int = MAX_SIDE,
    images: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int]:
    """The detectors over a dataset's photos (every photo, or the manifest entries ``images``).

    ``artifacts``: detector names (see :func:`curation.perception.catalog.select`);
    ``thresholds``: per-artifact thresholds overriding the catalog's defaults;
    ``progress(done, total)`` is called after each photo.
    Returns ``(table, computed)``: the table described in the module docstring, sorted by
    image and artifact, and how many results were computed rather than read from the cache.
    """
    entries = select(artifacts)
    thresholds = dict(thresholds or {})
    unknown = sorted(set(thresholds) - {e.name for e in entries})
    if unknown:
        raise ValueError(f"threshold given for {', '.join(unknown)}, which is not being run")
    for name, t in thresholds.items():
        if not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"threshold for {name} must lie in [0, 1], got {t}")
    table = dataset.table
    if images is not None:
        missing = sorted(set(images) - set(table["image"]))
        if missing:
            raise ValueError(f"not in the dataset: {', '.join(missing[:5])}")
        table = table[table["image"].isin(set(images))]
    rows, computed, total = [], 0, len(table)
    for done, rec in enumerate(table.itertuples(index=False), start=1):
        found, n = detect_image(dataset.path(rec.image), entries, cache=cache,
                                mask_method=mask_method, max_side=max_side)  # fmt: skip
        computed += n
        for r in found:
            t = float(thresholds.get(r["artifact"], next(e.threshold for e in entries
                                                        if e.name == r["artifact"])))  # fmt: skip
            rows.append({"image": rec.image, "post_id": rec.post_id, "split": rec.split,
                         "threshold": t, "detected": r["score"] >= t, **r})  # fmt: skip
        if progress is not None:
            progress(done, total)
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out["region"] = [json.dumps(r, separators=(",", ":")) for r in out["region"]]
    out["info"] = [json.dumps(i, sort_keys=True, ensure_ascii=False) for i in out["info"]]
    out = out.sort_values(["image", "artifact"], kind="stable").reset_index(drop=True)
    return out, computed
