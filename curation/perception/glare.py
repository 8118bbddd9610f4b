"""Glare: blown local highlights on the fur.

A global brightness check misses a glare spot; this looks for pixels that are nearly white
(grey level ≥ 215, saturation ≤ 0.2) *and* brighter than their surroundings (white top-hat:
the grey level minus its morphological opening with a disk about a fifth of the animal's size
is ≥ 18), inside the animal mask. White fur is bright but not brighter than the fur around
it, so a white cat does not count; a spot must also reach a blown level (≥ 245), lie away
from the outline (white socks and tail tips touch it) and be compact (not a white blaze or
whiskers). Score in [0, 1]: the product of those soft terms for the best spot; weights set on
a generated tuning set (``workbench generate --seed 1``).
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
    ring,
    squash,
    strongest,
)

NAME = "glare"
VERSION = "1"
THRESHOLD = 0.5
DESCRIPTION = "glare: a blown highlight brighter than the fur around it"


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Blown highlights on the animal (see the module docstring)."""
    photo, animal = check_inputs(photo, animal)
    n_animal = int(animal.sum())
    if n_animal < 50:
        return empty(photo, VERSION, reason="no animal")
    scale = animal_scale(animal)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    # outside the animal the opening sees the fur's own level, not the black background
    fur_level = int(np.median(gray[animal]))
    filled = np.where(animal, gray, fur_level).astype(np.uint8)
    r = max(2, round(0.2 * scale))
    tophat = cv2.morphologyEx(filled, cv2.MORPH_TOPHAT, disk(r)).astype(np.int16)
    sat = hsv(photo)[..., 1]
    spot = (gray >= 215) & (sat <= 0.2) & (tophat >= 18) & animal
    spot = cv2.morphologyEx(spot.astype(np.uint8), cv2.MORPH_CLOSE, disk(1)) > 0
    labels, n, stats = components(spot, 3)
    near = max(3, round(0.04 * scale))
    parts = []
    for i in range(1, n):
        region = labels == i
        area = int(region.sum())
        if area < 3:
            continue
        w, h = stats[i, 2], stats[i, 3]
        contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_NONE)  # fmt: skip
        outline = max(contours, key=cv2.contourArea)
        solidity = area / max(cv2.contourArea(cv2.convexHull(outline)) + len(outline) / 2, 1.0)
        score = (
            squash(area / scale**2, 0.0015, 0.005)
            * (1 - squash(area / scale**2, 0.04, 0.08))  # a spot, not a white chest
            * squash(float(np.median(tophat[region])), 18.0, 35.0)
            * squash(float(gray[region].max()), 240.0, 250.0)  # blown, not just white fur
            * (1 - squash(float((~animal)[ring(region, near)].mean()), 0.0, 0.1))  # not a sock
            * squash(solidity, 0.6, 0.8)  # a compact spot, not a stripe or whiskers
            * (1 - squash(max(w, h) / max(min(w, h), 1), 3.0, 4.5))
        )
        parts.append((score, region))
    return strongest(parts, photo, VERSION)
