"""Poses: standing (side view), sitting (front), lying (side) and a head close-up.

Each pose turns an :class:`~workbench.synth.animals.Identity` and a photo's random draws into an
ordered part list (back to front) in animal units, x towards the head, y down, plus anchors.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.synth.animals import Anchors, Build, Identity, Part
from workbench.synth.heads import head
from workbench.synth.shapes import Point

POSES = ("stand", "sit", "lie", "closeup")
POSE_WEIGHTS = {"dog": (0.35, 0.3, 0.2, 0.15), "cat": (0.25, 0.35, 0.25, 0.15)}
FAR = 0.72  # brightness of the limbs on the far side


def pose_parts(ident: Identity, pose: str, rng: np.random.Generator) -> tuple[list[Part], Anchors]:
    """Parts (back to front) and anchors of ``ident`` in ``pose`` (one of :data:`POSES`)."""
    builders = {"stand": _stand, "sit": _sit, "lie": _lie, "closeup": _closeup}
    if pose not in builders:
        raise ValueError(f"pose must be one of {POSES}, not {pose!r}")
    return builders[pose](ident, rng)


def _bezier(p0: Point, p1: Point, p2: Point, n: int = 6) -> list[Point]:
    out = []
    for i in range(n + 1):
        u = i / n
        a, b, c = (1 - u) ** 2, 2 * u * (1 - u), u * u
        out.append((a * p0[0] + b * p1[0] + c * p2[0], a * p0[1] + b * p1[1] + c * p2[1]))
    return out


def _chain(kind: str, pts: list[Point], radii: list[float], **kw) -> Part:
    return Part(kind, "chain", (pts, radii), min(radii), **kw)


def _ell(kind: str, c: Point, rx: float, ry: float, angle: float = 0.0, **kw) -> Part:
    return Part(kind, "ellipse", (c, rx, ry, angle), min(rx, ry), **kw)


def _tail(b: Build, base: Point, style: str, rng: np.random.Generator, **kw) -> Part:
    tl, x, y = b.tail_len, base[0], base[1]
    wag = rng.uniform(-0.1, 0.1)
    if style == "down":
        p1, p2 = (x - tl * 0.45, y + tl * 0.15), (x - tl * (0.6 + wag), y + tl * 0.75)
    elif style == "up":
        p1, p2 = (x - tl * 0.5, y - tl * 0.1), (x - tl * (0.7 + wag), y - tl * 0.7)
    elif style == "curled":
        p1, p2 = (x - tl * 0.2, y - tl * 0.9), (x + tl * (0.35 + wag), y - tl * 0.6)
    else:  # cat: down and back, then up in a J
        p1, p2 = (x - tl * 0.55, y + tl * 0.35), (x - tl * (0.75 + wag), y - tl * 0.45)
    pts = _bezier(base, p1, p2)
    radii = list(np.linspace(b.tail_w, b.tail_w * 0.55, len(pts)))
    return _chain("tail", pts, radii, **kw)


def _front_leg(b: Build, x: float, top: float, ground: float, swing: float, **kw) -> list[Part]:
    lw = b.leg_w
    foot = (x + swing, ground - lw * 0.5)
    pts = [(x, top), (x + swing * 0.5, (top + ground) / 2), foot]
    return [
        _chain("leg_front", pts, [lw * 1.35, lw * 1.0, lw * 0.85], **kw),
        _ell("paw_front", (foot[0] + lw * 0.35, ground - lw * 0.5), lw * 1.15, lw * 0.55, **kw),
    ]


def _rear_leg(b: Build, x: float, hw: float, ground: float, swing: float, **kw) -> list[Part]:
    lw = b.leg_w
    foot = (x - 0.03 + swing, ground - lw * 0.5)
    pts = [(x, 0.0), (x + 0.04, hw * 0.85), (x - 0.07, hw + b.leg_len * 0.55), foot]
    return [
        _chain("leg_rear", pts, [lw * 2.2, lw * 1.3, lw * 0.9, lw * 0.85], **kw),
        _ell("paw_rear", (foot[0] + lw * 0.35, ground - lw * 0.5), lw * 1.15, lw * 0.55, **kw),
    ]


def _head_view(rng: np.random.Generator, p_front: float) -> str:
    return "front" if rng.random() < p_front else "side"


def _band(centre: Point, toward: Point, half: float, sag: float) -> tuple[Point, Point, float]:
    """A band of half-length ``half`` across the axis from ``centre`` to ``toward``: its two ends
    and how far its middle sags away from ``toward`` (units)."""
    dx, dy = toward[0] - centre[0], toward[1] - centre[1]
    n = math.hypot(dx, dy) or 1.0
    px, py = -dy / n * half, dx / n * half
    return (centre[0] - px, centre[1] - py), (centre[0] + px, centre[1] + py), sag


def _collar(hc: Point, hr: float, body: Point, half: float, sag: float, gap: float = 1.05):
    """The collar around the neck just below the head, whose centre is ``hc``: on the axis
    from ``hc`` towards ``body`` at ``gap`` head radii."""
    dx, dy = body[0] - hc[0], body[1] - hc[1]
    n = math.hypot(dx, dy) or 1.0
    centre = (hc[0] + dx / n * hr * gap, hc[1] + dy / n * hr * gap)
    return _band(centre, hc, half, sag)


def _stand(ident: Identity, rng: np.random.Generator) -> tuple[list[Part], Anchors]:
    b = ident.build
    hw = b.girth / 2
    tilt = rng.uniform(-0.05, 0.05)
    body = ((0.0, 0.0), tilt, 0.5, hw)
    ground = hw + b.leg_len
    sf, sr = rng.uniform(-0.08, 0.08, 2)
    parts: list[Part] = []
    parts += _front_leg(b, 0.34, hw * 0.1, ground - 0.015, -sf, shade=FAR)
    parts += _rear_leg(b, -0.26, hw, ground - 0.015, -sr, shade=FAR)
    tail = _tail(b, (-0.44, -hw * 0.45), b.tail_style, rng)
    if b.tail_style != "curled":
        parts.append(tail)
    parts.append(_ell("body", (0.0, 0.0), 0.47, hw, tilt, frame=body))
    parts.append(_ell("body", (-0.28, -0.01), 0.21, hw * 0.98, tilt, frame=body))
    parts.append(_ell("body", (0.27, 0.03), 0.22, hw * 1.03, tilt, frame=body))
    if b.tail_style == "curled":
        parts.append(tail)
    parts += _front_leg(b, 0.28, hw * 0.25, ground, sf)
    parts += _rear_leg(b, -0.3, hw, ground, sr)
    hr = b.head_r
    drop = rng.uniform(-0.04, 0.12)
    hc = (0.48 + b.neck_len * 0.5, -hw - b.neck_len * 0.6 - hr * 0.15 + drop)
    parts.append(
        _chain(
            "neck",
            [(0.3, -hw * 0.05), (hc[0] - hr * 0.15, hc[1] + hr * 0.3)],
            [hw * 0.85, hr * 0.72],
        )
    )
    view = _head_view(rng, 0.4)
    hp, mouth = head(b, ident.coat, hc, view, rng.uniform(-0.12, 0.12))
    parts += hp
    neck_mid = ((0.3 + hc[0]) / 2, (-hw * 0.05 + hc[1]) / 2)
    anchors = Anchors(
        pose="stand",
        species=b.species,
        head=hc,
        head_r=hr,
        head_view=view,
        mouth=mouth,
        ground=ground,
        feet=(-0.42, 0.42),
        grabs={
            "chest": (0.3, hw * 0.55),
            "neck": neck_mid,
            "back": (-0.05, -hw * 0.75),
            "belly": (0.0, hw * 0.8),
        },
        glare={
            "body": (rng.uniform(-0.25, 0.15), -hw * 0.55),
            "head": _forehead(hc, hr, view),
            "haunch": (-0.3, -hw * 0.45),
        },
        collar=_collar(hc, hr, (0.3, -hw * 0.05), 0.45 * (hr * 0.72 + hw * 0.85), hr * 0.05),
        strap=((0.2 + tilt * hw, -hw * 1.02), (0.2 - tilt * hw, hw * 1.02), hw * 0.12),
    )
    return parts, anchors


def _forehead(hc: Point, hr: float, view: str) -> Point:
    return (hc[0] - (0.15 if view == "side" else 0.0) * hr, hc[1] - 0.5 * hr)


def _sit(ident: Identity, rng: np.random.Generator) -> tuple[list[Part], Anchors]:
    b = ident.build
    tw = b.girth * 0.6
    th = 0.28 + b.leg_len * 0.25
    ground = th * 0.95
    lw = b.leg_w
    parts: list[Part] = []
    for side in (-1.0, 1.0):
        hc_ = (side * tw * 0.8, th * 0.45)
        parts.append(
            _ell("haunch", hc_, tw * 0.62, th * 0.5, frame=(hc_, 0.0, tw * 0.62, th * 0.5))
        )
        parts.append(_ell("paw_rear", (side * tw * 1.1, ground - lw * 0.55), lw * 1.5, lw * 0.6))
    parts.append(_ell("torso_front", (0.0, 0.0), tw, th, frame=((0.0, 0.0), math.pi / 2, th, tw)))
    side = 1.0 if rng.random() < 0.5 else -1.0
    if b.tail_style in ("cat", "down") or rng.random() < 0.3:
        pts = _bezier(
            (side * tw * 0.9, ground - lw),
            (side * tw * 0.6, ground + b.tail_w * 0.6),
            (-side * tw * 0.35, ground - b.tail_w * 0.4),
        )
        radii = list(np.linspace(b.tail_w, b.tail_w * 0.6, len(pts)))
        parts.append(_chain("tail", pts, radii))
    for s in (-1.0, 1.0):
        x = s * tw * 0.4
        pts = [(x, -th * 0.2), (x * 0.97, ground * 0.5), (x * 0.95, ground - lw * 0.5)]
        parts.append(_chain("leg_front", pts, [lw * 1.4, lw * 1.05, lw * 0.9]))
        parts.append(_ell("paw_front", (x * 0.95, ground - lw * 0.45), lw * 1.2, lw * 0.6))
    hr = b.head_r
    hc = (rng.uniform(-0.04, 0.04), -th - b.neck_len * 0.4 - hr * 0.7)
    neck_c = (0.0, (-th * 0.6 + hc[1]) / 2)
    nh = abs(-th * 0.6 - hc[1]) / 2 + hr * 0.3
    parts.append(
        _ell("torso_front", neck_c, tw * 0.7, nh, frame=(neck_c, math.pi / 2, nh, tw * 0.7))
    )
    view = _head_view(rng, 0.85)
    hp, mouth = head(b, ident.coat, hc, view, rng.uniform(-0.15, 0.15))
    parts += hp
    s = 1.0 if rng.random() < 0.5 else -1.0
    anchors = Anchors(
        pose="sit",
        species=b.species,
        head=hc,
        head_r=hr,
        head_view=view,
        mouth=mouth,
        ground=ground,
        feet=(-tw * 1.25, tw * 1.25),
        grabs={
            "chest": (0.0, -th * 0.15),
            "side": (tw * 0.95, th * 0.1),
            "neck": neck_c,
            "back": (-tw * 0.9, -th * 0.35),
        },
        glare={
            "head": _forehead(hc, hr, view),
            "body": (s * tw * 0.5, -th * 0.5),
            "haunch": (s * tw * 0.85, th * 0.2),
        },
        collar=_collar(hc, hr, (hc[0], hc[1] + 1.0), tw * 0.66, tw * 0.16, gap=1.12),
        strap=((-tw * 0.9, -th * 0.3), (tw * 0.9, -th * 0.3), th * 0.14),
    )
    return parts, anchors


def _lie(ident: Identity, rng: np.random.Generator) -> tuple[list[Part], Anchors]:
    b = ident.build
    hw = b.girth / 2 * 0.85
    body = ((0.0, 0.0), 0.0, 0.5, hw)
    ground = hw
    lw = b.leg_w
    fl = 0.12 + b.leg_len * 0.5
    parts: list[Part] = []

    def foreleg(dx: float, dy: float, **kw) -> list[Part]:
        y = ground - lw * 0.8 + dy
        pts = [(0.3 + dx, hw * 0.3 + dy), (0.3 + fl * 0.5 + dx, y), (0.32 + fl + dx, y)]
        return [
            _chain("leg_front", pts, [lw * 1.5, lw * 1.0, lw * 0.9], **kw),
            _ell("paw_front", (0.32 + fl + lw * 0.4 + dx, y + lw * 0.2), lw * 1.2, lw * 0.6, **kw),
        ]

    parts += foreleg(0.06, -0.012, shade=FAR)
    wrap = rng.random() < 0.4
    if not wrap:
        tl = b.tail_len
        pts = _bezier(
            (-0.46, hw * 0.2),
            (-0.6 - tl * 0.2, ground - b.tail_w),
            (-0.5 - tl * 0.7, ground - b.tail_w * (1.0 + 3 * rng.random())),
        )
        parts.append(_chain("tail", pts, list(np.linspace(b.tail_w, b.tail_w * 0.55, len(pts)))))
    parts.append(_ell("body", (0.0, 0.0), 0.5, hw, frame=body))
    parts.append(_ell("body", (-0.28, -hw * 0.05), 0.24, hw * 1.0, frame=body))
    parts.append(_ell("body", (0.28, 0.0), 0.2, hw * 0.95, frame=body))
    parts.append(
        _chain("leg_rear", [(-0.3, hw * 0.45), (-0.04, ground - lw * 0.75)], [lw * 1.7, lw * 0.95])
    )
    parts.append(_ell("paw_rear", (0.0, ground - lw * 0.6), lw * 1.2, lw * 0.55))
    if wrap:
        pts = _bezier(
            (-0.45, hw * 0.5), (-0.3, ground + b.tail_w * 0.3), (0.1, ground - b.tail_w * 0.5)
        )
        parts.append(_chain("tail", pts, list(np.linspace(b.tail_w, b.tail_w * 0.6, len(pts)))))
    parts += foreleg(0.0, 0.0)
    hr = b.head_r
    resting = rng.random() < 0.25
    if resting:
        hc = (0.4 + fl * 0.55, ground - hr * 0.95)
    else:
        hc = (0.47 + b.neck_len * 0.3, -hw - hr * 0.55 - b.neck_len * 0.3)
    parts.append(
        _chain(
            "neck", [(0.3, -hw * 0.1), (hc[0] - hr * 0.2, hc[1] + hr * 0.3)], [hw * 0.9, hr * 0.72]
        )
    )
    view = _head_view(rng, 0.5)
    hp, mouth = head(b, ident.coat, hc, view, rng.uniform(-0.15, 0.15))
    parts += hp
    anchors = Anchors(
        pose="lie",
        species=b.species,
        head=hc,
        head_r=hr,
        head_view=view,
        mouth=mouth,
        ground=ground,
        feet=(-0.5, 0.35 + fl),
        grabs={
            "back": (-0.05, -hw * 0.75),
            "neck": ((0.3 + hc[0]) / 2, (hc[1] - hw * 0.1) / 2),
            "chest": (0.28, hw * 0.2),
            "belly": (-0.1, hw * 0.5),
        },
        glare={
            "body": (rng.uniform(-0.2, 0.15), -hw * 0.6),
            "head": _forehead(hc, hr, view),
            "haunch": (-0.3, -hw * 0.6),
        },
        collar=_collar(hc, hr, (0.3, -hw * 0.1), 0.45 * (hr * 0.72 + hw * 0.9), hr * 0.05),
        strap=((0.22, -hw * 1.02), (0.22, hw * 0.95), hw * 0.12),
    )
    return parts, anchors


def _closeup(ident: Identity, rng: np.random.Generator) -> tuple[list[Part], Anchors]:
    b = ident.build
    hr = b.head_r
    chest = (rng.uniform(-0.3, 0.3) * hr, hr * 2.6)
    parts = [
        _ell(
            "torso_front",
            chest,
            hr * 2.3,
            hr * 1.9,
            rng.uniform(-0.15, 0.15),
            frame=(chest, math.pi / 2, hr * 1.9, hr * 2.3),
        ),
        _ell(
            "torso_front",
            (0.0, hr * 1.0),
            hr * 0.95,
            hr * 0.9,
            frame=((0.0, hr * 1.0), math.pi / 2, hr * 0.9, hr * 0.95),
        ),
    ]
    view = _head_view(rng, 0.85)
    hp, mouth = head(b, ident.coat, (0.0, 0.0), view, rng.uniform(-0.2, 0.2))
    parts += hp
    anchors = Anchors(
        pose="closeup",
        species=b.species,
        head=(0.0, 0.0),
        head_r=hr,
        head_view=view,
        mouth=mouth,
        ground=hr * 20.0,  # below the frame: grass is drawn at the bottom edge
        feet=(-hr * 1.4, hr * 1.4),
        grabs={
            "chest": (hr * 1.1, hr * 2.0),
            "neck": (hr * 0.6, hr * 1.1),
            "head": (hr * 0.75, -hr * 0.35),
        },
        glare={
            "head": _forehead((0.0, 0.0), hr, view),
            "body": (-hr * 0.7, hr * 1.6),
            "cheek": (-hr * 0.5, hr * 0.05),
        },
        collar=_collar((0.0, 0.0), hr, (0.0, 1.0), hr * 0.9, hr * 0.22, gap=1.12),
        strap=((-hr * 2.0, hr * 2.15), (hr * 2.0, hr * 2.15), hr * 0.3),
    )
    return parts, anchors
