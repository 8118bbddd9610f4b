"""Reposts made from real photos: what a photo becomes when an ad is shared again.

A repost of a lost-pet ad is rarely the same file: the photo is cropped (to the animal, to a
square), re-encoded at another JPEG quality, made smaller, given a line of text ("LOST near the
park") or a sticker, its colours shifted by a filter, or segmented again with a slightly
different mask. :func:`repost` applies one named transform; :data:`TRANSFORMS` lists them, and
:func:`build_reposts` writes a benchmark dataset from a folder of photos (each photo and its
reposts; ``benchmarks/bench_reposts.py`` measures the duplicate finder on it).

Every transform is deterministic given ``seed``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

TRANSFORMS = (
    "jpeg30",  # re-encoded at JPEG quality 30
    "jpeg60",
    "half",  # resized to half the size, JPEG 75
    "crop80",  # a random crop keeping 80 % of each side
    "crop65",
    "text",  # a line of text across the top or bottom
    "sticker",  # a coloured disc (emoji/sticker) on the photo
    "colour",  # brightness, saturation and hue shifted a little
    "resegment",  # the animal's outline eroded or grown by a few pixels
    "combo",  # crop80 + half + colour + jpeg60
)
WORDS = ("LOST", "FOUND", "near the park", "call 555-0142", "please share", "reward")


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _crop(img: Image.Image, keep: float, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    cw, ch = max(8, round(w * keep)), max(8, round(h * keep))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return img.crop((x, y, x + cw, y + ch))


def _text(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    words = " ".join(rng.choice(WORDS, size=2, replace=False))
    size = max(8, img.size[0] // 10)
    y = 4 if rng.random() < 0.5 else img.size[1] - size - 6
    draw.text((4, y), words, fill=(255, 255, 255), stroke_width=1, stroke_fill=(0, 0, 0),
              font_size=size)  # fmt: skip
    return out


def _sticker(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = img.copy()
    draw = ImageDraw.Draw(out)
    w, h = img.size
    r = max(4, int(w * rng.uniform(0.08, 0.14)))
    cx, cy = int(rng.integers(r, w - r)), int(rng.integers(r, h - r))
    colour = tuple(int(c) for c in rng.integers(80, 256, size=3))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=(0, 0, 0), width=2)
    return out


def _colour(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    out = ImageEnhance.Brightness(img).enhance(rng.uniform(0.85, 1.15))
    out = ImageEnhance.Color(out).enhance(rng.uniform(0.75, 1.25))
    hsv = np.asarray(out.convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-8, 9))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def _resegment(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    arr = np.asarray(img)
    mask = Image.fromarray(((arr.max(axis=2) > 24) * 255).astype(np.uint8))
    size = int(rng.choice([3, 5, 7]))
    grown = rng.random() < 0.5
    mask = mask.filter(ImageFilter.MaxFilter(size) if grown else ImageFilter.MinFilter(size))
    keep = np.asarray(mask) > 0
    out = arr.copy()
    out[~keep] = 0
    if grown:  # the grown rim shows a little background (dark grey), as a new mask would
        rim = keep & (arr.max(axis=2) <= 24)
        out[rim] = rng.integers(30, 70)
    return Image.fromarray(out)


def repost(img: Image.Image, transform: str, seed: int = 0) -> Image.Image:
    """``img`` (RGB) after one of :data:`TRANSFORMS`; a new image, ``img`` is not changed."""
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown repost transform {transform!r}; use one of {TRANSFORMS}")
    rng = np.random.default_rng(seed)
    img = img.convert("RGB")
    w, h = img.size
    if transform == "jpeg30":
        return _jpeg(img, 30)
    if transform == "jpeg60":
        return _jpeg(img, 60)
    if transform == "half":
        return _jpeg(img.resize((max(8, w // 2), max(8, h // 2)), Image.LANCZOS), 75)
    if transform in ("crop80", "crop65"):
        return _jpeg(_crop(img, 0.8 if transform == "crop80" else 0.65, rng), 85)
    if transform == "text":
        return _jpeg(_text(img, rng), 85)
    if transform == "sticker":
        return _jpeg(_sticker(img, rng), 85)
    if transform == "colour":
        return _jpeg(_colour(img, rng), 85)
    if transform == "resegment":
        return _jpeg(_resegment(img, rng), 85)
    out = _crop(img, 0.8, rng)
    out = out.resize((max(8, out.size[0] // 2), max(8, out.size[1] // 2)), Image.LANCZOS)
    return _jpeg(_colour(out, rng), 60)


def build_reposts(
    photos: Sequence[tuple[str, str, Path]],
    out: Path,
    *,
    transforms: Sequence[str] = TRANSFORMS,
    seed: int = 0,
) -> pd.DataFrame:
    """Write every photo and its reposts under ``out`` and return the manifest.

    ``photos``: ``(post_id, stem, path)`` of the source photos. Written: ``out/source/STEM.jpg``
    (the photo, re-saved at JPEG 95) and ``out/repost/STEM__TRANSFORM.jpg``, and
    ``out/manifest.csv`` — one row per file, every row in the gallery split, ``post_id`` the
    source's, ``photo`` numbered per post, ``source`` (the source photo's stem) and
    ``transform`` (``original`` for the source). Loadable with
    :func:`curation.dataset.load_dataset`.
    """
    bad = sorted(set(transforms) - set(TRANSFORMS))
    if bad:
        raise ValueError(f"unknown repost transform(s) {bad}; use {TRANSFORMS}")
    (out / "source").mkdir(parents=True, exist_ok=True)
    (out / "repost").mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    counter: dict[str, int] = {}
    for n, (post, stem, path) in enumerate(photos):
        img = Image.open(path).convert("RGB")
        items = [("original", img)] + [
            (t, repost(img, t, seed=seed * 100_003 + n * 101 + k)) for k, t in enumerate(transforms)
        ]
        for transform, pic in items:
            rel = (
                f"source/{stem}.jpg"
                if transform == "original"
                else f"repost/{stem}__{transform}.jpg"
            )
            pic.save(out / rel, quality=95)
            counter[post] = counter.get(post, 0) + 1
            rows.append(
                {"image": rel, "post_id": post, "photo": counter[post], "split": "gallery",
                 "camid": counter[post], "source": stem, "transform": transform}
            )  # fmt: skip
    table = pd.DataFrame(rows)
    table.to_csv(out / "manifest.csv", index=False)
    return table
