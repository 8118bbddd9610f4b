"""Animal identities (species, proportions, coat) and their rasterisation from part lists.

An :class:`Identity` is everything that stays fixed across the photos of one animal. A pose
(see :mod:`workbench.synth.poses`) turns it into a list of :class:`Part` in animal units plus
:class:`Anchors` (mouth, ground line, places a hand can hold, fur that can catch a highlight);
:func:`rasterize` paints the parts into one RGBA layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from workbench.synth.coats import RGB, Coat
from workbench.synth.palettes import random_coat, similar_coat
from workbench.synth.shapes import (
    F32,
    Canvas,
    Layer,
    Patch,
    Point,
    chain,
    coverage,
    ellipse,
    local_coords,
    polygon,
    shade,
    smoothstep,
)

SPECIES = ("dog", "cat")


@dataclass(frozen=True)
class Build:
    """Body proportions in animal units (body length = 1)."""

    species: str
    girth: float  # body height
    leg_len: float  # how far the legs reach below the body
    leg_w: float  # leg radius
    head_r: float
    muzzle_len: float
    muzzle_w: float
    ear_type: str  # "cat", "pointed", "semi" or "floppy"
    ear_size: float
    tail_len: float
    tail_w: float
    tail_style: str  # "cat", "down", "up" or "curled"
    neck_len: float
    fluff: float  # outline noise amplitude (long fur)


@dataclass(frozen=True)
class Identity:
    """One animal: what every photo of its post shares."""

    species: str
    build: Build
    coat: Coat


@dataclass(frozen=True)
class Part:
    """One shape of the animal: ``shape`` is "ellipse", "chain" or "polygon" with ``geom`` args.

    ``frame`` (origin, angle, half_len, half_wid) replaces the shape's own local coordinates
    (chest and haunch share the body's, so markings run across them). ``colour`` fixes the
    colour (eyes, nose) instead of asking the coat; ``size`` is the smallest radius (units).
    """

    kind: str
    shape: str
    geom: tuple
    size: float
    frame: tuple[Point, float, float, float] | None = None
    colour: RGB | None = None
    shade: float = 1.0
    volume: float = 1.0
    opacity: float = 1.0
    fuzzy: bool = True


@dataclass(frozen=True)
class Anchors:
    """Where artifacts attach, in animal units."""

    pose: str
    species: str
    head: Point
    head_r: float
    head_view: str  # "front" or "side"
    mouth: Point
    ground: float  # y of the ground line
    feet: tuple[float, float]  # x range of the paws
    grabs: dict[str, Point] = field(default_factory=dict)  # where a hand can hold the animal
    glare: dict[str, Point] = field(default_factory=dict)  # fur that can catch a highlight
    # a collar: the band's two ends across the neck and how far its middle sags (units)
    collar: tuple[Point, Point, float] = ((0.0, 0.0), (0.0, 0.0), 0.0)
    strap: tuple[Point, Point, float] = ((0.0, 0.0), (0.0, 0.0), 0.0)  # a harness' chest band


def random_identity(rng: np.random.Generator, species: str | None = None) -> Identity:
    """A new animal; ``species`` "dog"/"cat" or None (55 % dogs)."""
    if species is None:
        species = "dog" if rng.random() < 0.55 else "cat"
    if species not in SPECIES:
        raise ValueError(f"species must be one of {SPECIES}, not {species!r}")
    return Identity(species, random_build(rng, species), random_coat(rng, species))


def lookalike(target: Identity, rng: np.random.Generator) -> Identity:
    """A different animal of the same species with similar colouring (a decoy)."""
    build = random_build(rng, target.species)
    if rng.random() < 0.5:  # often the same ear type, which makes the decoy harder
        build = replace(build, ear_type=target.build.ear_type)
    return Identity(target.species, build, similar_coat(target.coat, rng, target.species))


def twin(target: Identity, rng: np.random.Generator, spread: float = 0.04) -> Identity:
    """A different animal that could pass for ``target``: the same build within ``spread``
    (a share, per proportion), the same coat recipe and colours (markings laid out anew)."""
    b = target.build
    jitter = {
        f: getattr(b, f) * float(rng.uniform(1.0 - spread, 1.0 + spread))
        for f in (
            "girth",
            "leg_len",
            "leg_w",
            "head_r",
            "muzzle_len",
            "muzzle_w",
            "ear_size",
            "tail_len",
            "tail_w",
            "neck_len",
        )
    }
    return Identity(
        target.species, replace(b, **jitter), similar_coat(target.coat, rng, target.species)
    )


def random_build(rng: np.random.Generator, species: str) -> Build:
    u = rng.uniform
    if species == "cat":
        head_r = u(0.17, 0.21)
        return Build(
            species=species,
            girth=u(0.36, 0.44),
            leg_len=u(0.26, 0.36),
            leg_w=u(0.045, 0.06),
            head_r=head_r,
            muzzle_len=head_r * 0.3,
            muzzle_w=head_r * 0.5,
            ear_type="cat",
            ear_size=head_r * u(0.55, 0.8),
            tail_len=u(0.6, 0.85),
            tail_w=u(0.035, 0.06),
            tail_style="cat",
            neck_len=u(0.05, 0.12),
            fluff=float(u(0.0, 0.02) if rng.random() < 0.75 else u(0.02, 0.04)),
        )
    head_r = u(0.16, 0.24)
    ear = ("floppy", "pointed", "semi")[rng.choice(3, p=[0.5, 0.35, 0.15])]
    tail = ("down", "up", "curled")[rng.choice(3, p=[0.55, 0.3, 0.15])]
    return Build(
        species=species,
        girth=u(0.36, 0.52),
        leg_len=u(0.2, 0.55),
        leg_w=u(0.05, 0.085),
        head_r=head_r,
        muzzle_len=head_r * u(0.35, 1.1),
        muzzle_w=head_r * u(0.5, 0.72),
        ear_type=ear,
        ear_size=head_r * (u(0.8, 1.3) if ear == "floppy" else u(0.6, 1.0)),
        tail_len=u(0.25, 0.55),
        tail_w=u(0.03, 0.07) * (1.8 if tail == "curled" else 1.0),
        tail_style=tail,
        neck_len=u(0.08, 0.25),
        fluff=float(u(0.0, 0.02) if rng.random() < 0.7 else u(0.02, 0.05)),
    )


def part_box(p: Part) -> tuple[float, float, float, float]:
    """Bounding box (x0, y0, x1, y1) of a part in animal units."""
    if p.shape == "ellipse":
        (cx, cy), rx, ry = p.geom[0], p.geom[1], p.geom[2]
        r = max(rx, ry)
        return cx - r, cy - r, cx + r, cy + r
    pts = np.asarray(p.geom[0])
    r = max(p.geom[1]) if p.shape == "chain" else (p.geom[1] if len(p.geom) > 1 else 0.0)
    return pts[:, 0].min() - r, pts[:, 1].min() - r, pts[:, 0].max() + r, pts[:, 1].max() + r


def parts_box(parts: list[Part]) -> tuple[float, float, float, float]:
    boxes = np.array([part_box(p) for p in parts])
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _patch(canvas: Canvas, p: Part) -> Patch | None:
    if p.shape == "ellipse":
        return ellipse(canvas, *p.geom)
    if p.shape == "chain":
        return chain(canvas, *p.geom)
    if p.shape == "polygon":
        return polygon(canvas, *p.geom)
    raise ValueError(f"unknown shape {p.shape!r}")


def rasterize(
    canvas: Canvas, parts: list[Part], coat: Coat, fur: np.ndarray, fluff: float
) -> Layer:
    """Paint ``parts`` in order into a new layer; ``fur`` (H, W) is the fur texture in ~[-1, 1]."""
    layer = Layer(canvas.height, canvas.width)
    # long fur, but no spray on close-ups: at most ~2 output pixels of outline noise
    fluff = min(fluff, 2.0 * canvas.height / 256.0 / canvas.ppu)
    for p in parts:
        patch = _patch(canvas, p)
        if patch is None:
            continue
        idx = patch.win.index
        if p.fuzzy and fluff > 0:
            patch.d = patch.d - fluff * canvas.fuzz[idx]
        thin = 0.75 / canvas.ppu - p.size
        if thin > 0:  # whiskers and mouth lines stay at least a pixel wide
            patch.d = patch.d - thin
        cov = coverage(patch)
        if p.opacity < 1.0:
            cov = cov * F32(p.opacity)
        if not cov.any():
            continue
        t, s = (patch.t, patch.s) if p.frame is None else local_coords(patch, *p.frame)
        if p.colour is not None:
            col = np.empty((*cov.shape, 3), F32)
            col[...] = p.colour
        else:
            col = coat.colour(p.kind, t, s)
            col *= (1.0 + coat.fur_contrast * fur[idx])[..., None]
        col = shade(col, patch, s, p.size, p.volume) * F32(p.shade)
        layer.paint(patch.win, cov, np.clip(col, 0.0, 1.0))
    # the whole silhouette darkens softly towards its outline (fur seen edge-on)
    rim = cv2.GaussianBlur(
        layer.alpha, (0, 0), 2.5 * canvas.height / 512.0, borderType=cv2.BORDER_CONSTANT
    )
    layer.rgb *= (0.78 + 0.22 * smoothstep(0.45, 0.95, rim))[..., None]
    return layer
