"""Human skin: hands and arms holding the animal (a person's skin in general).

Classical cues. Skin colour: hue 12–27°, saturation 0.2–0.68, red ≥ green ≥ blue. A skin
region is then scored by what separates a hand from skin-coloured fur: it is smooth (low
grey-level contrast in a 5×5 window), wide and solid (an arm or a palm, not a thin leg
stripe), sharply bounded (a hand lies on top of the fur), covers at least about 3 % of the
segment, and its hue sits near the middle of the skin range. The score is the product of those
soft terms for the best region, in [0, 1]; the weights were set on a generated tuning set
(``workbench generate --seed 1``), never on the measured sets.
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
    local_std,
    ring,
    squash,
    strongest,
)

NAME = "hands"
VERSION = "1"
THRESHOLD = 0.5
DESCRIPTION = "human skin (hands, arms): a smooth, wide, sharply bounded skin-coloured region"


def skin_pixels(photo: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` bool: pixels whose colour is in the skin range (see the module docstring).

    ``colour``: the photo's HSV from :func:`curation.perception.base.hsv`, if already made.
    """
    c = hsv(photo) if colour is None else colour
    h, s, v = c[..., 0], c[..., 1], c[..., 2]
    r, g, b = (photo[..., i].astype(np.int16) for i in range(3))
    return (h >= 12) & (h <= 27) & (s >= 0.2) & (s <= 0.68) & (v >= 0.22) & (r > g) & (g >= b)


def _region_score(region, colour, texture, edges, scale, n_animal) -> float:
    area = region.sum() / n_animal
    width = float(np.percentile(cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
                                [region], 90)) / scale  # fmt: skip
    contours, _ = cv2.findContours(
        region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    outline = max(contours, key=cv2.contourArea)
    solidity = cv2.contourArea(outline) / max(cv2.contourArea(cv2.convexHull(outline)), 1.0)
    boundary = ring(region, 1)
    edge = float(edges[boundary].mean()) if boundary.any() else 0.0
    hue = float(np.median(colour[..., 0][region]))
    return (
        squash(area, 0.03, 0.08)
        * squash(width, 0.05, 0.08)
        * (1 - squash(float(np.median(texture[region])), 7.0, 11.0))
        * squash(edge, 25.0, 40.0)
        * squash(solidity, 0.55, 0.7)
        * (1 - squash(abs(hue - 23.0), 3.0, 6.0))
    )


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Skin regions in the animal mask (see the module docstring)."""
    photo, animal = check_inputs(photo, animal)
    n_animal = int(animal.sum())
    if n_animal < 50:
        return empty(photo, VERSION, reason="no animal")
    scale = animal_scale(animal)
    colour = hsv(photo)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    texture = local_std(gray, 5)
    edges = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, disk(1)).astype(np.float32)
    skin = skin_pixels(photo, colour) & animal
    r = max(1, round(scale * 0.01))
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_OPEN, disk(r))
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, disk(r)) > 0
    labels, n, _ = components(skin & animal, max(20, int(0.01 * n_animal)))
    parts = []
    for i in range(1, n):
        region = labels == i
        if region.sum() >= 20:
            parts.append((_region_score(region, colour, texture, edges, scale, n_animal), region))
    return strongest(parts, photo, VERSION)
