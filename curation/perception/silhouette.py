"""The animal mask of a photo, and which kind of mask it is.

Four kinds, each named in every result so a score can say what it stood on:

``alpha``       the file's own alpha channel (a cut-out PNG/WebP): opaque pixels are the animal.
                :func:`curation.images.load_rgb` turns transparency black, so
                :func:`read_photo` reads the alpha itself;
``silhouette``  a segmented photo (black background): the connected non-black components,
                small gaps closed, holes filled and specks removed, so dark fur *inside* the
                outline counts as animal (the plain threshold leaves black fur as holes);
``grabcut``     a photo with a background: OpenCV's GrabCut started from a centred rectangle;
``threshold``   the old rule, any channel brighter than 16 (kept to compare against).

:func:`animal_mask` picks ``alpha`` when the file has transparency, else ``silhouette`` when
the photo looks segmented, else ``grabcut``; or takes the kind it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from curation.images import ImageReadError, load_rgb
from curation.perception.base import disk, fill_holes, remove_small

MASK_KINDS = ("silhouette", "alpha", "grabcut", "threshold")
METHODS = ("auto", *MASK_KINDS)
VERSION = "1"

BLACK = 4  # background level of a segmented photo after JPEG (max channel, 0-255)
THRESHOLD = 16  # the old "any channel > 16" rule
MIN_BLACK_SHARE = 0.10  # a segmented photo has at least this share of black pixels ...
MIN_BLACK_BORDER = 0.25  # ... and at least this share of its border black
CLOSE_RADIUS = 0.025  # bay-closing radius, share of the shorter side
GRABCUT_SIDE = 256  # GrabCut runs on a copy whose longer side is at most this (pixels)


@dataclass(frozen=True)
class AnimalMask:
    """``mask``: ``(H, W)`` bool, True on the animal; ``kind``: one of :data:`MASK_KINDS`."""

    mask: np.ndarray
    kind: str
    version: str = VERSION

    @property
    def area(self) -> float:
        """Share of the photo covered by the mask, in [0, 1]."""
        return float(self.mask.mean()) if self.mask.size else 0.0


def read_photo(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """A photo file as ``(rgb, alpha)``: ``(H, W, 3)`` uint8 (transparency black, EXIF
    orientation applied) and the ``(H, W)`` uint8 alpha channel, or None when the file has no
    transparency. Raises :class:`curation.images.ImageReadError` for unreadable files."""
    rgb = np.asarray(load_rgb(path))
    try:
        with Image.open(path) as img:
            has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
                img.mode == "P" and "transparency" in img.info
            )
            if not has_alpha:
                return rgb, None
            img = ImageOps.exif_transpose(img)
            alpha = np.asarray(img.convert("RGBA"))[..., 3].copy()
    except OSError as exc:
        raise ImageReadError(
            f"{path}: unreadable alpha channel ({exc}); re-export the file"
        ) from exc
    return rgb, (alpha if alpha.min() < 255 else None)


def threshold_mask(photo: np.ndarray, threshold: int = THRESHOLD) -> np.ndarray:
    """The old rule: ``(H, W)`` bool, some channel of ``photo`` brighter than ``threshold``."""
    return np.asarray(photo).max(axis=2) > threshold


def is_segmented(photo: np.ndarray, black: int = 8) -> bool:
    """Whether ``photo`` looks segmented: at least 10 % of its pixels and 25 % of its border
    are black (every channel at most ``black``)."""
    dark = np.asarray(photo).max(axis=2) <= black
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    return bool(dark.mean() >= MIN_BLACK_SHARE and border.mean() >= MIN_BLACK_BORDER)


def silhouette(photo: np.ndarray, black: int = BLACK, bright: int = THRESHOLD) -> np.ndarray:
    """The animal of a segmented photo as ``(H, W)`` bool.

    Pixels with some channel above ``bright``, plus the darker pixels above ``black`` that are
    not on the outline's last pixel (JPEG leaves a faint halo around a cut-out; dark fur is
    more than one pixel deep); every hole filled; bays narrower than about 5 % of the photo's
    shorter side closed where they are not pure black; components smaller than 2 % of the
    largest (or than 0.05 % of the photo) removed as specks.
    """
    photo = np.asarray(photo)
    h, w = photo.shape[:2]
    level = photo.max(axis=2)
    dim = cv2.erode((level > black).astype(np.uint8), disk(1), borderType=cv2.BORDER_REPLICATE)
    filled = fill_holes((level > bright) | (dim > 0))
    # dark fur reaching the outline leaves bays open to the outside that filling cannot close:
    # close them, adding only pixels that are not pure black
    radius = max(1, round(CLOSE_RADIUS * min(h, w)))
    pad = radius + 1
    padded = cv2.copyMakeBorder(filled.astype(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disk(radius))[pad:-pad, pad:-pad] > 0
    filled = fill_holes(filled | (closed & (level >= 2)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(filled.astype(np.uint8), connectivity=8)
    if n <= 2:
        return filled
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= max(0.02 * areas.max(), 0.0005 * h * w))
    return np.isin(labels, keep)


def alpha_mask(alpha: np.ndarray, level: int = 128) -> np.ndarray:
    """Opaque pixels of an ``(H, W)`` uint8 alpha channel (alpha ≥ ``level``) as bool."""
    return np.asarray(alpha) >= level


def grabcut(photo: np.ndarray, iterations: int = 4, margin: float = 0.04) -> np.ndarray:
    """The animal of a photo with a background, by GrabCut from the rectangle inset by
    ``margin`` (share of each side); ``(H, W)`` bool at the photo's size.

    Runs on a copy whose longer side is at most 256 pixels; the mask is scaled back.
    """
    photo = np.ascontiguousarray(photo)
    h, w = photo.shape[:2]
    scale = min(1.0, GRABCUT_SIDE / max(h, w))
    small = photo if scale == 1.0 else cv2.resize(photo, (round(w * scale), round(h * scale)),
                                                  interpolation=cv2.INTER_AREA)  # fmt: skip
    sh, sw = small.shape[:2]
    mx, my = max(1, round(margin * sw)), max(1, round(margin * sh))
    if sw - 2 * mx < 2 or sh - 2 * my < 2:
        raise ValueError(f"photo of {w}×{h} pixels is too small for GrabCut; use at least 16×16")
    gc = np.zeros((sh, sw), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    rect = (mx, my, sw - 2 * mx, sh - 2 * my)
    cv2.setRNGSeed(0)
    cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), gc, rect, bgd, fgd, iterations,
                cv2.GC_INIT_WITH_RECT)  # fmt: skip
    fg = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    if scale != 1.0:
        fg = cv2.resize(fg.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    fg = remove_small(fg, max(4, int(0.002 * h * w)))
    return fill_holes(fg)


def animal_mask(
    photo: np.ndarray, alpha: np.ndarray | None = None, *, method: str = "auto"
) -> AnimalMask:
    """The animal mask of ``photo`` (``(H, W, 3)`` uint8) and its kind.

    ``alpha``: the file's ``(H, W)`` alpha channel (from :func:`read_photo`), or None.
    ``method``: ``auto`` (alpha if given, else silhouette for a segmented photo, else grabcut)
    or one kind of :data:`MASK_KINDS` (``alpha`` then needs ``alpha``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown animal-mask method {method!r}; use one of {', '.join(METHODS)}")
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"photo must be (H, W, 3) uint8 RGB, got {photo.shape} {photo.dtype}")
    if alpha is not None and np.shape(alpha) != photo.shape[:2]:
        raise ValueError(f"alpha has shape {np.shape(alpha)}, the photo {photo.shape[:2]}")
    kind = method
    if method == "auto":
        kind = "alpha" if alpha is not None else "silhouette" if is_segmented(photo) else "grabcut"
    if kind == "alpha":
        if alpha is None:
            raise ValueError("method 'alpha' needs the photo's alpha channel; this one has none")
        return AnimalMask(alpha_mask(alpha), "alpha")
    if kind == "silhouette":
        return AnimalMask(silhouette(photo), "silhouette")
    if kind == "grabcut":
        return AnimalMask(grabcut(photo), "grabcut")
    return AnimalMask(threshold_mask(photo), "threshold")
