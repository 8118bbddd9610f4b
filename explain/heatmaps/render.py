"""Pictures of heatmaps: overlays and their colour bar, epoch differences, match frames and
region outlines -- the one renderer the app, the command line's PNGs and the comparison report use,
so one map looks the same everywhere.

Everything returns ``(H, W, 3)`` uint8 RGB arrays that Pillow, Streamlit or a PNG writer take as
they are. Overlays blend a named OpenCV colormap of the map with the photo, like
pytorch-grad-cam's ``show_cam_on_image`` but without its rescaling by the brightest pixel (which
lightens the photo whenever the overlay is not saturated), so opacity 0 shows the photo as it is.
:func:`colour_bar` draws the colormap from 0 to 1 (a map's values are in [0, 1]) to go with them.
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
DEFAULT_COLORMAP = "jet"
DEFAULT_OPACITY = 0.5
LABEL_HEIGHT = 14  # pixels of a text line above a tile or below a colour bar
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


def coloured(values: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """``(h, w)`` values in [0, 1] (clipped) as ``(h, w, 3)`` uint8 RGB in ``colormap``."""
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colormap {colormap!r}; choose from {', '.join(COLORMAPS)}")
    v = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)
    return cv2.cvtColor(cv2.applyColorMap(np.uint8(255 * v), COLORMAPS[colormap]),
                        cv2.COLOR_BGR2RGB)  # fmt: skip


def overlay(
    image: Image.Image | np.ndarray,
    heat: np.ndarray,
    *,
    opacity: float = DEFAULT_OPACITY,
    colormap: str = DEFAULT_COLORMAP,
) -> np.ndarray:
    """The heatmap (``(h, w)`` in [0, 1], resized bilinearly to the image) over the image.

    ``opacity`` in [0, 1]: 0 shows only the photo, 1 only the colour-mapped heatmap.
    """
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must lie in [0, 1], got {opacity}")
    rgb = as_rgb(image)
    colour = coloured(_fit(heat, rgb.shape[:2]), colormap)
    return cv2.addWeighted(colour, opacity, rgb, 1.0 - opacity, 0.0)


def colour_bar(
    width: int,
    colormap: str = DEFAULT_COLORMAP,
    *,
    height: int = 10,
    labels: tuple[str, str] = ("0", "1"),
    title: str = "attribution",
) -> np.ndarray:
    """The colormap from 0 (left) to 1 (right), ``width`` x ``height`` pixels, with the two end
    ``labels`` and ``title`` (when it fits) in a text line below it, on white:
    ``(height + LABEL_HEIGHT, width, 3)`` uint8."""
    if width < 2 or height < 1:
        raise ValueError(f"a colour bar needs width >= 2 and height >= 1, not {width}x{height}")
    bar = coloured(np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1)), colormap)
    canvas = Image.new("RGB", (width, height + LABEL_HEIGHT), (255, 255, 255))
    canvas.paste(Image.fromarray(bar), (0, 0))
    draw = ImageDraw.Draw(canvas)
    lo, hi = labels
    draw.text((1, height + 1), lo, fill=(0, 0, 0))
    right = width - 1 - int(draw.textlength(hi))
    draw.text((right, height + 1), hi, fill=(0, 0, 0))
    span = int(draw.textlength(title))
    if title and span + 2 * 8 + draw.textlength(lo) + draw.textlength(hi) < width:
        draw.text(((width - span) // 2, height + 1), title, fill=(0, 0, 0))
    return np.asarray(canvas)


def with_colour_bar(
    picture: np.ndarray, colormap: str = DEFAULT_COLORMAP, *, caption: str = "attribution"
) -> np.ndarray:
    """``picture`` ``(H, W, 3)`` with :func:`colour_bar` of its width below it (``caption`` its
    title)."""
    pic = as_rgb(picture)
    return np.concatenate([pic, colour_bar(pic.shape[1], colormap, title=caption)], axis=0)


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
    canvas = Image.new("RGB", (w, h + LABEL_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    x = 0
    for tile, label in zip(tiles, labels, strict=True):
        canvas.paste(Image.fromarray(as_rgb(tile)), (x, LABEL_HEIGHT))
        draw.text((x + 2, 1), label, fill=(0, 0, 0))
        x += tile.shape[1] + pad
    return np.asarray(canvas)
