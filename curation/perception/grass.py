"""Grass that survived segmentation: green, blade-textured pixels in or under the segment.

Green pixels (hue 50–150°, saturation ≥ 0.3, value ≥ 0.15) inside the animal mask or just
around it, in the lower half of the silhouette (grass grows under the feet; green eyes do
not). Grass is a minority of the segment with texture (blades): a green cast over the whole
animal (a colour-cast photo) is not grass, so the score falls when green covers most of the
segment or is smooth. Score in [0, 1]: area term × texture term × (not a cast); weights set
on a generated tuning set (``workbench generate --seed 1``).
"""

from __future__ import annotations

import cv2
import numpy as np

from curation.perception.base import (
    Detection,
    animal_scale,
    check_inputs,
    disk,
    empty,
    hsv,
    local_std,
    remove_small,
    squash,
)

NAME = "grass"
VERSION = "1"
THRESHOLD = 0.5
LOW_PART = 0.5  # grass is looked for below this share of the silhouette's height
DESCRIPTION = "grass: green, textured pixels in or under the segment (not a green colour cast)"


def green_pixels(photo: np.ndarray, colour: np.ndarray | None = None) -> np.ndarray:
    """``(H, W)`` bool: grass-green pixels (see the module docstring)."""
    c = hsv(photo) if colour is None else colour
    h, s, v = c[..., 0], c[..., 1], c[..., 2]
    g = photo[..., 1].astype(np.int16)
    return (
        (h >= 50)
        & (h <= 150)
        & (s >= 0.3)
        & (v >= 0.15)
        & (g > photo[..., 0])
        & (g > photo[..., 2])
    )


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Grass in or under the animal mask (see the module docstring)."""
    photo, animal = check_inputs(photo, animal)
    n_animal = int(animal.sum())
    if n_animal < 50:
        return empty(photo, VERSION, reason="no animal")
    scale = animal_scale(animal)
    near = cv2.dilate(animal.astype(np.uint8), disk(max(2, round(0.03 * scale)))) > 0
    ys = np.flatnonzero(animal.any(axis=1))
    low = np.zeros_like(near)
    low[ys[0] + int(LOW_PART * (ys[-1] - ys[0] + 1)) :] = True  # grass grows under the feet
    green = green_pixels(photo) & near & low
    green = remove_small(green, max(3, round(0.0005 * n_animal)))
    n_green = int(green.sum())
    if n_green == 0:
        return empty(photo, VERSION)
    share = n_green / n_animal
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    texture = float(np.median(local_std(gray, 3)[green]))
    score = squash(share, 0.004, 0.015) * squash(texture, 2.0, 5.0) * (1 - squash(share, 0.35, 0.6))
    return Detection(green, score, VERSION, {"green_share": round(share, 4)})
