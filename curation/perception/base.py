"""The detector contract and the pixel helpers the detectors share.

Every detector is a function ``(photo, animal) -> Detection``:

``photo``   ``(H, W, 3)`` uint8 RGB;
``animal``  ``(H, W)`` bool, the animal mask (see :mod:`curation.perception.silhouette`);
returns     a :class:`Detection`: ``mask`` ``(H, W)`` bool where the artifact is, ``score`` in
            [0, 1] (how sure the detector is that the photo shows it), ``version`` (changes
            whenever the result can change, so caches keyed by it never go stale), ``info``
            (small JSON-able details: OCR words, the cue that fired ...).

Detectors read nothing but their arguments, write nothing and keep no state, so the runner may
call them in any process, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Detection:
    """One detector's answer for one photo (see the module docstring)."""

    mask: np.ndarray
    score: float
    version: str
    info: dict[str, Any] = field(default_factory=dict)


def check_inputs(photo: np.ndarray, animal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``photo`` as ``(H, W, 3)`` uint8 and ``animal`` as ``(H, W)`` bool of the same size.

    Raises ValueError naming the shape or dtype that was wrong.
    """
    photo = np.asarray(photo)
    animal = np.asarray(animal)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(
            f"photo must be an (H, W, 3) uint8 RGB array, got {photo.shape} {photo.dtype}; "
            "read it with curation.images.load_rgb and np.asarray"
        )
    if animal.shape != photo.shape[:2]:
        raise ValueError(
            f"animal mask has shape {animal.shape} but the photo is {photo.shape[:2]}; "
            "compute the mask on the same photo"
        )
    return photo, animal.astype(bool, copy=False)


def empty(photo: np.ndarray, version: str, **info: Any) -> Detection:
    """A detection of nothing: all-False mask, score 0."""
    return Detection(np.zeros(photo.shape[:2], bool), 0.0, version, dict(info))


def strongest(parts: list[tuple[float, np.ndarray]], photo: np.ndarray, version: str) -> Detection:
    """The detection made of candidate regions ``(score, (H, W) bool)``: the union of those
    scoring at least half the best one, with the best score; :func:`empty` when none scores."""
    best = max((score for score, _ in parts), default=0.0)
    if best <= 0.0:
        return empty(photo, version)
    mask = np.zeros(photo.shape[:2], bool)
    for score, region in parts:
        if score >= 0.5 * best:
            mask |= region
    return Detection(mask, best, version)


def hsv(photo: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` float32 HSV: hue in degrees [0, 360), saturation and value in [0, 1]."""
    out = cv2.cvtColor(photo, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    out[..., 0] *= 360.0 / 256.0
    out[..., 1:] /= 255.0
    return out


def local_std(gray: np.ndarray, size: int) -> np.ndarray:
    """Standard deviation of ``gray`` (float, any range) in a ``size``×``size`` box around each
    pixel, same units as ``gray``."""
    g = gray.astype(np.float32)
    k = (size, size)
    mean = cv2.blur(g, k, borderType=cv2.BORDER_REFLECT)
    sq = cv2.blur(g * g, k, borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(sq - mean * mean, 0.0))


def components(mask: np.ndarray, min_area: int = 1) -> tuple[np.ndarray, int, np.ndarray]:
    """8-connected components of ``mask``: ``(labels, n, stats)`` as OpenCV gives them, with
    components smaller than ``min_area`` pixels already removed from ``labels`` (label 0)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if min_area > 1 and n > 1:
        small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] < min_area)
        small = small[small > 0]
        if small.size:
            labels[np.isin(labels, small)] = 0
    return labels, n, stats


def remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` without its 8-connected components of fewer than ``min_area`` pixels."""
    labels, _, _ = components(mask, min_area)
    return labels > 0


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every hole (background not connected to the image border) filled."""
    return ndimage.binary_fill_holes(mask)


def disk(radius: int) -> np.ndarray:
    """A filled disk structuring element of ``radius`` pixels (uint8, for OpenCV)."""
    r = max(int(radius), 0)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def ring(mask: np.ndarray, outer: int, inner: int = 0) -> np.ndarray:
    """Pixels within ``outer`` but farther than ``inner`` pixels from ``mask`` (outside it)."""
    m = mask.astype(np.uint8)
    grown = cv2.dilate(m, disk(outer)) > 0
    core = cv2.dilate(m, disk(inner)) > 0 if inner > 0 else mask.astype(bool)
    return grown & ~core


def squash(x: float, lo: float, hi: float) -> float:
    """``x`` mapped linearly from ``[lo, hi]`` to [0, 1] and clipped."""
    if hi <= lo:
        raise ValueError(f"squash needs lo < hi, got {lo}, {hi}")
    return float(min(max((x - lo) / (hi - lo), 0.0), 1.0))


def animal_scale(animal: np.ndarray) -> float:
    """Size of the animal in pixels: the square root of its area (at least 1)."""
    return max(float(np.sqrt(animal.sum())), 1.0)
