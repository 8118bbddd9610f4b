"""Contact sheets: many photos (or masks) tiled into one image, e.g. for a home page."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

ImageLike = str | Path | Image.Image | np.ndarray


def _as_image(item: ImageLike) -> Image.Image:
    if isinstance(item, Image.Image):
        img = item
    elif isinstance(item, np.ndarray):
        arr = item
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        if arr.dtype != np.uint8:
            raise ValueError(f"arrays must be uint8 or bool, not {arr.dtype}; scale to 0-255 first")
        img = Image.fromarray(arr)
    else:
        with Image.open(item) as opened:
            img = opened.copy()
    return img.convert("RGB")


def contact_sheet(
    images: Sequence[ImageLike],
    cols: int = 8,
    thumb: tuple[int, int] = (128, 256),
    gap: int = 2,
    background: tuple[int, int, int] = (40, 40, 40),
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Tile ``images`` (paths, PIL images, or uint8/bool arrays) ``cols`` per row.

    Each tile is ``thumb`` = (width, height) pixels; an image is scaled to fit it, keeping its
    aspect ratio, and centred. ``labels`` (one per image) are written in each tile's corner.
    """
    if cols < 1:
        raise ValueError(f"cols must be at least 1, not {cols}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} labels for {len(images)} images; give one per image")
    tw, th = thumb
    rows = max(1, -(-len(images) // cols))
    sheet = Image.new(
        "RGB", (cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap), background
    )
    draw = ImageDraw.Draw(sheet)
    for i, item in enumerate(images):
        tile = ImageOps.pad(_as_image(item), (tw, th), color=background)
        x = gap + (i % cols) * (tw + gap)
        y = gap + (i // cols) * (th + gap)
        sheet.paste(tile, (x, y))
        if labels is not None and labels[i]:
            draw.text((x + 3, y + 2), str(labels[i]), fill=(255, 255, 255))
    return sheet
