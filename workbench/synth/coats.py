"""Identity-specific coats: fur colours and markings as functions of part-local coordinates.

A :class:`Coat` is fixed for an identity (drawn by :mod:`workbench.synth.palettes`);
:meth:`Coat.colour` turns the local coordinates of a body part into RGB in [0, 1], so the same
markings follow the animal through every pose.
Part kinds and their coordinates:

``body``/``neck``  t: tail (-1) -> head (+1), s: back (-1) -> belly (+1)
``haunch``         body seen at the hip; ``torso_front``: t top (-1) -> bottom (+1), s left -> right
``leg``/``paw``    t: top (0) -> foot (1); ``tail``: t base (0) -> tip (1), s: upper (-1) -> lower
``head_front``     t: left (-1) -> right (+1), s: top (-1) -> chin (+1), in head radii
``head_side``      t: back of the head (-1) -> towards the nose (+1), s as above
``muzzle``, ``ear``, ``ear_inner``: small parts coloured from the coat without markings
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.synth.shapes import F32, smoothstep

RGB = tuple[float, float, float]

MARKINGS = (
    "patches",
    "stripes",
    "spots",
    "saddle",
    "white_chest",
    "white_socks",
    "brindle",
    "points",
    "mask",
    "blaze",
    "tail_tip",
)
Blob = tuple[float, float, float, float, float, RGB]  # t, s, rt, rs, wobble phase, colour


@dataclass(frozen=True)
class Coat:
    """Colours (RGB in [0, 1]) and markings of one animal."""

    name: str
    base: RGB
    dark: RGB
    light: RGB
    markings: frozenset[str]
    patches: tuple[Blob, ...] = ()
    front_patches: tuple[Blob, ...] = ()
    head_patches: tuple[Blob, ...] = ()
    spots: tuple[Blob, ...] = ()
    stripe_freq: float = 5.0
    phase: float = 0.0
    saddle: float = 0.4
    white: float = 0.5
    socks: str = "all"
    sock_height: float = 0.7
    face_white: bool = False
    ear: RGB | None = None  # None: the base colour
    ear_inner: RGB = (0.8, 0.6, 0.6)
    eye: RGB = (0.2, 0.13, 0.08)
    nose: RGB = (0.12, 0.1, 0.1)
    fur_contrast: float = 0.08

    def colour(self, kind: str, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """RGB (h, w, 3) in [0, 1] of a part of ``kind`` at local coordinates ``t``, ``s``."""
        t, s = np.broadcast_arrays(np.asarray(t, F32), np.asarray(s, F32))
        col = np.empty((*t.shape, 3), F32)
        col[...] = self.base
        painter = _PAINTERS.get(kind.split("_")[0] if kind.startswith("leg") else kind)
        if painter is None:
            raise ValueError(f"unknown part kind {kind!r}")
        painter(self, col, t, s, kind)
        return col


def _mix(col: np.ndarray, target: RGB, m: np.ndarray | float) -> None:
    m = np.asarray(m, F32)
    if m.ndim:
        m = m[..., None]
    col += (np.asarray(target, F32) - col) * m


def _blob(t: np.ndarray, s: np.ndarray, b: Blob) -> np.ndarray:
    bt, bs, rt, rs, ph, _ = b
    dt, ds = (t - bt) / rt, (s - bs) / rs
    r = np.sqrt(dt * dt + ds * ds)
    if rt > 0.15:  # large markings have ragged edges, small dots (brows, spots) stay round
        r = r * (1.0 + 0.16 * np.sin(5.0 * np.arctan2(ds, dt) + ph))
    return smoothstep(1.05, 0.85, r)


def _streaks(u: np.ndarray, v: np.ndarray, phase: float) -> np.ndarray:
    """Thin, irregular dark streaks across ``u`` (brindle, tortoiseshell), in [0, 0.6]."""
    w = np.sin(u * 31.0 + 2.5 * np.sin(v * 4.0 + phase) + 1.5 * np.sin(u * 7.3 + 2.0 * phase))
    return 0.6 * smoothstep(0.55, 0.95, w)


def _body(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    if kind == "haunch":
        t = np.full_like(t, -0.6)
    elif kind == "neck":
        t = np.full_like(t, 1.0)
    _mix(col, c.light, 0.18 * smoothstep(0.5, 1.0, s))
    if "brindle" in c.markings:
        _mix(col, c.dark, _streaks(t, s, c.phase))
    if "stripes" in c.markings:
        v = np.sin(np.pi * c.stripe_freq * t + 1.6 * np.sin(2.3 * s + c.phase) + c.phase)
        _mix(col, c.dark, smoothstep(0.2, 0.75, v) * smoothstep(0.85, 0.3, s))
        _mix(col, c.dark, 0.8 * smoothstep(-0.6, -0.9, s))
    for b in c.spots:
        _mix(col, b[5], _blob(t, s, b))
    for b in c.patches:
        _mix(col, b[5], _blob(t, s, b))
    if "saddle" in c.markings:
        m = smoothstep(-0.05 + c.saddle, -0.35 + c.saddle, s)
        _mix(col, c.dark, m * smoothstep(-1.1, -0.75, t) * smoothstep(1.05, 0.65, t))
    if "white_chest" in c.markings:
        w = c.white
        m = smoothstep(0.65 - 0.6 * w, 0.85 - 0.6 * w, s) * smoothstep(0.45 - w, 0.75 - w, t)
        _mix(col, c.light, m)


def _torso_front(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    a = np.abs(s)
    if "brindle" in c.markings:
        _mix(col, c.dark, _streaks(s, t, c.phase))
    if "stripes" in c.markings:
        v = np.sin(np.pi * c.stripe_freq * 0.8 * t + 2.0 * a * a + np.sin(5.0 * s + c.phase))
        _mix(col, c.dark, 0.8 * smoothstep(0.35, 0.85, v) * smoothstep(0.1, 0.55, a))
    for b in c.spots[::2]:
        _mix(col, b[5], _blob(s, t, b))
    for b in c.front_patches:
        _mix(col, b[5], _blob(s, t, b))
    if "saddle" in c.markings:
        _mix(col, c.dark, smoothstep(0.85 - 0.4 * c.saddle, 1.0 - 0.3 * c.saddle, a))
    if "white_chest" in c.markings:
        half = (0.15 + 0.45 * c.white) * (1.15 - 0.15 * (t + 1.0))  # a bib, wider at the top
        _mix(col, c.light, smoothstep(half + 0.08, half - 0.05, a) * smoothstep(-0.95, -0.6, t))


def _leg(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    col *= 0.96
    if "brindle" in c.markings:
        v = np.sin(t * 9.0 + 2.0 * s + c.phase)
        _mix(col, c.dark, 0.6 * smoothstep(0.4, 0.9, v))
    if "stripes" in c.markings:
        v = np.sin(np.pi * c.stripe_freq * 1.3 * t + c.phase)
        _mix(col, c.dark, 0.85 * smoothstep(0.3, 0.8, v) * smoothstep(0.95, 0.75, t))
    if "points" in c.markings:
        _mix(col, c.dark, smoothstep(0.05, 0.45, t))
    front = kind.endswith("front")
    if "white_socks" in c.markings and (c.socks == "all" or (c.socks == "front") == front):
        _mix(col, c.light, smoothstep(c.sock_height, c.sock_height + 0.12, t))


def _paw(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    _leg(c, col, np.ones_like(t), s, "leg_" + kind.split("_")[-1])


def _tail(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    if "brindle" in c.markings:
        _mix(col, c.dark, 0.6 * smoothstep(0.4, 0.9, np.sin(t * 17.0 + c.phase)))
    if "stripes" in c.markings:
        _mix(col, c.dark, smoothstep(0.2, 0.7, np.sin(np.pi * c.stripe_freq * 1.6 * t)))
        _mix(col, c.dark, smoothstep(0.82, 0.9, t))
    if "points" in c.markings:
        _mix(col, c.dark, smoothstep(0.0, 0.3, t))
    if "saddle" in c.markings:
        _mix(col, c.dark, 0.9 * smoothstep(0.5, -0.3, s) * smoothstep(0.9, 0.6, t))
    for b in c.patches[:1]:
        if b[0] < -0.5:  # a patch over the rump reaches the tail
            _mix(col, b[5], smoothstep(0.7, 0.5, t))
    if "tail_tip" in c.markings:
        _mix(col, c.light, smoothstep(0.72, 0.82, t))


def _head_front(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    a = np.abs(t)
    if "brindle" in c.markings:
        _mix(col, c.dark, 0.6 * _streaks(t, s, c.phase))
    if "stripes" in c.markings:
        fore = smoothstep(0.2, 0.7, np.sin(t * 10.5 + 1.57)) * smoothstep(-0.15, -0.55, s)
        _mix(col, c.dark, fore * smoothstep(0.6, 0.35, a))
        cheek = smoothstep(0.3, 0.75, np.sin(s * 9.0 + 1.0)) * smoothstep(0.5, 0.8, a)
        _mix(col, c.dark, cheek * smoothstep(-0.25, 0.0, s) * smoothstep(0.6, 0.4, s))
    for b in c.head_patches:
        _mix(col, b[5], _blob(t, s, b))
    if "saddle" in c.markings:
        cap = smoothstep(-0.05, -0.35, s)
        brow = np.maximum(
            _blob(t, s, (0.38, -0.32, 0.12, 0.1, 0.0, c.base)),
            _blob(t, s, (-0.38, -0.32, 0.12, 0.1, 0.0, c.base)),
        )
        _mix(col, c.dark, cap * (1.0 - brow))
    if "points" in c.markings:
        _mix(col, c.dark, _blob(t, s, (0.0, 0.3, 0.68, 0.8, 0.0, c.dark)))
    if "mask" in c.markings:
        _mix(col, c.dark, _blob(t, s, (0.0, 0.45, 0.48, 0.48, 0.0, c.dark)))
    if "blaze" in c.markings:
        m = smoothstep(0.16, 0.08, a - 0.3 * np.maximum(s, 0.0)) * smoothstep(-0.95, -0.6, s)
        _mix(col, c.light, m)
    if c.face_white:
        _mix(col, c.light, smoothstep(-0.05, 0.12, s - 0.12 - 0.9 * a))


def _head_side(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    if "brindle" in c.markings:
        _mix(col, c.dark, 0.6 * _streaks(t, s, c.phase))
    if "stripes" in c.markings:
        fore = smoothstep(0.2, 0.7, np.sin(t * 9.0 + c.phase)) * smoothstep(-0.1, -0.5, s)
        _mix(col, c.dark, fore * smoothstep(0.5, 0.2, t))
        cheek = smoothstep(0.3, 0.75, np.sin(s * 9.0 + 1.0)) * smoothstep(0.4, -0.1, t)
        _mix(col, c.dark, cheek * smoothstep(-0.1, 0.1, s) * smoothstep(0.5, 0.3, s))
    for b in c.head_patches:
        _mix(col, b[5], _blob(np.abs(t), s, (abs(b[0]), *b[1:])))
    if "saddle" in c.markings:
        _mix(col, c.dark, smoothstep(-0.1, -0.4, s) * smoothstep(0.5, 0.15, t))
    if "points" in c.markings or "mask" in c.markings:
        _mix(col, c.dark, smoothstep(0.0, 0.5, t))
    if "blaze" in c.markings:
        _mix(col, c.light, smoothstep(-0.25, -0.5, s) * smoothstep(0.35, 0.6, t))
    if c.face_white:
        _mix(col, c.light, smoothstep(0.15, 0.35, s) * smoothstep(-0.1, 0.2, t))


def _muzzle(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    _mix(col, c.light, 0.2)
    if "points" in c.markings or "mask" in c.markings:
        _mix(col, c.dark, 0.9)
    elif "saddle" in c.markings:
        col[...] = c.base
    if "blaze" in c.markings or c.face_white:
        _mix(col, c.light, 0.9)
    for b in c.head_patches:
        if b[1] > 0.2:  # a patch over the lower face covers the muzzle too
            _mix(col, b[5], 0.9)


def _ear(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    col[...] = c.ear or c.base


def _ear_inner(c: Coat, col: np.ndarray, t: np.ndarray, s: np.ndarray, kind: str) -> None:
    col[...] = c.ear_inner
    _mix(col, c.ear or c.base, smoothstep(0.6, 1.0, t))


_PAINTERS = {
    "body": _body,
    "neck": _body,
    "haunch": _body,
    "torso_front": _torso_front,
    "leg": _leg,
    "paw_front": _paw,
    "paw_rear": _paw,
    "tail": _tail,
    "head_front": _head_front,
    "head_side": _head_side,
    "muzzle": _muzzle,
    "ear": _ear,
    "ear_inner": _ear_inner,
}
