"""Soft 2-D shapes rasterised on a supersampled canvas.

Geometry is described either in *animal units* (the animal's body is about 1 unit long, y points
down) or directly in canvas pixels. A :class:`Canvas` maps animal units to supersampled pixels
with a per-photo :class:`Frame` (scale, mirror, vertical stretch, offset). Every shape returns a
:class:`Patch`: a signed distance field (negative inside, in the units of its space) over the
window of the canvas covered by the shape's bounding box, with part-local coordinates ``t``
(along the shape) and ``s`` (across it), so a small part never costs a full-canvas computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

F32 = np.float32
Point = tuple[float, float]


@dataclass(frozen=True)
class Frame:
    """Animal units -> supersampled pixels: ``px = ox + mirror * sx * x``, ``py = oy + sy * y``."""

    ox: float
    oy: float
    sx: float
    sy: float
    mirror: int = 1

    def to_px(self, x: float, y: float) -> Point:
        return self.ox + self.mirror * self.sx * x, self.oy + self.sy * y

    def to_units(self, px: float, py: float) -> Point:
        return (px - self.ox) / (self.mirror * self.sx), (py - self.oy) / self.sy


@dataclass(frozen=True)
class Window:
    """A rectangle of the canvas with the coordinates of its pixel centres in a shape's space."""

    rows: slice
    cols: slice
    x: np.ndarray  # (1, w)
    y: np.ndarray  # (h, 1)
    ppu: float  # canvas pixels per unit of the space

    @property
    def index(self) -> tuple[slice, slice]:
        return self.rows, self.cols


@dataclass
class Patch:
    """Signed distance ``d`` (h, w) plus local coordinates ``t``/``s`` (broadcast to (h, w))."""

    win: Window
    d: np.ndarray
    t: np.ndarray
    s: np.ndarray


class Canvas:
    """A supersampled pixel grid (``height`` x ``width``) and its frame to animal units."""

    def __init__(self, height: int, width: int, frame: Frame) -> None:
        self.height = height
        self.width = width
        self.frame = frame
        cols = np.arange(width, dtype=np.float64) + 0.5
        rows = np.arange(height, dtype=np.float64) + 0.5
        self._px = cols.astype(F32)
        self._py = rows.astype(F32)
        self._ux = ((cols - frame.ox) / (frame.mirror * frame.sx)).astype(F32)
        self._uy = ((rows - frame.oy) / frame.sy).astype(F32)
        self.ppu = float(min(frame.sx, frame.sy))
        self.fuzz = np.zeros((height, width), F32)  # outline noise in [-1, 1], set by the renderer

    def window(self, box: Sequence[float], space: str = "units") -> Window | None:
        """The window covering ``box`` = (x0, y0, x1, y1) in ``space`` ("units" or "px")."""
        x0, y0, x1, y1 = box
        if space == "units":
            ax, ay = self.frame.to_px(x0, y0)
            bx, by = self.frame.to_px(x1, y1)
            xs, ys, ppu = self._ux, self._uy, self.ppu
        else:
            ax, ay, bx, by = x0, y0, x1, y1
            xs, ys, ppu = self._px, self._py, 1.0
        c0 = max(0, math.floor(min(ax, bx)) - 1)
        c1 = min(self.width, math.ceil(max(ax, bx)) + 2)
        r0 = max(0, math.floor(min(ay, by)) - 1)
        r1 = min(self.height, math.ceil(max(ay, by)) + 2)
        if c0 >= c1 or r0 >= r1:
            return None
        return Window(slice(r0, r1), slice(c0, c1), xs[None, c0:c1], ys[r0:r1, None], ppu)


def _pad(canvas: Canvas, space: str) -> float:
    """Bounding-box margin: a few pixels plus the largest outline perturbation."""
    return (4.0 / canvas.ppu) if space == "units" else 4.0


def ellipse(
    canvas: Canvas,
    centre: Point,
    rx: float,
    ry: float,
    angle: float = 0.0,
    space: str = "units",
    grow: float = 0.0,
) -> Patch | None:
    """Ellipse with radii ``rx``/``ry`` rotated by ``angle`` radians; t = u/rx, s = v/ry."""
    r = max(rx, ry) + grow + _pad(canvas, space)
    cx, cy = centre
    win = canvas.window((cx - r, cy - r, cx + r, cy + r), space)
    if win is None:
        return None
    c, s_ = math.cos(angle), math.sin(angle)
    dx, dy = win.x - cx, win.y - cy
    u = dx * c + dy * s_
    v = -dx * s_ + dy * c
    k = np.sqrt((u / rx) ** 2 + (v / ry) ** 2)
    g = np.sqrt((u / rx**2) ** 2 + (v / ry**2) ** 2)
    d = np.where(g > 1e-6, k * (k - 1.0) / np.maximum(g, 1e-6), -min(rx, ry)).astype(F32)
    return Patch(win, d, (u / rx).astype(F32), (v / ry).astype(F32))


def chain(
    canvas: Canvas,
    points: Sequence[Point],
    radii: Sequence[float],
    space: str = "units",
) -> Patch | None:
    """Union of tapered capsules along a polyline (a leg, a tail, a finger).

    ``t`` runs 0 -> 1 along the whole chain, ``s`` is the signed offset across it divided by the
    local radius (positive on the right of the direction of travel, i.e. below a rightward chain).
    """
    pts = np.asarray(points, dtype=np.float64)
    rad = np.asarray(radii, dtype=np.float64)
    if len(pts) < 2 or len(pts) != len(rad):
        raise ValueError("a chain needs at least two points and one radius per point")
    r = float(rad.max()) + _pad(canvas, space)
    box = (pts[:, 0].min() - r, pts[:, 1].min() - r, pts[:, 0].max() + r, pts[:, 1].max() + r)
    win = canvas.window(box, space)
    if win is None:
        return None
    shape = (win.y.shape[0], win.x.shape[1])
    best = np.full(shape, np.inf, F32)
    t = np.zeros(shape, F32)
    s = np.zeros(shape, F32)
    n = len(pts) - 1
    for i in range(n):
        (ax, ay), (bx, by) = pts[i], pts[i + 1]
        bax, bay = bx - ax, by - ay
        length2 = max(bax * bax + bay * bay, 1e-12)
        pax, pay = win.x - ax, win.y - ay
        h = np.clip((pax * bax + pay * bay) / length2, 0.0, 1.0)
        radius = rad[i] + (rad[i + 1] - rad[i]) * h
        ex, ey = pax - bax * h, pay - bay * h
        d = np.sqrt(ex * ex + ey * ey) - radius
        closer = d < best
        best = np.where(closer, d, best)
        t = np.where(closer, (i + h) / n, t)
        across = (bax * pay - bay * pax) / math.sqrt(length2) / np.maximum(radius, 1e-6)
        s = np.where(closer, across, s)
    return Patch(win, best.astype(F32), t.astype(F32), np.clip(s, -1.5, 1.5).astype(F32))


def polygon(
    canvas: Canvas,
    points: Sequence[Point],
    rounding: float = 0.0,
    space: str = "units",
) -> Patch | None:
    """Convex polygon with corners rounded by ``rounding``.

    ``t`` runs 0 (midpoint of the first edge, the base) -> 1 (the vertex farthest from it);
    ``s`` is the offset across that axis, scaled to about [-1, 1].
    """
    pts = np.asarray(points, dtype=np.float64)
    r = rounding + _pad(canvas, space)
    box = (pts[:, 0].min() - r, pts[:, 1].min() - r, pts[:, 0].max() + r, pts[:, 1].max() + r)
    win = canvas.window(box, space)
    if win is None:
        return None
    centre = pts.mean(axis=0)
    d = None
    for i in range(len(pts)):
        a, b = pts[i], pts[(i + 1) % len(pts)]
        nx, ny = b[1] - a[1], -(b[0] - a[0])
        norm = math.hypot(nx, ny) or 1.0
        nx, ny = nx / norm, ny / norm
        if (centre[0] - a[0]) * nx + (centre[1] - a[1]) * ny > 0:
            nx, ny = -nx, -ny
        de = (win.x - a[0]) * nx + (win.y - a[1]) * ny
        d = de if d is None else np.maximum(d, de)
    base = (pts[0] + pts[1]) / 2.0
    far = pts[np.argmax(np.hypot(*(pts - base).T))]
    axis = far - base
    length = float(np.hypot(*axis)) or 1.0
    ux, uy = axis / length
    half = float(np.hypot(*(pts[1] - pts[0]))) / 2.0 or 1.0
    t = ((win.x - base[0]) * ux + (win.y - base[1]) * uy) / length
    s = (-(win.x - base[0]) * uy + (win.y - base[1]) * ux) / half
    return Patch(win, (d - rounding).astype(F32), t.astype(F32), s.astype(F32))


def local_coords(
    patch: Patch, origin: Point, angle: float, half_len: float, half_wid: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of a patch's pixels in another frame (e.g. the body's, for chest and haunch)."""
    c, s_ = math.cos(angle), math.sin(angle)
    dx, dy = patch.win.x - origin[0], patch.win.y - origin[1]
    t = (dx * c + dy * s_) / half_len
    s = (-dx * s_ + dy * c) / half_wid
    return t.astype(F32), s.astype(F32)


def coverage(patch: Patch, soft: float = 1.0) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] from the distance field; ``soft`` = edge width in pixels."""
    return np.clip(0.5 - patch.d * (patch.win.ppu / soft), 0.0, 1.0).astype(F32)


class Layer:
    """Premultiplied RGBA: ``rgb`` (H, W, 3) premultiplied by ``alpha`` (H, W), both in [0, 1]."""

    def __init__(self, height: int, width: int) -> None:
        self.rgb = np.zeros((height, width, 3), F32)
        self.alpha = np.zeros((height, width), F32)

    def paint(self, win: Window, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Composite ``colour`` ((h, w, 3) or (3,)) with coverage ``alpha`` (h, w) over this."""
        idx = win.index
        a = alpha[..., None]
        self.rgb[idx] = self.rgb[idx] * (1.0 - a) + np.asarray(colour, F32) * a
        self.alpha[idx] = self.alpha[idx] * (1.0 - alpha) + alpha


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``edge0`` to 1 at ``edge1`` (edges may be given in either order)."""
    v = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return (v * v * (3.0 - 2.0 * v)).astype(F32)


def shade(
    colour: np.ndarray,
    patch: Patch,
    s: np.ndarray,
    size: float,
    volume: float = 1.0,
) -> np.ndarray:
    """Give a flat colour (h, w, 3) volume: lit from above (``s`` < 0), darker towards its edge.

    ``size`` is the part's smallest radius in the units of its space; ``volume`` in [0, 1].
    """
    if volume <= 0.0:
        return colour
    edge = np.clip(-patch.d / max(0.35 * size, 1e-6), 0.0, 1.0)
    f = (1.0 - volume * 0.24 * (1.0 - np.sqrt(edge))) * (1.0 - volume * 0.08 * np.clip(s, -1, 1))
    return colour * f[..., None].astype(F32)
