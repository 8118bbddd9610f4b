"""Non-native features planted in photos: a tongue, a human hand, a grass patch, a fur glare,
a collar (or a harness, or a collar with a leash).

Each artifact is drawn into its own layer from an :class:`ArtifactLook` (what stays the same
across the photos of a polluted post: skin tone and side of a hand, size and colour of a
tongue, colour and style of a collar...) and the photo's random draws (exact placement).
Layers are composited above the animal, so the photo without them (the counterfactual) is the
same render minus these layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from workbench.synth.animals import Anchors
from workbench.synth.coats import RGB
from workbench.synth.shapes import (
    F32,
    Canvas,
    Layer,
    Patch,
    chain,
    coverage,
    ellipse,
    shade,
    smoothstep,
)

ARTIFACTS = ("tongue", "hands", "grass", "glare", "collar")

SKIN = [
    (241, 194, 167),
    (227, 180, 146),
    (206, 150, 114),
    (176, 120, 86),
    (132, 88, 60),
    (95, 62, 44),
]
TONGUE = [(222, 106, 128), (205, 90, 110), (232, 128, 142), (192, 82, 102)]
GREEN = [(84, 140, 52), (98, 158, 60), (66, 118, 44), (122, 150, 62)]
# collars and harnesses are often saturated; black and brown leather are common too
COLLAR = [
    (205, 32, 42),  # red
    (32, 82, 205),  # blue
    (36, 158, 72),  # green
    (236, 92, 164),  # pink
    (244, 136, 24),  # orange
    (238, 206, 40),  # yellow
    (122, 52, 172),  # purple
    (22, 168, 186),  # teal
    (30, 30, 34),  # black
    (122, 72, 38),  # brown leather
]
COLLAR_STYLES = ("collar", "studded", "harness", "leash")
STUD: RGB = (0.86, 0.86, 0.88)


@dataclass(frozen=True)
class ArtifactLook:
    """Post-level appearance of one artifact.

    ``size``: tongue length (head radii), hand length (frame widths), grass height (frame
    heights), glare radius (body units) or collar band width (head radii); ``width``: tongue
    width (head radii), finger spread, grass density, glare elongation or the thickness of a
    harness strap or leash (relative to the band); ``side``: where it enters or sits (for a
    leash: the side it rises to); ``angle``: lean (rad; for a leash its slant); ``where``:
    where a hand holds or a glare sits, or the collar's style (:data:`COLLAR_STYLES`).
    """

    kind: str
    colour: RGB
    size: float
    width: float
    side: str
    angle: float
    where: str = ""


def _rgb(c: tuple[int, int, int], rng: np.random.Generator, spread: float = 0.06) -> RGB:
    v = np.clip(np.asarray(c) / 255.0 * rng.uniform(1 - spread, 1 + spread), 0, 1)
    return tuple(float(x) for x in v)  # type: ignore[return-value]


def random_look(kind: str, rng: np.random.Generator) -> ArtifactLook:
    """A new appearance for an artifact of ``kind`` (one of :data:`ARTIFACTS`)."""
    u = rng.uniform
    pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
    if kind == "tongue":
        return ArtifactLook(
            kind, _rgb(pick(TONGUE), rng), u(0.7, 1.2), u(0.3, 0.44), "", u(-0.25, 0.25)
        )
    if kind == "hands":
        return ArtifactLook(
            kind,
            _rgb(pick(SKIN), rng, 0.04),
            u(0.42, 0.62),
            u(0.85, 1.2),
            pick(["left", "right", "bottom"]),
            u(-0.3, 0.3),
            pick(["chest", "neck", "back", "belly", "side", "head"]),
        )
    if kind == "grass":
        return ArtifactLook(
            kind,
            _rgb(pick(GREEN), rng, 0.12),
            u(0.07, 0.14),
            u(1.5, 2.4),
            pick(["all", "all", "left", "right"]),
            u(-0.4, 0.4),
        )
    if kind == "glare":
        warm = u(-0.03, 0.03)
        return ArtifactLook(
            kind,
            (1.0, 0.985, 0.95 + warm),
            u(0.09, 0.16),
            u(1.2, 2.6),
            "",
            u(-0.6, 0.6),
            pick(["body", "head", "haunch"]),
        )
    if kind == "collar":
        style = COLLAR_STYLES[int(rng.choice(len(COLLAR_STYLES), p=[0.35, 0.15, 0.3, 0.2]))]
        colour = (30, 30, 34) if style == "studded" else pick(COLLAR)
        return ArtifactLook(
            kind,
            _rgb(colour, rng, 0.05),
            u(0.35, 0.55),
            u(0.8, 1.2),
            pick(["left", "right"]),
            u(-0.35, 0.35),
            style,
        )
    raise ValueError(f"artifact must be one of {ARTIFACTS}, not {kind!r}")


def jitter(look: ArtifactLook, rng: np.random.Generator) -> ArtifactLook:
    """The same artifact in another photo: small changes of size and angle only."""
    return replace(
        look,
        size=look.size * float(rng.uniform(0.92, 1.08)),
        angle=look.angle + float(rng.uniform(-0.08, 0.08)),
    )


def draw(
    look: ArtifactLook,
    canvas: Canvas,
    anchors: Anchors,
    animal: Layer,
    fur: np.ndarray,
    rng: np.random.Generator,
    segmented: bool = True,
) -> Layer:
    """The artifact's layer for one photo (same size as the canvas).

    In a segmented photo the segmentation kept the hand and a short piece of the arm (cut
    cleanly); with a background the arm reaches the image edge it comes from.
    """
    layer = Layer(canvas.height, canvas.width)
    painter = {
        "tongue": _tongue,
        "hands": _hand,
        "grass": _grass,
        "glare": _glare,
        "collar": _collar,
    }[look.kind]
    painter(layer, look, canvas, anchors, animal, fur, rng, segmented)
    return layer


def _paint(
    layer: Layer, patch: Patch | None, colour: RGB | np.ndarray, size: float, volume: float = 1.0
) -> None:
    if patch is None:
        return
    cov = coverage(patch)
    col = np.empty((*cov.shape, 3), F32)
    col[...] = colour
    layer.paint(patch.win, cov, np.clip(shade(col, patch, patch.s, size, volume), 0, 1))


def _tongue(layer, look, canvas, anchors, animal, fur, rng, segmented) -> None:
    scale = anchors.head_r * (0.6 if anchors.head_view == "side" else 1.0)
    scale *= 0.75 if anchors.species == "cat" else 1.0
    length, width = look.size * scale, look.width * scale
    lean = look.angle + rng.uniform(-0.05, 0.05)
    mx, my = anchors.mouth
    if anchors.head_view == "side":
        mx += 0.1 * width
    pts = [
        (mx, my - width * 0.35),
        (mx + lean * length * 0.4, my + length * 0.5),
        (mx + lean * length, my + length - width * 0.9),
    ]
    patch = chain(canvas, pts, [width * 0.72, width * 0.95, width * 0.9])
    if patch is None:
        return
    col = np.empty((*patch.d.shape, 3), F32)
    col[...] = look.colour
    t, s = patch.t, patch.s
    groove = smoothstep(0.3, 0.0, np.abs(s)) * smoothstep(0.2, 0.45, t) * smoothstep(0.95, 0.75, t)
    f = (0.55 + 0.45 * smoothstep(0.0, 0.3, t)) * (1.0 - 0.22 * groove)
    f = f * (1.0 + 0.25 * smoothstep(0.5, 0.0, np.hypot(t - 0.55, (s + 0.45) * 0.5)))
    col *= f[..., None]
    cov = coverage(patch)
    layer.paint(patch.win, cov, np.clip(shade(col, patch, s, width * 0.7, 0.8), 0, 1))


def _hand(layer, look, canvas, anchors, animal, fur, rng, segmented) -> None:
    frame = canvas.frame
    grab = anchors.grabs.get(look.where) or next(iter(anchors.grabs.values()))
    gx, gy = frame.to_px(*grab)
    gx += rng.uniform(-0.03, 0.03) * canvas.width
    gy += rng.uniform(-0.03, 0.03) * canvas.height
    w, h = canvas.width, canvas.height
    j = look.angle + rng.uniform(-0.08, 0.08)
    if look.side == "left":
        ex, ey = -0.1 * w, gy + j * 0.3 * h
    elif look.side == "right":
        ex, ey = 1.1 * w, gy + j * 0.3 * h
    else:
        ex, ey = gx + j * 0.6 * w, 1.04 * h
    dx, dy = gx - ex, gy - ey
    norm = math.hypot(dx, dy) or 1.0
    dx, dy = dx / norm, dy / norm
    px_, py_ = -dy, dx  # across the hand
    hl = look.size * w
    pr = hl * 0.26
    cx, cy = gx - dx * hl * 0.12, gy - dy * hl * 0.12
    skin = np.asarray(look.colour, F32)
    reach = math.hypot(ex - cx, ey - cy)
    if segmented and reach > 1.3 * hl:  # the segmentation cut the arm above the wrist
        cut = hl * rng.uniform(0.5, 0.9)
        ex, ey = cx - dx * cut, cy - dy * cut
    arm = chain(
        canvas,
        [(cx - dx * pr * 0.3, cy - dy * pr * 0.3), (ex, ey)],
        [pr * 0.85, pr * 1.0],
        space="px",
    )
    _paint(layer, arm, skin * 0.97, pr * 0.8)
    thumb_side = 1.0 if look.side != "right" else -1.0
    tb = (
        cx + px_ * pr * 0.75 * thumb_side - dx * pr * 0.1,
        cy + py_ * pr * 0.75 * thumb_side - dy * pr * 0.1,
    )
    ta = 0.85 * thumb_side
    tdx, tdy = dx * math.cos(ta) - dy * math.sin(ta), dx * math.sin(ta) + dy * math.cos(ta)
    thumb = [
        tb,
        (tb[0] + tdx * hl * 0.18, tb[1] + tdy * hl * 0.18),
        (tb[0] + (tdx + dx) * hl * 0.16, tb[1] + (tdy + dy) * hl * 0.16),
    ]
    _paint(
        layer, chain(canvas, thumb, [pr * 0.32, pr * 0.26, pr * 0.2], space="px"), skin, pr * 0.2
    )
    _paint(
        layer,
        ellipse(canvas, (cx, cy), pr * 1.05, pr * 0.95, math.atan2(dy, dx), space="px"),
        skin,
        pr,
    )
    lengths = (0.34, 0.4, 0.38, 0.3)
    for k, off in enumerate((-0.72, -0.24, 0.24, 0.72)):
        o = off * pr * look.width
        bx, by = cx + dx * pr * 0.7 + px_ * o, cy + dy * pr * 0.7 + py_ * o
        fl = hl * lengths[k] * rng.uniform(0.95, 1.05)
        curl = rng.uniform(-0.15, 0.35)
        mx, my = bx + dx * fl * 0.55 + px_ * o * 0.12, by + dy * fl * 0.55 + py_ * o * 0.12
        cdx, cdy = (
            dx * math.cos(curl) - dy * math.sin(curl),
            dx * math.sin(curl) + dy * math.cos(curl),
        )
        tip = (mx + cdx * fl * 0.45, my + cdy * fl * 0.45)
        bone = [(bx, by), (mx, my), tip]
        crease = chain(canvas, bone, [pr * 0.28, pr * 0.24, pr * 0.21], space="px")
        _paint(layer, crease, skin * 0.72, pr * 0.2, 0.0)
        finger = chain(canvas, bone, [pr * 0.25, pr * 0.21, pr * 0.18], space="px")
        _paint(layer, finger, skin * (0.97 + 0.03 * k), pr * 0.18)
        nail = ellipse(
            canvas,
            (tip[0] - cdx * pr * 0.06, tip[1] - cdy * pr * 0.06),
            pr * 0.12,
            pr * 0.09,
            math.atan2(cdy, cdx),
            space="px",
        )
        _paint(layer, nail, np.clip(skin * 0.6 + 0.42, 0, 1), pr * 0.08, 0.3)


def _grass(layer, look, canvas, anchors, animal, fur, rng, segmented) -> None:
    frame = canvas.frame
    xa, ground = frame.to_px(anchors.feet[0], anchors.ground)
    xb, _ = frame.to_px(anchors.feet[1], anchors.ground)
    x0, x1 = sorted((xa, xb))
    x0, x1 = max(x0, 0.0), min(x1, float(canvas.width))
    ground = min(ground, canvas.height * 0.97)
    span = max(x1 - x0, canvas.width * 0.25)
    if look.side == "left":
        x1 = x0 + span * rng.uniform(0.4, 0.6)
    elif look.side == "right":
        x0 = x1 - span * rng.uniform(0.4, 0.6)
    pad = span * rng.uniform(0.0, 0.12)
    x0, x1 = x0 - pad, x1 + pad
    hb = look.size * canvas.height
    px = canvas.height / 256.0  # canvas pixels per output pixel at the default size
    n = max(6, int((x1 - x0) / (2.0 * px) * look.width))
    bx = rng.uniform(x0, x1, n).astype(F32)
    by = (ground + rng.uniform(-0.05, 0.3, n) * hb).astype(F32)
    bh = (hb * rng.uniform(0.35, 1.0, n)).astype(F32)
    lean = ((look.angle + rng.normal(0.0, 0.35, n)) * bh).astype(F32)
    bw = (rng.uniform(0.65, 1.4, n) * px).astype(F32)
    tone = rng.uniform(0.72, 1.22, n).astype(F32)
    dry = (rng.random(n) < 0.15).astype(F32)
    lo = float(np.abs(lean).max()) + 4
    win = canvas.window((x0 - lo, float((by - bh).min()) - 3, x1 + lo, float(by.max()) + 3), "px")
    if win is None:
        return
    x, y = win.x[None], win.y[None]
    rise = (by[:, None, None] - y) / bh[:, None, None]  # 0 at the base, 1 at the tip
    xc = bx[:, None, None] + lean[:, None, None] * rise
    half = bw[:, None, None] * (1.0 - np.clip(rise, 0, 1) * 0.85)
    d = np.maximum(np.abs(x - xc) - half, np.maximum(-rise, rise - 1.0) * bh[:, None, None])
    k = np.argmin(d, axis=0)
    dmin = np.take_along_axis(d, k[None], axis=0)[0]
    r = np.take_along_axis(np.broadcast_to(rise, d.shape), k[None], axis=0)[0]
    green = np.asarray(look.colour, F32)
    yellow = np.asarray((0.62, 0.6, 0.3), F32)
    col = (green * (1 - dry[k])[..., None] + yellow * dry[k][..., None]) * tone[k][..., None]
    col = col * (0.55 + 0.45 * np.clip(r, 0, 1))[..., None]
    cov = np.clip(0.5 - dmin, 0.0, 1.0).astype(F32)
    layer.paint(win, cov, np.clip(col, 0, 1))


def _glare(layer, look, canvas, anchors, animal, fur, rng, segmented) -> None:
    where = look.where if look.where in anchors.glare else next(iter(anchors.glare))
    cx, cy = anchors.glare[where]
    size = look.size * (0.7 if where in ("head", "cheek") else 1.0)
    if anchors.pose == "closeup":
        size *= anchors.head_r / 0.2 * 0.8
    cx += rng.uniform(-0.3, 0.3) * size
    cy += rng.uniform(-0.2, 0.2) * size
    rx = size * math.sqrt(look.width)
    patch = ellipse(canvas, (cx, cy), rx, size / math.sqrt(look.width), look.angle)
    if patch is None:
        return
    k = np.sqrt(patch.t**2 + patch.s**2)
    idx = patch.win.index
    a = smoothstep(1.0, 0.6, k) * np.clip(0.9 + 0.35 * fur[idx], 0, 1)
    a = np.clip(a * 1.15, 0, 1) * animal.alpha[idx]
    layer.paint(patch.win, a.astype(F32), np.asarray(look.colour, F32))


def _curve(a: tuple, b: tuple, sag: float, n: int = 6) -> list[tuple[float, float]]:
    """``n + 1`` points of a quadratic curve from ``a`` to ``b`` whose middle lies ``sag`` off
    the straight line, towards ``(-dy, dx)`` (y down: below a band drawn left to right)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    norm = math.hypot(dx, dy) or 1.0
    c = ((a[0] + b[0]) / 2 - dy / norm * 2 * sag, (a[1] + b[1]) / 2 + dx / norm * 2 * sag)
    out = []
    for i in range(n + 1):
        t = i / n
        p, q, r = (1 - t) ** 2, 2 * t * (1 - t), t * t
        out.append((p * a[0] + q * c[0] + r * b[0], p * a[1] + q * c[1] + r * b[1]))
    return out


def _strap(layer: Layer, canvas: Canvas, pts: list, thick: float, colour, animal: Layer) -> None:
    """A band of width ``thick`` (units) along ``pts`` (units), only where the fur is."""
    patch = chain(canvas, pts, [thick / 2] * len(pts))
    if patch is None:
        return
    cov = coverage(patch) * np.clip(animal.alpha[patch.win.index] * 1.5, 0, 1)
    col = np.empty((*cov.shape, 3), F32)
    col[...] = colour
    # stitched edges: a little darker along both borders
    col *= (1.0 - 0.25 * smoothstep(0.55, 0.95, np.abs(patch.s)))[..., None]
    layer.paint(patch.win, cov.astype(F32), np.clip(shade(col, patch, patch.s, thick / 2), 0, 1))


def _collar(layer, look, canvas, anchors, animal, fur, rng, segmented) -> None:
    thick = look.size * anchors.head_r
    a, b, sag = anchors.collar
    band = _curve(a, b, sag * rng.uniform(0.8, 1.2))
    _strap(layer, canvas, band, thick, look.colour, animal)
    if look.where == "harness":
        sa, sb, ssag = anchors.strap
        _strap(layer, canvas, _curve(sa, sb, ssag), thick * 1.25 * look.width, look.colour, animal)
    if look.where == "studded":
        for p in band[1:-1]:
            stud = ellipse(canvas, p, thick * 0.32, thick * 0.32)
            if stud is not None:
                cov = coverage(stud) * animal.alpha[stud.win.index]
                col = np.empty((*cov.shape, 3), F32)
                col[...] = STUD
                layer.paint(stud.win, cov.astype(F32), np.clip(shade(col, stud, stud.s, 1.0), 0, 1))
    if look.where == "leash":
        _leash(layer, look, canvas, band, thick, rng, segmented)


def _leash(layer, look, canvas, band, thick, rng, segmented) -> None:
    """A leash from the collar's ring, near the band's end on ``look.side``, up and out of the
    frame on that side (cut short next to the animal in a segmented photo)."""
    h = canvas.height
    ends = sorted((canvas.frame.to_px(*band[1]), canvas.frame.to_px(*band[-2])))
    (rx, ry), sign = (ends[0], -1.0) if look.side == "left" else (ends[1], 1.0)
    lean = 0.25 + 0.5 * abs(look.angle) + rng.uniform(-0.04, 0.04)
    ex, ey = rx + sign * lean * h, -0.1 * h
    if segmented:  # the segmentation kept a short piece next to the animal
        keep = rng.uniform(0.18, 0.32) * h / (math.hypot(ex - rx, ey - ry) or 1.0)
        ex, ey = rx + (ex - rx) * min(keep, 1.0), ry + (ey - ry) * min(keep, 1.0)
    r = max(0.9, thick * canvas.ppu * 0.22 * look.width)
    pts = _curve((rx, ry), (ex, ey), -sign * 0.06 * math.hypot(ex - rx, ey - ry), 4)
    patch = chain(canvas, pts, [r] * len(pts), space="px")
    _paint(layer, patch, np.asarray(look.colour, F32) * 0.9, r, 0.6)
