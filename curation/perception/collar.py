"""Collars, harnesses and leashes: a band of a colour fur does not have, crossing the animal.

Fur is black, white, grey or an orange-to-brown hue (15–50°) of moderate saturation;
collars and harnesses are usually saturated red, pink, blue, green or purple. Candidate pixels
are such colours inside the animal mask (or touching it: a leash leaves the silhouette):
saturation ≥ 0.45 for hues outside 6–55°, ≥ 0.6 for the reds (335–6°); tongue pink and grass green
low in the silhouette are left to their own detectors. A collar region is a *band*: long for
the animal (≥ about a sixth of its size) and elongated (its rotated box at least 2.5 times
longer than wide), which eyes, noses and spots are not. Score in [0, 1]: length × elongation
× area terms of the best band, times a term that falls when such colours cover more than
15 % of the animal (then they are its coat, or a colour cast). Dark and leather-brown
collars have fur colours and are missed.
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
from curation.perception.tongue import pink_pixels

NAME = "collar"
VERSION = "1"
THRESHOLD = 0.5
DESCRIPTION = "collar, harness or leash: an elongated band of a non-fur colour on the animal"


def band_pixels(photo: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` bool: pixels of colours fur does not have (see the module docstring)."""
    c = hsv(photo) if colour is None else colour
    h, s, v = c[..., 0], c[..., 1], c[..., 2]
    red = (h >= 335) | (h < 6)
    furlike = (h >= 6) & (h <= 55)
    return (v >= 0.3) & ((red & (s >= 0.6)) | (~red & ~furlike & (s >= 0.45)))


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Collar-like bands on the animal (see the module docstring)."""
    photo, animal = check_inputs(photo, animal)
    n_animal = int(animal.sum())
    if n_animal < 50:
        return empty(photo, VERSION, reason="no animal")
    scale = animal_scale(animal)
    colour = hsv(photo)
    near = cv2.dilate(animal.astype(np.uint8), disk(2)) > 0
    band = band_pixels(photo, colour) & near & ~pink_pixels(photo, colour)
    r = max(1, round(0.012 * scale))
    band = cv2.morphologyEx(band.astype(np.uint8), cv2.MORPH_CLOSE, disk(r)) > 0
    labels, n, _ = components(band, max(6, round(0.002 * n_animal)))
    parts = []
    for i in range(1, n):
        region = labels == i
        if region.sum() < 6:
            continue
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)  # fmt: skip
        outline = max(contours, key=cv2.contourArea)
        (_, (w, h), _) = cv2.minAreaRect(outline)
        length, width = max(w, h), max(min(w, h), 1.0)
        score = (
            squash(length / scale, 0.08, 0.18)
            * squash(length / width, 2.0, 3.0)
            * squash(region.sum() / scale**2, 0.002, 0.006)
        )
        parts.append((score, region))
    # a colour covering much of the animal is its coat (or a colour cast), not a collar
    cast = 1 - squash(float((band & animal).sum()) / n_animal, 0.15, 0.3)
    parts = [(score * cast, region) for score, region in parts]
    return strongest(parts, photo, VERSION)
