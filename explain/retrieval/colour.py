"""Colour histograms of the animal's pixels (hue x saturation x value of the non-black pixels,
Hellinger-normalised), cached: the colour-histogram baseline's features
(:mod:`explain.retrieval.baselines`) and a cue of the near-copy check
(:mod:`explain.retrieval.copies`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from curation.dataset import Dataset
from curation.images import load_rgb
from explain.storage.cache import DiskCache, make_key
from explain.storage.hashing import content_hashes

DARK = 24
BINS = (30, 4, 4)  # hue, saturation, value
SIZE = BINS[0] * BINS[1] * BINS[2]
VERSION = 2


def colour_histogram(rgb: np.ndarray) -> np.ndarray:
    """``(480,)`` float32 unit-norm Hellinger HSV histogram of an ``(H, W, 3)`` uint8 photo's
    animal pixels."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    animal = rgb.max(axis=2) > DARK
    if animal.sum() < 16:
        animal = np.ones(rgb.shape[:2], dtype=bool)
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)[animal].astype(np.int64)
    h = np.minimum(hsv[:, 0] * BINS[0] // 180, BINS[0] - 1)
    flat = (h * BINS[1] + hsv[:, 1] * BINS[1] // 256) * BINS[2] + hsv[:, 2] * BINS[2] // 256
    hist = np.bincount(flat, minlength=SIZE).astype(np.float64)
    hist = np.sqrt(hist / hist.sum())
    return (hist / np.linalg.norm(hist)).astype(np.float32)


def colour_histograms(
    dataset: Dataset,
    images: list[str] | None = None,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(N, 480)`` histograms of ``images`` (default: every image of the table), in order;
    cached by content hashes."""
    images = dataset.table["image"].tolist() if images is None else list(images)
    paths = [dataset.path(i) for i in images]
    cache = DiskCache(cache_dir, "baseline") if cache_dir is not None else None
    key = make_key("colour-hist", images=content_hashes(paths), bins=list(BINS), version=VERSION)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return hit["features"]
    out = np.zeros((len(paths), SIZE), dtype=np.float32)
    for i, path in enumerate(paths):
        out[i] = colour_histogram(np.asarray(load_rgb(path)))
        if progress and (i + 1 == len(paths) or (i + 1) % 32 == 0):
            progress(i + 1, len(paths))
    if cache is not None:
        cache.put(key, {"features": out})
    return out
