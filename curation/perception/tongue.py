"""Tongue: a pink region on the animal, hanging from the head or muzzle.

Pink pixels (hue 330–6°, saturation ≤ 0.72, value ≥ 0.42, (R−G)/R ≥ 0.36 and B ≥ G) inside
the animal mask, grouped into regions. A tongue region is compact (not a thin band: that is a
collar), not at the very top of the silhouette (ears, whose insides are pink too), and large
enough for its animal. Score: area term × position term × shape term of the best region, in
[0, 1]; weights set on a generated tuning set (``workbench generate --seed 1``).
"""

from __future__ import annotations

import cv2
import numpy as np

from curation.perception.base import (
    Detection,
    animal_scale,
    check_inputs,
    components,
    disk,
    empty,
    hsv,
    squash,
    strongest,
)

NAME = "tongue"
VERSION = "1"
THRESHOLD = 0.5
DESCRIPTION = "tongue out: a compact pink region below the top of the head"


def pink_pixels(photo: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` bool: tongue-pink pixels (see the module docstring)."""
    c = hsv(photo) if colour is None else colour
    h, s, v = c[..., 0], c[..., 1], c[..., 2]
    r, g, b = (photo[..., i].astype(np.float32) for i in range(3))
    red = np.maximum(r, 1.0)
    hue = (h >= 330) | (h <= 6)
    # shading-invariant chroma: a tongue is clearly redder than green and bluer than green
    # (pink), where brown and ginger fur and the pale pink of ears and noses are not
    return hue & (s <= 0.72) & (v >= 0.42) & ((r - g) / red >= 0.36) & ((b - g) / red >= 0.0)


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Pink tongue regions of the animal (see the module docstring)."""
    photo, animal = check_inputs(photo, animal)
    n_animal = int(animal.sum())
    if n_animal < 50:
        return empty(photo, VERSION, reason="no animal")
    scale = animal_scale(animal)
    pink = pink_pixels(photo) & cv2.dilate(animal.astype(np.uint8), disk(2)).astype(bool)
    pink = cv2.morphologyEx(pink.astype(np.uint8), cv2.MORPH_CLOSE, disk(1)) > 0
    labels, n, stats = components(pink, 4)
    ys = np.flatnonzero(animal.any(axis=1))
    top, height = ys[0], max(ys[-1] - ys[0] + 1, 1)
    parts = []
    for i in range(1, n):
        region = labels == i
        area = int(region.sum())
        if area < 4:
            continue
        _, y, w, h = stats[i, :4]
        # ears sit at the top of the silhouette; a tongue starts below the eyes
        centre = (y + h / 2 - top) / height
        elongation = max(w, h) / max(min(w, h), 1)
        flat = w / max(h, 1)
        score = (
            squash(area / scale**2, 0.0008, 0.004)
            * squash(centre, 0.08, 0.16)
            * (1 - squash(flat, 2.5, 4.0))
            * (1 - squash(elongation, 5.0, 8.0))
        )
        parts.append((score, region))
    return strongest(parts, photo, VERSION)
