"""Pictures of heatmaps: overlays, epoch differences, match frames and region outlines.

Everything returns ``(H, W, 3)`` uint8 RGB arrays that Pillow, Streamlit or a PNG writer take as
they are. Overlays blend an OpenCV colormap of the map with the photo, like pytorch-grad-cam's
``show_cam_on_image`` but without its rescaling by the brightest pixel (which lightens the
photo whenever the overlay is not saturated), so opacity 0 shows the photo as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageOps

COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
}
MATCH_COLOURS = {True: (46, 160, 67), False: (215, 58, 73), None: (140, 140, 140)}
REGION_COLOURS: dict[str, tuple[int, int, int]] = {
    "animal": (255, 255, 255),
    "tongue": (255, 105, 180),
    "hands": (255, 200, 120),
    "grass": (60, 220, 60),
    "glare": (120, 200, 255),
}


def as_rgb(image: Image.Image | np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a Pillow image or an array (grey arrays are repeated)."""
    arr = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def _fit(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    if a.shape == shape:
        return a
    return cv2.resize(a, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def overlay(
    image: Image.Image | np.ndarray,
    heat: np.ndarray,
    *,
    opacity: float = 0.5,
    colormap: str = "jet",
) -> np.ndarray:
    """The heatmap (``(h, w)`` in [0, 1], resized bilinearly to the image) over the image.

    ``opacity`` in [0, 1]: 0 shows only the photo, 1 only the colour-mapped heatmap.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must lie in [0, 1], got {opacity}")
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose from {', '.join(COLORMAPS)}")
    rgb = as_rgb(image)
    mask = np.clip(_fit(heat, rgb.shape[:2]), 0.0, 1.0)
    colour = cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * mask), COLORMAPS[colormap]),
                          cv2.COLOR_BGR2RGB)  # fmt: skip
    return cv2.addWeighted(colour, opacity, rgb, 1.0 - opacity, 0.0)


def difference(diff: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A signed map (``(h, w)``, e.g. later epoch minus earlier, in [-1, 1]) as a diverging
    picture: blue where attribution fell, red where it rose, white where nothing changed."""
    d = np.clip(np.asarray(diff, dtype=np.float32), -1.0, 1.0)
    if shape is not None:
        d = _fit(d, shape)
    pos, neg = np.clip(d, 0, 1)[..., None], np.clip(-d, 0, 1)[..., None]
    white = np.ones((*d.shape, 3), np.float32)
    red, blue = np.array([0.84, 0.15, 0.16], np.float32), np.array([0.13, 0.40, 0.67], np.float32)
    out = white * (1 - pos - neg) + red * pos + blue * neg
    return (out * 255).round().astype(np.uint8)


def framed(image: np.ndarray | Image.Image, correct: bool | None, width: int = 4) -> np.ndarray:
    """The image inside a border: green for a true match, red for a wrong one, grey unknown."""
    img = Image.fromarray(as_rgb(image))
    return np.asarray(ImageOps.expand(img, border=width, fill=MATCH_COLOURS[correct]))


def outlined(
    image: np.ndarray | Image.Image,
    masks: Mapping[str, np.ndarray],
    *,
    thickness: int = 1,
) -> np.ndarray:
    """Contours of each mask (bool ``(h, w)``, resized to the image) drawn over the image, in
    the region's colour (artifacts in :data:`REGION_COLOURS`, others yellow)."""
    out = as_rgb(image).copy()
    for name, mask in masks.items():
        m = _fit(np.asarray(mask, dtype=np.float32), out.shape[:2]) >= 0.5
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, REGION_COLOURS.get(name, (255, 220, 0)), thickness)
    return out


def boxes(
    image: np.ndarray | Image.Image,
    regions: Sequence[Mapping],
    image_size: tuple[int, int],
) -> np.ndarray:
    """Annotator regions (box/polygon dicts in the original ``(width, height)`` pixel
    coordinates, see :mod:`curation.regions`) drawn over a possibly resized image."""
    img = Image.fromarray(as_rgb(image))
    sx, sy = img.width / image_size[0], img.height / image_size[1]
    draw = ImageDraw.Draw(img)
    for r in regions:
        pts = [(float(x) * sx, float(y) * sy) for x, y in r["points"]]
        colour = REGION_COLOURS.get(r["artifact"], (255, 220, 0))
        if r["kind"] == "box":
            (x0, y0), (x1, y1) = pts
            draw.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=colour)
        else:
            draw.polygon(pts, outline=colour)
        draw.text((pts[0][0] + 2, pts[0][1] + 1), r["artifact"], fill=colour)
    return np.asarray(img)


def strip(tiles: Sequence[np.ndarray], labels: Sequence[str], pad: int = 2) -> np.ndarray:
    """Tiles of equal height side by side with a label above each (white background)."""
    if not tiles:
        raise ValueError("no tiles to lay out")
    if len(labels) != len(tiles):
        raise ValueError(f"{len(labels)} labels for {len(tiles)} tiles")
    h = max(t.shape[0] for t in tiles)
    w = sum(t.shape[1] for t in tiles) + pad * (len(tiles) - 1)
    canvas = Image.new("RGB", (w, h + 14), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in zip(tiles, labels, strict=True):
        canvas.paste(Image.fromarray(as_rgb(tile)), (x, 14))
        draw.text((x + 2, 1), label, fill=(0, 0, 0))
        x += tile.shape[1] + pad
    return np.asarray(canvas)


def colour_bar(height: int, colormap: str = "jet", width: int = 10) -> np.ndarray:
    """A vertical ``(height, width, 3)`` uint8 bar of ``colormap``: 1 at the top, 0 at the
    bottom (the values a heatmap's overlay colours stand for)."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose from {', '.join(COLORMAPS)}")
    if height < 2 or width < 1:
        raise ValueError(f"a colour bar needs height >= 2 and width >= 1, got {height}×{width}")
    ramp = np.linspace(255, 0, height).astype(np.uint8)[:, None]
    bgr = cv2.applyColorMap(np.repeat(ramp, width, axis=1), COLORMAPS[colormap])
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def with_colour_bar(
    picture: np.ndarray, colormap: str = "jet", *, top: int = 14, caption: str = "attribution"
) -> np.ndarray:
    """``picture`` (e.g. a :func:`strip` of overlays; its first ``top`` rows are the labels)
    with a colour bar on the right, marked 1 (high) and 0, and ``caption`` under it."""
    pic = as_rgb(picture)
    h = pic.shape[0] - top
    bar = colour_bar(max(h, 2), colormap)
    canvas = Image.new("RGB", (pic.shape[1] + 44, pic.shape[0] + 12), (255, 255, 255))
    canvas.paste(Image.fromarray(pic), (0, 0))
    canvas.paste(Image.fromarray(bar), (pic.shape[1] + 4, top))
    draw = ImageDraw.Draw(canvas)
    x = pic.shape[1] + 16
    draw.text((x, top), "1", fill=(0, 0, 0))
    draw.text((x, top + h - 10), "0", fill=(0, 0, 0))
    draw.text((2, pic.shape[0] + 1), caption, fill=(0, 0, 0))
    return np.asarray(canvas)
