"""Realistic coats: fur palettes and recipes (tabby, tuxedo, black and tan, merle...).

:func:`random_coat` draws a new coat for a species; :func:`similar_coat` draws a different
animal with similar colouring, used to build decoys.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workbench.synth.coats import RGB, Blob, Coat

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
