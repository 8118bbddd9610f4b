"""What surrounds the animal: background scenes, lighting and the camera's finish.

Backgrounds are only used by the ``background`` look (``segmented`` photos are black outside
the animal). All images here are float32 RGB in [0, 1], shape (H, W, 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from workbench.synth.shapes import F32, smoothstep

SCENES = ("floor", "carpet", "sofa", "pavement", "lawn")


def _noise(
    rng: np.random.Generator, h: int, w: int, sigma: float | tuple[float, float]
) -> np.ndarray:
    """Smooth Gaussian noise with unit standard deviation, (h, w) float32.

    ``sigma`` is in pixels of a 256-high image and scales with ``h``.
    """
    k = h / 256.0
    scaled = tuple(max(0.3, v * k) for v in np.broadcast_to(sigma, 2))
    n = gaussian_filter(rng.standard_normal((h, w)).astype(F32), scaled, mode="wrap")
    std = float(n.std())
    return (n / std).astype(F32) if std > 1e-3 else np.zeros((h, w), F32)


def _rgb(c: tuple[int, int, int], rng: np.random.Generator, spread: float = 0.1) -> np.ndarray:
    return np.clip(np.asarray(c, F32) / 255.0 * rng.uniform(1 - spread, 1 + spread), 0, 1)


def background(kind: str, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A (h, w, 3) scene: indoor floors and sofas, pavement or a lawn, seen from pet height."""
    if kind not in SCENES:
        raise ValueError(f"scene must be one of {SCENES}, not {kind!r}")
    y = (np.arange(h, dtype=F32)[:, None] + 0.5) / h
    x = (np.arange(w, dtype=F32)[None, :] + 0.5) / w
    horizon = rng.uniform(0.2, 0.5)
    depth = np.clip((y - horizon) / (1.0 - horizon), 0.02, 1.0)  # 0 far -> 1 near
    fine = _noise(rng, h, w, 0.5)
    coarse = _noise(rng, h, w, 9.0)
    if kind == "floor":
        wood = _rgb(
            [(150, 104, 64), (186, 142, 96), (110, 74, 46), (200, 170, 130)][rng.integers(4)], rng
        )
        u = (x - 0.5) / depth  # planks run towards the camera and converge
        plank = np.floor(u * rng.uniform(3.0, 5.0) + 100.0)
        tone = 0.85 + 0.3 * ((np.sin(plank * 12.9898) * 43758.5453) % 1.0)
        grain = 1.0 + 0.05 * np.sin(u * 90.0 + 4.0 * coarse) + 0.03 * fine
        seam = 1.0 - 0.35 * smoothstep(0.04, 0.0, np.abs((u * 4.0) % 1.0 - 0.5) - 0.46)
        floor = wood * (tone * grain * seam)[..., None]
        img = _with_wall(floor, y, horizon, rng, fine)
    elif kind == "carpet":
        base = _rgb(
            [(150, 140, 128), (120, 60, 55), (80, 90, 110), (170, 160, 140)][rng.integers(4)], rng
        )
        img = base * (1.0 + 0.12 * fine + 0.06 * coarse)[..., None]
        img = _with_wall(img, y, horizon, rng, fine) if rng.random() < 0.5 else img
    elif kind == "sofa":
        fabric = _rgb(
            [(110, 100, 96), (70, 80, 100), (140, 120, 95), (90, 60, 55)][rng.integers(4)], rng
        )
        seam_y = rng.uniform(0.45, 0.8)
        cushion = 1.0 - 0.3 * smoothstep(0.03, 0.0, np.abs(y - seam_y))
        cushion = cushion * (
            1.0 - 0.25 * smoothstep(0.2, 0.0, np.abs(x - rng.uniform(0.2, 0.8))) * (y > seam_y)
        )
        puff = 0.9 + 0.15 * np.sin(np.pi * np.clip((y - seam_y) / (1 - seam_y + 1e-3), 0, 1))
        img = (
            fabric
            * (cushion * np.where(y > seam_y, puff, 1.0) * (1 + 0.08 * fine + 0.05 * coarse))[
                ..., None
            ]
        )
    elif kind == "pavement":
        stone = _rgb((140, 138, 132), rng, 0.15)
        u = (x - 0.5) / depth
        v = 1.0 / depth
        k = rng.uniform(2.5, 4.0)
        gu = np.abs((u * k) % 1.0 - 0.5)
        gv = np.abs((v * k * 0.5) % 1.0 - 0.5)
        joint = 1.0 - 0.3 * smoothstep(0.44, 0.49, np.maximum(gu, gv))
        img = stone * (joint * (1 + 0.1 * fine + 0.08 * coarse))[..., None]
    else:  # lawn
        green = _rgb((72, 110, 48), rng, 0.15)
        blades = _noise(rng, h, w, (1.0, 0.3))
        img = green * (1 + 0.16 * blades + 0.12 * coarse + 0.3 * (depth - 0.5))[..., None]
        img = img * (1.0 - 0.2 * (y < horizon * 0.5))[..., None]
    return np.clip(img, 0.0, 1.0).astype(F32)


def _with_wall(
    floor: np.ndarray, y: np.ndarray, horizon: float, rng: np.random.Generator, fine: np.ndarray
) -> np.ndarray:
    wall = _rgb(
        [(225, 220, 208), (200, 205, 210), (230, 215, 190), (180, 170, 160)][rng.integers(4)],
        rng,
        0.06,
    )
    wall_img = wall * (1.0 + 0.02 * fine - 0.15 * (horizon - y))[..., None]
    board = np.abs(y - horizon) < 0.012
    out = np.where((y < horizon)[..., None], wall_img, floor)
    return np.where(board[..., None], wall * 0.85, out)


def shadow(
    bg: np.ndarray, centre: tuple[float, float], rx: float, ry: float, strength: float
) -> np.ndarray:
    """Darken ``bg`` under the animal with a soft elliptical contact shadow (pixels)."""
    h, w = bg.shape[:2]
    y = np.arange(h, dtype=F32)[:, None] + 0.5
    x = np.arange(w, dtype=F32)[None, :] + 0.5
    r = np.sqrt(((x - centre[0]) / max(rx, 1.0)) ** 2 + ((y - centre[1]) / max(ry, 1.0)) ** 2)
    return bg * (1.0 - strength * smoothstep(1.0, 0.2, r))[..., None]


@dataclass(frozen=True)
class Light:
    """Exposure, colour temperature (+ warm) and a soft directional gradient."""

    gain: float
    warmth: float
    angle: float
    slope: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Light:
        return cls(
            gain=float(rng.uniform(0.78, 1.15)),
            warmth=float(rng.uniform(-0.06, 0.09)),
            angle=float(rng.uniform(0, 2 * math.pi)),
            slope=float(rng.uniform(0.05, 0.35)),
        )

    def map(self, h: int, w: int) -> np.ndarray:
        """(h, w, 3) multiplier applied to everything but blown-out highlights."""
        y = (np.arange(h, dtype=F32)[:, None] + 0.5) / h - 0.5
        x = (np.arange(w, dtype=F32)[None, :] + 0.5) / w - 0.5
        ramp = 1.0 + self.slope * (x * math.cos(self.angle) + 0.5 * y * math.sin(self.angle))
        tint = np.array([1 + self.warmth, 1.0, 1 - self.warmth * 1.2], F32)
        return (self.gain * ramp)[..., None] * tint


@dataclass(frozen=True)
class Camera:
    """Lens softness (blur sigma, output pixels) and sensor noise (std in 8-bit levels)."""

    blur: float
    noise: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Camera:
        blur = 0.0 if rng.random() < 0.35 else float(rng.uniform(0.3, 0.9))
        return cls(blur=blur, noise=float(rng.uniform(1.0, 3.5)))


def downsample(a: np.ndarray, factor: int) -> np.ndarray:
    """Box-filter (H*f, W*f, ...) -> (H, W, ...)."""
    if factor == 1:
        return a
    out = np.zeros((a.shape[0] // factor, a.shape[1] // factor, *a.shape[2:]), F32)
    for i in range(factor):
        for j in range(factor):
            out += a[i::factor, j::factor]
    return out * F32(1.0 / (factor * factor))


def finish(
    img: np.ndarray, camera: Camera, grain: np.ndarray, matte: np.ndarray | None
) -> np.ndarray:
    """Blur, add ``grain`` (H, W, 3, unit std) scaled by the camera noise, quantise to uint8.

    ``matte`` (H, W) in [0, 1], when given, keeps black what the segmentation removed.
    """
    if camera.blur > 0:
        img = gaussian_filter(img, (camera.blur, camera.blur, 0), mode="nearest")
    noise = grain * F32(camera.noise / 255.0)
    if matte is not None:
        noise = noise * matte[..., None]
    return np.clip(np.rint((img + noise) * 255.0), 0, 255).astype(np.uint8)
