"""Render one photo of an identity, with its artifacts and without them (the counterfactual).

Both versions come from the same random draws (pose, framing, light, fur, sensor noise): the
counterfactual is the same stack of layers minus the artifact layers, so the two images differ
only where an artifact is visible (plus the blur's and the JPEG block's reach around it).

Masks, at output resolution, threshold the *visible* share of each layer at 0.5:
an artifact mask is what can be seen of the artifact; the animal mask is the visible fur
(a hand, a tongue, a collar or grass in front of the animal cuts it; a glare does not: it lies
on the fur).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from workbench.synth.animals import Anchors, Identity, parts_box, rasterize
from workbench.synth.artifacts import ArtifactLook, draw
from workbench.synth.poses import POSE_WEIGHTS, POSES, pose_parts
from workbench.synth.scenes import SCENES, Camera, Light, background, downsample, finish, shadow
from workbench.synth.shapes import F32, Canvas, Frame, Layer

LOOKS = ("segmented", "background")
SUPERSAMPLE = 1  # analytic edge coverage already anti-aliases; 2 is sharper, 2x slower
ATTEMPTS = 12
MIN_ARTIFACT_SHARE = 20 / (256 * 128)  # a smaller artifact (share of the image) is re-drawn
ORDER = ("glare", "collar", "tongue", "grass", "hands")  # compositing order above the animal


class RenderError(RuntimeError):
    """No framing of the photo showed every planned artifact."""


@dataclass
class Rendered:
    """One photo: ``image`` and ``counterfactual`` (H, W, 3) uint8, boolean (H, W) masks."""

    image: np.ndarray
    counterfactual: np.ndarray | None
    animal_mask: np.ndarray
    masks: dict[str, np.ndarray]
    pose: str


def render(
    ident: Identity,
    artifacts: list[ArtifactLook],
    look: str,
    height: int,
    width: int,
    key: tuple[int, ...],
    counterfactual: bool = True,
) -> Rendered:
    """Render a ``height`` x ``width`` photo; ``key`` seeds every random draw of the photo."""
    if look not in LOOKS:
        raise ValueError(f"look must be one of {LOOKS}, not {look!r}")
    kinds = [a.kind for a in artifacts]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"each artifact can appear once per photo, got {kinds}")
    for attempt in range(ATTEMPTS):
        out = _attempt(ident, artifacts, look, height, width, (*key, attempt), counterfactual)
        if out is not None:
            return out
    raise RenderError(f"photo {key}: no framing showed all of {kinds} after {ATTEMPTS} attempts")


def _frame(box, pose: str, rng: np.random.Generator, h: int, w: int) -> Frame:
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    stretch = rng.uniform(
        *{"sit": (1.0, 1.25), "closeup": (1.0, 1.2), "stand": (1.05, 1.5)}.get(pose, (1.2, 1.8))
    )
    if pose == "closeup":
        fill, top = rng.uniform(0.75, 0.98), rng.uniform(0.02, 0.12)
    elif pose == "sit":
        fill, top = rng.uniform(0.6, 0.95), rng.uniform(0.03, 0.2)
    else:
        fill = rng.uniform(0.85, 1.0) if rng.random() < 0.7 else rng.uniform(1.0, 1.25)
        top = rng.uniform(0.04, 0.25)
    scale = fill * w / bw
    if pose != "closeup" and bh * scale * stretch > (0.95 - top) * h:
        scale = (0.95 - top) * h / (bh * stretch)
    mirror = 1 if rng.random() < 0.5 else -1
    cx = w * (0.5 + rng.uniform(-0.06, 0.06))
    return Frame(
        ox=cx - mirror * scale * (x0 + x1) / 2,
        oy=top * h - stretch * scale * y0,
        sx=scale,
        sy=scale * stretch,
        mirror=mirror,
    )


def _attempt(ident, artifacts, look, height, width, key, counterfactual) -> Rendered | None:
    ss = SUPERSAMPLE
    hs, ws = height * ss, width * ss
    scene = np.random.default_rng([*key, 0])
    weights = np.asarray(POSE_WEIGHTS[ident.species])
    pose = POSES[scene.choice(len(POSES), p=weights / weights.sum())]
    parts, anchors = pose_parts(ident, pose, scene)
    box = parts_box(parts[2:] if pose == "closeup" else parts)
    frame = _frame(box, pose, scene, hs, ws)
    canvas = Canvas(hs, ws, frame)
    fur = _fur(scene, hs, ws)
    canvas.fuzz = _smooth_noise(scene, hs, ws, max(2, round(4 * hs / 256)))
    animal = rasterize(canvas, parts, ident.coat, fur, ident.build.fluff)
    light = Light.draw(scene)
    camera = Camera.draw(scene)
    grain = scene.standard_normal((height, width, 3)).astype(F32)
    grain = 0.7 * grain + 0.3 * grain.mean(axis=2, keepdims=True)  # partly luminance noise
    bg = None
    if look == "background":
        bg = background(SCENES[scene.integers(len(SCENES))], scene, hs, ws)
        bg = _with_shadow(bg, canvas, anchors, scene)
    marks = np.random.default_rng([*key, 1])
    segmented = look == "segmented"
    layers = {a.kind: draw(a, canvas, anchors, animal, fur, marks, segmented) for a in artifacts}
    stack = [("animal", animal)] + [(k, layers[k]) for k in ORDER if k in layers]
    vis = _visible(stack)
    masks = {k: downsample(vis[k], ss) >= 0.5 for k in layers}
    least = max(3, round(MIN_ARTIFACT_SHARE * height * width))
    if any(int(m.sum()) < least for m in masks.values()):
        return None
    occluders = [(k, layer) for k, layer in stack if k not in ("animal", "glare")]
    animal_vis = _visible([("animal", animal), *occluders])["animal"]
    animal_mask = downsample(animal_vis, ss) >= 0.5
    if animal_mask.mean() < 0.04:
        return None
    image = _compose(stack, bg, light, ss, camera, grain)
    clean = _compose(stack[:1], bg, light, ss, camera, grain) if counterfactual and layers else None
    return Rendered(image, clean, animal_mask, masks, pose)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Noise (h, w) in about [-1, 1] with features of about ``cell`` pixels."""
    small = rng.standard_normal((h // cell + 2, w // cell + 2)).astype(F32)
    big = cv2.resize(
        small, ((w // cell + 2) * cell, (h // cell + 2) * cell), interpolation=cv2.INTER_CUBIC
    )
    return np.clip(big[cell : cell + h, cell : cell + w] * 0.6, -1.0, 1.0)


def _fur(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Fur texture (h, w) in about [-1, 1]: fine vertical strands plus soft mottling."""
    k = h / 256.0  # canvas pixels per output pixel at the default size
    noise = rng.standard_normal((h, w)).astype(F32)
    strands = cv2.GaussianBlur(noise, (0, 0), max(0.3, 0.3 * k), sigmaY=max(0.5, 0.9 * k))
    strands *= 1.0 / (float(strands.std()) + 1e-6)
    mottle = _smooth_noise(rng, h, w, max(2, round(3 * k)))
    return np.clip(0.35 * strands + 0.3 * mottle, -1.0, 1.0)


def _with_shadow(
    bg: np.ndarray, canvas: Canvas, anchors: Anchors, rng: np.random.Generator
) -> np.ndarray:
    x0, y = canvas.frame.to_px(anchors.feet[0], anchors.ground)
    x1, _ = canvas.frame.to_px(anchors.feet[1], anchors.ground)
    rx = abs(x1 - x0) * 0.65
    return shadow(bg, ((x0 + x1) / 2, y), rx, rx * 0.18, float(rng.uniform(0.25, 0.5)))


def _visible(stack: list[tuple[str, Layer]]) -> dict[str, np.ndarray]:
    """Visible share (H, W) of each layer of a bottom-to-top stack."""
    out: dict[str, np.ndarray] = {}
    remaining = np.ones_like(stack[0][1].alpha)
    for name, layer in reversed(stack):
        out[name] = layer.alpha * remaining
        remaining = remaining * (1.0 - layer.alpha)
    return out


def _compose(stack, bg, light, ss, camera, grain) -> np.ndarray:
    """Composite bottom-to-top, downsample, light everything but the glare, finish."""
    h, w = stack[0][1].alpha.shape
    img = np.zeros((h, w, 3), F32) if bg is None else bg
    cover = np.zeros((h, w), F32)
    glare = None
    for name, layer in stack:
        keep = 1.0 - layer.alpha
        img = layer.rgb + img * keep[..., None]
        cover = layer.alpha + cover * keep
        if glare is not None:
            glare = glare * keep[..., None]
        if name == "glare":
            glare = layer.rgb
    img = downsample(img, ss)
    lit = light.map(*img.shape[:2])
    if glare is None:
        img = img * lit
    else:
        g = downsample(glare, ss)
        img = (img - g) * lit + g
    matte = downsample(cover, ss) if bg is None else None
    return finish(img, camera, grain, matte)
