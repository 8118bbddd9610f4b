"""Heads seen from the front or in profile, as part lists in animal units.

Head geometry is written in head radii around the head centre and turned by the head's tilt;
:func:`head` returns the parts (drawn after the body) and the mouth point where a tongue hangs.
"""

from __future__ import annotations

import math

from workbench.synth.animals import Build, Part
from workbench.synth.coats import RGB, Coat
from workbench.synth.shapes import Point

GLINT: RGB = (0.95, 0.95, 0.93)
PUPIL: RGB = (0.04, 0.035, 0.035)


class _Head:
    """Maps head-local coordinates (head radii, y down) to animal units."""

    def __init__(self, centre: Point, r: float, tilt: float, flip: bool = False) -> None:
        self.cx, self.cy = centre
        self.r = r
        self.tilt = tilt
        self.c, self.s = math.cos(tilt), math.sin(tilt)
        self.flip = -1.0 if flip else 1.0

    def p(self, u: float, v: float) -> Point:
        u *= self.r * self.flip
        v *= self.r
        return self.cx + u * self.c - v * self.s, self.cy + u * self.s + v * self.c

    def frame(self) -> tuple[Point, float, float, float]:
        return (self.cx, self.cy), self.tilt, self.r * self.flip, self.r

    def ellipse(
        self, kind: str, u: float, v: float, ru: float, rv: float, angle: float = 0.0, **kw
    ) -> Part:
        size = min(ru, rv) * self.r
        geom = (self.p(u, v), ru * self.r, rv * self.r, self.tilt + angle * self.flip)
        return Part(kind, "ellipse", geom, size, **kw)

    def chain(self, kind: str, pts: list[Point], radii: list[float], **kw) -> Part:
        geom = ([self.p(u, v) for u, v in pts], [r * self.r for r in radii])
        return Part(kind, "chain", geom, min(radii) * self.r, **kw)

    def polygon(self, kind: str, pts: list[Point], rounding: float = 0.04, **kw) -> Part:
        geom = ([self.p(u, v) for u, v in pts], rounding * self.r)
        return Part(kind, "polygon", geom, 0.25 * self.r, **kw)


def head(
    build: Build, coat: Coat, centre: Point, view: str, tilt: float = 0.0
) -> tuple[list[Part], Point]:
    """Parts of the head and the mouth point; ``view`` "front" or "side" (facing +x)."""
    h = _Head(centre, build.head_r, tilt)
    if view == "front":
        return _front(h, build, coat)
    if view == "side":
        return _side(h, build, coat)
    raise ValueError(f"head view must be 'front' or 'side', not {view!r}")


def _upright_ear(
    h: _Head, b: Build, side: float, front: bool, shade: float = 1.0, du: float = 0.0
) -> list[Part]:
    e = b.ear_size / b.head_r
    if front:
        if b.ear_type == "cat":
            pts = [(0.22, -0.78), (0.92, -0.3), (0.9, -0.75 - e * 1.05)]
        elif b.ear_type == "semi":
            pts = [(0.25, -0.72), (0.9, -0.35), (1.1, -0.7 - e * 0.65)]
        else:
            pts = [(0.2, -0.72), (0.85, -0.38), (0.78, -0.75 - e * 1.25)]
        pts = [(u * side, v) for u, v in pts]
    else:
        tip_v = -0.85 - e * (1.0 if b.ear_type == "cat" else 1.15)
        pts = [(-0.55 + du, -0.55), (0.1 + du, -0.85), (-0.35 + du, tip_v)]
    (au, av), (bu, bv), (cu, cv) = pts
    mu, mv = (au + bu + cu) / 3, (av + bv + cv) / 3
    inner = [(mu + (u - mu) * 0.58, mv + (v - mv) * 0.58 + 0.06) for u, v in pts]
    return [
        h.polygon("ear", pts, 0.06, shade=shade),
        h.polygon("ear_inner", inner, 0.05, shade=shade, volume=0.5, fuzzy=False),
    ]


def _eye(h: _Head, b: Build, coat: Coat, u: float, v: float, scale: float) -> list[Part]:
    kw = {"fuzzy": False, "volume": 0.3}
    if b.species == "cat":
        ru, rv = 0.17 * scale, 0.14 * scale
        return [
            h.ellipse("eye", u, v, ru * 1.12, rv * 1.15, colour=(0.1, 0.09, 0.08), **kw),
            h.ellipse("eye", u, v, ru, rv, colour=coat.eye, **kw),
            h.ellipse("eye", u, v, 0.045 * scale, rv * 0.9, colour=PUPIL, **kw),
            h.ellipse("eye", u + 0.05 * scale, v - 0.05 * scale, 0.03, 0.03, colour=GLINT, **kw),
        ]
    r = 0.12 * scale
    return [
        h.ellipse("eye", u, v, r * 1.2, r * 1.1, colour=(0.08, 0.06, 0.05), **kw),
        h.ellipse("eye", u, v, r, r * 0.92, colour=coat.eye, **kw),
        h.ellipse("eye", u, v, r * 0.55, r * 0.55, colour=PUPIL, **kw),
        h.ellipse("eye", u + 0.35 * r, v - 0.35 * r, 0.03, 0.03, colour=GLINT, **kw),
    ]


def _mouth_colour(coat: Coat) -> RGB:
    return tuple(0.3 * c for c in coat.dark)  # type: ignore[return-value]


def _front(h: _Head, b: Build, coat: Coat) -> tuple[list[Part], Point]:
    parts: list[Part] = []
    cat = b.species == "cat"
    e = b.ear_size / b.head_r
    if b.ear_type != "floppy":
        parts += _upright_ear(h, b, 1.0, True) + _upright_ear(h, b, -1.0, True)
    parts.append(h.ellipse("head_front", 0, 0, 1.05 if cat else 1.0, 0.92, frame=h.frame()))
    if cat:
        for side in (1.0, -1.0):
            parts.append(h.ellipse("head_front", 0.5 * side, 0.35, 0.55, 0.42, frame=h.frame()))
    if b.ear_type == "floppy":
        for side in (1.0, -1.0):
            parts.append(
                h.ellipse("ear", 0.92 * side, 0.05 + e * 0.3, e * 0.36, e * 0.72, -0.28 * side)
            )
    parts += _eye(h, b, coat, 0.4, -0.08, 1.0) + _eye(h, b, coat, -0.4, -0.08, 1.0)
    line = {"colour": _mouth_colour(coat), "volume": 0.0, "fuzzy": False}
    if cat:
        for side in (1.0, -1.0):
            parts.append(h.ellipse("muzzle", 0.15 * side, 0.45, 0.19, 0.15, volume=0.5))
        parts.append(h.ellipse("muzzle", 0, 0.6, 0.14, 0.08, volume=0.5))
        nose = [(-0.1, 0.26), (0.1, 0.26), (0.0, 0.37)]
        parts.append(h.polygon("nose", nose, 0.02, colour=coat.nose, volume=0.3, fuzzy=False))
        parts.append(h.chain("mouth", [(0, 0.37), (0, 0.46)], [0.012, 0.012], **line))
        parts.append(h.chain("mouth", [(-0.13, 0.5), (0, 0.46), (0.13, 0.5)], [0.012] * 3, **line))
        for side in (1.0, -1.0):
            for k in range(3):
                tip = (1.3 * side, 0.28 + 0.13 * k)
                parts.append(
                    h.chain(
                        "whisker",
                        [(0.28 * side, 0.44 + 0.04 * k), tip],
                        [0.007, 0.004],
                        colour=(0.92, 0.91, 0.88),
                        volume=0.0,
                        opacity=0.85,
                        fuzzy=False,
                    )
                )
        return parts, h.p(0.0, 0.5)
    ml, mw = b.muzzle_len / b.head_r, b.muzzle_w / b.head_r
    mv, mrv = 0.42 + 0.1 * ml, 0.26 + 0.1 * ml
    parts.append(h.ellipse("muzzle", 0, mv, mw * 0.62, mrv, volume=0.6))
    nose_v = mv - mrv * 0.4
    nr = max(0.15, mw * 0.3)
    parts.append(
        h.ellipse("nose", 0, nose_v, nr, nr * 0.68, colour=coat.nose, volume=0.5, fuzzy=False)
    )
    parts.append(
        h.ellipse(
            "nose",
            -0.3 * nr,
            nose_v - 0.3 * nr,
            0.04,
            0.025,
            colour=GLINT,
            volume=0.0,
            opacity=0.6,
            fuzzy=False,
        )
    )
    mouth_v = mv + mrv * 0.55
    parts.append(h.chain("mouth", [(0, nose_v + 0.6 * nr), (0, mouth_v)], [0.014, 0.014], **line))
    wing = [(-0.22 * mw / 0.6, mouth_v - 0.05), (0, mouth_v), (0.22 * mw / 0.6, mouth_v - 0.05)]
    parts.append(h.chain("mouth", wing, [0.014] * 3, **line))
    return parts, h.p(0.0, mouth_v)


def _side(h: _Head, b: Build, coat: Coat) -> tuple[list[Part], Point]:
    parts: list[Part] = []
    cat = b.species == "cat"
    e = b.ear_size / b.head_r
    upright = b.ear_type != "floppy"
    if upright:
        parts += _upright_ear(h, b, 1.0, False, shade=0.72, du=0.3)[:1]
    parts.append(h.ellipse("head_side", 0, 0, 0.95 if cat else 1.0, 0.9, frame=h.frame()))
    line = {"colour": _mouth_colour(coat), "volume": 0.0, "fuzzy": False}
    if cat:
        parts.append(h.chain("muzzle", [(0.5, 0.25), (0.85, 0.3)], [0.3, 0.24], volume=0.5))
        parts.append(
            h.ellipse("nose", 1.04, 0.18, 0.08, 0.06, colour=coat.nose, volume=0.3, fuzzy=False)
        )
        parts.append(h.chain("mouth", [(1.0, 0.42), (0.72, 0.5)], [0.012, 0.012], **line))
        mouth = h.p(0.78, 0.5)
        tip = (1.0, 0.3)
    else:
        ml, mw = b.muzzle_len / b.head_r, b.muzzle_w / b.head_r
        tip_u = 0.6 + ml
        parts.append(
            h.chain(
                "muzzle",
                [(0.3, 0.45), (tip_u * 0.85, 0.46)],
                [mw * 0.4, mw * 0.26],
                volume=0.6,
                shade=0.9,
            )
        )
        parts.append(
            h.chain("muzzle", [(0.35, 0.2), (tip_u, 0.3)], [mw * 0.55, mw * 0.42], volume=0.6)
        )
        nu, nv = tip_u + mw * 0.34, 0.3 - mw * 0.2
        parts.append(
            h.ellipse(
                "nose", nu, nv, mw * 0.22, mw * 0.17, colour=coat.nose, volume=0.5, fuzzy=False
            )
        )
        parts.append(
            h.chain("mouth", [(tip_u + 0.05, 0.3 + mw * 0.33), (0.4, 0.5)], [0.014, 0.014], **line)
        )
        mouth = h.p(0.45 + ml * 0.6, 0.45 + mw * 0.25)
        tip = (tip_u, 0.4)
    parts += _eye(h, b, coat, 0.45, -0.15, 0.75)
    if upright:
        parts += _upright_ear(h, b, -1.0, False)
    else:
        parts.append(h.ellipse("ear", -0.25, 0.12 + e * 0.28, e * 0.33, e * 0.7, 0.35))
    if cat:
        for k in range(3):
            parts.append(
                h.chain(
                    "whisker",
                    [(tip[0] - 0.15, tip[1] + 0.04 * k), (tip[0] + 0.7, tip[1] - 0.1 + 0.14 * k)],
                    [0.007, 0.004],
                    colour=(0.92, 0.91, 0.88),
                    volume=0.0,
                    opacity=0.85,
                    fuzzy=False,
                )
            )
    return parts, mouth
