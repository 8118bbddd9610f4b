"""Identity-specific coats: fur colours and markings as functions of part-local coordinates.

A :class:`Coat` is fixed for an identity; :meth:`Coat.colour` turns the local coordinates of a
body part into RGB in [0, 1], so the same markings follow the animal through every pose.
Part kinds and their coordinates:

``body``/``neck``  t: tail (-1) -> head (+1), s: back (-1) -> belly (+1)
``haunch``         body seen at the hip; ``torso_front``: t top (-1) -> bottom (+1), s left -> right
``leg``/``paw``    t: top (0) -> foot (1); ``tail``: t base (0) -> tip (1), s: upper (-1) -> lower
``head_front``     t: left (-1) -> right (+1), s: top (-1) -> chin (+1), in head radii
``head_side``      t: back of the head (-1) -> towards the nose (+1), s as above
``muzzle``, ``ear``, ``ear_inner``: small parts coloured from the coat without markings
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from workbench.synth.shapes import F32, smoothstep

RGB = tuple[float, float, float]

FUR: dict[str, tuple[int, int, int]] = {
    "black": (30, 28, 28),
    "charcoal": (64, 62, 64),
    "chocolate": (78, 50, 34),
    "brown": (120, 78, 46),
    "tan": (178, 126, 76),
    "fawn": (198, 160, 112),
    "golden": (212, 158, 84),
    "ginger": (206, 116, 54),
    "cream": (232, 210, 168),
    "white": (238, 235, 228),
    "grey": (128, 128, 132),
    "blue_grey": (104, 110, 122),
    "silver": (176, 174, 170),
    "brown_tabby": (142, 110, 78),
}
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


def _fur(name: str, rng: np.random.Generator, spread: float = 0.08) -> RGB:
    """A palette colour with an individual shade: brightness and hue jitter, RGB in [0, 1]."""
    base = np.asarray(FUR[name], np.float64) / 255.0
    out = base * rng.uniform(1.0 - spread, 1.0 + spread) + rng.normal(0.0, spread / 3.0, 3)
    return tuple(float(v) for v in np.clip(out, 0.02, 0.97))  # type: ignore[return-value]


def _darker(c: RGB, f: float) -> RGB:
    return tuple(float(v) * f for v in c)  # type: ignore[return-value]


def _blobs(
    rng: np.random.Generator, n: int, t: tuple, s: tuple, r: tuple, colours: list[RGB]
) -> tuple[Blob, ...]:
    out = []
    for i in range(n):
        rt = rng.uniform(*r)
        out.append(
            (
                float(rng.uniform(*t)),
                float(rng.uniform(*s)),
                float(rt),
                float(rt * rng.uniform(1.0, 1.8)),
                float(rng.uniform(0, 6.3)),
                colours[i % len(colours)],
            )
        )
    return tuple(out)


DOG_RECIPES = {
    "solid": 0.28,
    "black_and_tan": 0.14,
    "tricolour": 0.1,
    "patched": 0.15,
    "spotted": 0.06,
    "merle": 0.05,
    "brindle": 0.1,
    "bicolour": 0.12,
}
CAT_RECIPES = {
    "solid": 0.22,
    "tabby": 0.33,
    "tuxedo": 0.14,
    "calico": 0.1,
    "tortie": 0.07,
    "points": 0.06,
    "bicolour": 0.08,
}


def random_coat(rng: np.random.Generator, species: str) -> Coat:
    """A coat drawn from realistic recipes for ``species`` ("dog" or "cat")."""
    recipes = DOG_RECIPES if species == "dog" else CAT_RECIPES
    names = sorted(recipes)
    p = np.array([recipes[n] for n in names])
    recipe = names[rng.choice(len(names), p=p / p.sum())]
    return _build(recipe, species, rng)


def _build(recipe: str, species: str, rng: np.random.Generator) -> Coat:
    pick = lambda options: options[rng.integers(len(options))]  # noqa: E731
    marks: set[str] = set()
    light = _fur(pick(["white", "white", "cream"]), rng, 0.04)
    kw: dict = {}
    if recipe == "solid":
        pool = ["black", "chocolate", "brown", "golden", "cream", "white", "grey", "fawn", "tan"]
        if species == "cat":
            pool = ["black", "black", "blue_grey", "grey", "white", "cream", "ginger"]
        base_name = pick(pool)
        base = _fur(base_name, rng)
        dark = _darker(base, 0.55)
        if base_name not in ("white", "cream") and rng.random() < 0.35:
            marks.add("white_chest")
        if species == "dog" and base_name not in ("white", "cream") and rng.random() < 0.2:
            marks.add("white_socks")
        if species == "dog" and base_name in ("fawn", "golden", "tan") and rng.random() < 0.3:
            marks.add("mask")
            dark = _fur("black", rng)
    elif recipe == "tabby":
        base = _fur(pick(["brown_tabby", "silver", "ginger", "grey", "brown_tabby"]), rng)
        dark = _darker(base, rng.uniform(0.35, 0.5))
        marks.add("stripes")
        if rng.random() < 0.35:
            marks.add("white_chest")
        if rng.random() < 0.25:
            marks.add("white_socks")
    elif recipe in ("black_and_tan", "tricolour"):
        base = _fur(pick(["tan", "fawn", "tan", "golden"]), rng)
        dark = _fur(pick(["black", "black", "chocolate"]), rng)
        marks.add("saddle")
        kw["saddle"] = float(rng.uniform(0.25, 0.75))
        if recipe == "tricolour":
            marks |= {"white_chest", "white_socks", "tail_tip"}
            if rng.random() < 0.6:
                marks.add("blaze")
        elif rng.random() < 0.5:
            marks.add("mask")
    elif recipe in ("patched", "calico", "bicolour") and (species == "cat" or recipe != "bicolour"):
        base = light
        if recipe == "calico":
            colours = [_fur("ginger", rng), _fur("black", rng)]
        elif species == "cat":
            colours = [_fur(pick(["black", "grey", "blue_grey", "brown_tabby"]), rng)]
        else:
            colours = [_fur(pick(["brown", "black", "chocolate", "tan", "ginger"]), rng)]
        dark = _darker(colours[0], 0.8)
        marks.add("patches")
        n = int(rng.integers(2, 5))
        kw["patches"] = _blobs(rng, n, (-0.9, 0.9), (-1.0, 0.2), (0.25, 0.55), colours)
        kw["front_patches"] = _blobs(
            rng, int(rng.integers(0, 3)), (-0.7, 0.7), (-0.6, 0.4), (0.25, 0.45), colours
        )
        kw["head_patches"] = _head_blobs(rng, colours)
        if rng.random() < 0.7:
            kw["ear"] = colours[0]
    elif recipe == "bicolour":  # dog: dark coat, large white bib, socks, often a blaze
        base = _fur(pick(["black", "brown", "chocolate", "grey"]), rng)
        dark = _darker(base, 0.6)
        marks |= {"white_chest", "white_socks"}
        kw["white"] = float(rng.uniform(0.6, 1.0))
        if rng.random() < 0.5:
            marks.add("blaze")
    elif recipe == "tuxedo":
        base = _fur("black", rng)
        dark = base
        marks |= {"white_chest", "white_socks"}
        kw["white"] = float(rng.uniform(0.6, 1.0))
        kw["face_white"] = True
        if rng.random() < 0.3:
            marks.add("blaze")
    elif recipe in ("spotted", "merle"):
        base = _fur("white" if recipe == "spotted" else pick(["silver", "grey"]), rng)
        dark = _fur(pick(["black", "chocolate"] if recipe == "spotted" else ["charcoal"]), rng)
        marks.add("spots")
        n, r = (int(rng.integers(14, 26)), (0.05, 0.1)) if recipe == "spotted" else (6, (0.15, 0.3))
        kw["spots"] = _blobs(rng, n, (-1.0, 1.0), (-1.0, 0.8), r, [dark])
        kw["head_patches"] = _head_blobs(rng, [dark]) if rng.random() < 0.6 else ()
    elif recipe in ("brindle", "tortie"):
        if recipe == "tortie":
            base, dark = _fur("black", rng), _fur("ginger", rng)
        else:
            base = _fur(pick(["fawn", "brown", "tan"]), rng)
            dark = _fur(pick(["black", "chocolate"]), rng)
        marks.add("brindle")
        if rng.random() < 0.4:
            marks.add("white_chest")
    elif recipe == "points":
        base = _fur("cream", rng)
        dark = _fur(pick(["chocolate", "charcoal", "brown"]), rng)
        marks.add("points")
    else:
        raise ValueError(f"unknown coat recipe {recipe!r}")
    coat = Coat(
        name=recipe,
        base=base,
        dark=dark,
        light=light,
        markings=frozenset(marks),
        stripe_freq=float(rng.uniform(4.0, 7.0)),
        phase=float(rng.uniform(0.0, 6.3)),
        white=float(kw.pop("white", rng.uniform(0.2, 0.7))),
        socks=str(pick(["all", "all", "front"])),
        sock_height=float(rng.uniform(0.55, 0.85)),
        fur_contrast=float(rng.uniform(0.06, 0.13)),
        **kw,
    )
    return _finish(coat, species, rng)


def _head_blobs(rng: np.random.Generator, colours: list[RGB]) -> tuple[Blob, ...]:
    spots = [(0.4, -0.1), (-0.4, -0.1), (0.0, -0.65), (0.5, -0.5)]
    n = int(rng.integers(1, 3))
    out = []
    for i in rng.choice(len(spots), n, replace=False):
        t, s = spots[i]
        r = float(rng.uniform(0.3, 0.5))
        out.append((t, s, r, r * 1.2, float(rng.uniform(0, 6.3)), colours[len(out) % len(colours)]))
    return tuple(out)


def _finish(coat: Coat, species: str, rng: np.random.Generator) -> Coat:
    """Eyes, nose and ears consistent with the coat."""
    marks = coat.markings
    ear = coat.ear or coat.base
    if marks & {"points", "saddle", "mask"}:
        ear = coat.dark
    ear = _darker(ear, 0.9)
    lum = float(np.dot(coat.base, (0.3, 0.59, 0.11)))
    if species == "cat":
        eyes = {"green": (0.45, 0.6, 0.25), "yellow": (0.78, 0.66, 0.2), "amber": (0.78, 0.5, 0.16)}
        eye = eyes[sorted(eyes)[rng.integers(3)]]
        if "points" in marks or (lum > 0.85 and rng.random() < 0.4):
            eye = (0.42, 0.58, 0.8)
        nose = (0.8, 0.52, 0.52) if lum > 0.45 or "patches" in marks else (0.22, 0.2, 0.2)
        inner = (0.86, 0.62, 0.6)
    else:
        eye = (0.22, 0.13, 0.07) if rng.random() < 0.85 else (0.5, 0.32, 0.12)
        brownish = coat.base[0] > coat.base[2] * 1.5 and lum < 0.45
        nose = (0.36, 0.22, 0.17) if brownish and rng.random() < 0.6 else (0.1, 0.09, 0.09)
        inner = tuple(0.5 * v + 0.5 * p for v, p in zip(ear, (0.75, 0.5, 0.48), strict=True))
    return replace(coat, ear=ear, eye=eye, nose=nose, ear_inner=inner)  # type: ignore[arg-type]


def similar_coat(coat: Coat, rng: np.random.Generator, species: str) -> Coat:
    """A different animal with similar colouring: same recipe, palette and markings, new layout."""
    other = _build(coat.name, species, rng)

    def near(c: RGB) -> RGB:
        out = np.asarray(c) * rng.uniform(0.95, 1.05) + rng.normal(0.0, 0.012, 3)
        return tuple(float(v) for v in np.clip(out, 0.02, 0.97))  # type: ignore[return-value]

    theirs = list(dict.fromkeys(b[5] for b in coat.patches + coat.spots + coat.head_patches))
    mine = list(dict.fromkeys(b[5] for b in other.patches + other.spots + other.head_patches))
    swap = {c: near(theirs[i % len(theirs)]) for i, c in enumerate(mine)} if theirs else {}

    def recolour(blobs: tuple[Blob, ...]) -> tuple[Blob, ...]:
        return tuple((*b[:5], swap.get(b[5], b[5])) for b in blobs)

    return replace(
        other,
        base=near(coat.base),
        dark=near(coat.dark),
        light=near(coat.light),
        markings=coat.markings,
        face_white=coat.face_white,
        patches=recolour(other.patches),
        front_patches=recolour(other.front_patches),
        head_patches=recolour(other.head_patches),
        spots=recolour(other.spots),
        ear=near(coat.ear or coat.base),
        eye=coat.eye,
        nose=coat.nose,
        ear_inner=coat.ear_inner,
    )
