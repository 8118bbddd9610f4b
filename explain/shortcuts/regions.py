"""Candidate regions of a photo and their controls, as masks at the model's input size.

Three sources of candidate regions, each a :class:`Region` (a boolean mask at the input
resolution, ``(H, W)``, e.g. 256×128):

- ``detector``: what the artifact detectors found (:func:`curation.perception.runner.
  detect_dataset` rows with ``detected`` true), one region per artifact kind (the union of its
  polygons);
- ``annotator``: regions annotators drew (the tag store's ``regions``), merged with the
  detector's region of the same kind (source ``detector+annotator``);
- ``model``: the model's own high-attribution regions: the top ``k`` connected parts of the
  Grad-CAM map above its ``quantile`` (kind ``model``).

Every mask is dilated by :data:`DILATE` pixels before use: detector masks hug the artifact, and
an inpainting that starts from the artifact's own border pixels would paint it back.

A control (:func:`control_masks`) is the same mask shape moved elsewhere on the animal: a random
translation (fixed seed) whose mask lies mostly on the animal (``min_animal``) and barely on the
region itself (``max_overlap``). Removing a control costs the same area of pixels, so the
difference of the two drops is what the region itself is worth to the model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from curation.regions import rasterise, validate_regions

DILATE = 2  # pixels at the input resolution
MODEL_KIND = "model"


@dataclass(frozen=True)
class Region:
    """One candidate region: ``kind`` (an artifact name, or ``model``), ``source``
    (``detector``, ``annotator``, ``detector+annotator``, ``model``), ``mask`` ``(H, W)`` bool at
    the input size (dilated), ``label`` (unique within the photo, e.g. ``model#2``)."""

    kind: str
    source: str
    mask: np.ndarray
    label: str

    @property
    def area(self) -> float:
        """Share of the input the region covers, in [0, 1]."""
        return float(self.mask.mean())

    def digest(self) -> str:
        """SHA-1 of the mask's bits, shape and kind (the region part of a cache key)."""
        h = hashlib.sha1()
        h.update(json.dumps([self.kind, list(self.mask.shape)]).encode())
        h.update(np.packbits(self.mask.ravel()).tobytes())
        return h.hexdigest()


def dilate(mask: np.ndarray, pixels: int = DILATE) -> np.ndarray:
    """``mask`` grown by ``pixels`` (a square structuring element)."""
    if pixels <= 0 or not mask.any():
        return mask.astype(bool)
    kernel = np.ones((2 * pixels + 1, 2 * pixels + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)


def artifact_regions(
    detections: Sequence[Mapping],
    annotations: Sequence[Mapping] | str | None,
    image_size: tuple[int, int],
    shape: tuple[int, int],
) -> list[Region]:
    """The artifact regions of one photo, one per kind, sorted by kind.

    ``detections``: the photo's rows of the detector table (``artifact``, ``detected``,
    ``region`` JSON); rows not detected are skipped. ``annotations``: the photo's annotator
    regions (list or JSON, :mod:`curation.regions` format) or None. ``image_size``: the original
    file's ``(width, height)``; ``shape``: the input ``(H, W)``.
    """
    masks: dict[str, np.ndarray] = {}
    sources: dict[str, set[str]] = {}
    for row in detections:
        if not bool(row["detected"]):
            continue
        regions = validate_regions(row["region"])
        if not regions:
            continue
        kind = str(row["artifact"])
        m = rasterise(regions, image_size, shape=shape)
        masks[kind] = masks.get(kind, np.zeros(shape, bool)) | m
        sources.setdefault(kind, set()).add("detector")
    for region in validate_regions(annotations):
        kind = str(region["artifact"])
        m = rasterise([region], image_size, shape=shape)
        masks[kind] = masks.get(kind, np.zeros(shape, bool)) | m
        sources.setdefault(kind, set()).add("annotator")
    out = []
    for kind in sorted(masks):
        mask = dilate(masks[kind])
        if mask.any():
            source = "+".join(sorted(sources[kind]))
            out.append(Region(kind, source, mask, kind))
    return out


def model_regions(
    cam: np.ndarray, k: int = 2, quantile: float = 0.9, min_area: float = 0.004
) -> list[Region]:
    """The top ``k`` connected parts of ``cam`` (``(H, W)`` in [0, 1]) above its ``quantile``,
    by attribution mass (largest first); parts smaller than ``min_area`` of the input dropped."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    cam = np.asarray(cam, dtype=np.float32)
    if k <= 0 or not np.isfinite(cam).all() or float(cam.max()) <= 0.0:
        return []
    level = float(np.quantile(cam, quantile))
    hot = (cam > level).astype(np.uint8)
    n, labels = cv2.connectedComponents(hot, connectivity=8)
    parts = []
    for i in range(1, n):
        part = labels == i
        if part.mean() >= min_area:
            parts.append((float(cam[part].sum()), part))
    parts.sort(key=lambda p: -p[0])
    return [
        Region(MODEL_KIND, "model", dilate(part), f"{MODEL_KIND}#{j + 1}")
        for j, (_, part) in enumerate(parts[:k])
    ]


def control_masks(
    mask: np.ndarray,
    animal: np.ndarray,
    n: int,
    seed: int,
    *,
    min_animal: float = 0.7,
    max_overlap: float = 0.1,
    attempts: int = 300,
) -> tuple[list[np.ndarray], list[float]]:
    """Up to ``n`` translated copies of ``mask`` lying mostly on ``animal`` (both ``(H, W)``
    bool), and the share of each copy on the animal.

    Translations are drawn at random (``seed``) among those that keep the mask inside the
    frame; a copy is kept when at least ``min_animal`` of it lies on the animal and at most
    ``max_overlap`` of it on ``mask`` itself. When fewer than ``n`` qualify (a region as large
    as the animal), the best remaining copies by animal share are added, still within
    ``max_overlap``; the shares say how good they are. Returns fewer than ``n`` only when no
    placement keeps the overlap low.
    """
    ys, xs = np.nonzero(mask)
    if ys.size == 0 or n <= 0:
        return [], []
    h, w = mask.shape
    y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
    rng = np.random.default_rng(seed)
    area = float(ys.size)
    good, fallback = [], []
    seen = set()
    for _ in range(attempts):
        dy = int(rng.integers(-y0, h - y1))
        dx = int(rng.integers(-x0, w - x1))
        if (dy, dx) in seen or (dy == 0 and dx == 0):
            continue
        seen.add((dy, dx))
        moved = np.zeros_like(mask)
        moved[ys + dy, xs + dx] = True
        overlap = float((moved & mask).sum()) / area
        if overlap > max_overlap:
            continue
        on_animal = float((moved & animal).sum()) / area
        (good if on_animal >= min_animal else fallback).append((on_animal, moved))
        if len(good) >= n:
            break
    chosen = good[:n]
    if len(chosen) < n:
        fallback.sort(key=lambda c: -c[0])
        chosen += fallback[: n - len(chosen)]
    return [m for _, m in chosen], [round(s, 4) for s, _ in chosen]
