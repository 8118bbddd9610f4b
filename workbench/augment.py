"""Training transforms that break a shortcut: random gamma and brightness (glare), random erasing
of annotated artifact regions.

Both draw from Python's ``random`` module, which :func:`workbench.train.seed_everything` seeds,
so a seeded run repeats its augmentations.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image


class RandomGamma:
    """With probability ``p``: gamma drawn from ``gamma`` and a brightness factor from
    ``brightness`` (both uniform); a glare's bright patch then no longer has one fixed level."""

    def __init__(
        self,
        p: float = 0.5,
        gamma: tuple[float, float] = (0.6, 1.6),
        brightness: tuple[float, float] = (0.7, 1.3),
    ):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be between 0 and 1, not {p}")
        if not 0 < gamma[0] <= gamma[1] or not 0 < brightness[0] <= brightness[1]:
            raise ValueError(f"gamma {gamma} and brightness {brightness} must be (low, high) > 0")
        self.p, self.gamma, self.brightness = p, gamma, brightness

    def __call__(self, img: Image.Image) -> Image.Image:
        if random.random() >= self.p:
            return img
        g = random.uniform(*self.gamma)
        b = random.uniform(*self.brightness)
        x = np.asarray(img, dtype=np.float32) / 255.0
        x = np.clip(b * np.power(x, g), 0.0, 1.0)
        return Image.fromarray((x * 255.0 + 0.5).astype(np.uint8))

    def __repr__(self) -> str:
        return f"RandomGamma(p={self.p}, gamma={self.gamma}, brightness={self.brightness})"


def union_mask(paths: list[Path], size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool: the union of the mask files (white = region) resized to ``size`` (W, H)."""
    out = np.zeros((size[1], size[0]), dtype=bool)
    for p in paths:
        out |= np.asarray(Image.open(p).convert("L").resize(size)) > 127
    return out


def erase_region(img: Image.Image, mask: np.ndarray, p: float = 0.5) -> Image.Image:
    """With probability ``p``, the ``mask`` (``(H, W)`` bool) pixels replaced by uniform noise
    in 0..255; the image unchanged otherwise or when the mask is empty."""
    if not mask.any() or random.random() >= p:
        return img
    x = np.array(img, dtype=np.uint8)
    rng = np.random.default_rng(random.getrandbits(32))
    x[mask] = rng.integers(0, 256, size=(int(mask.sum()), x.shape[2]), dtype=np.uint8)
    return Image.fromarray(x)
