"""Pixel quality measures (cleanvision-style): darkness, blown highlights, blur, size.

Pet photos here are usually segmented: black outside the animal. Measuring a whole frame would
call every segmented photo dark and every silhouette sharp, so each measure is taken on the
foreground (pixels whose brightest channel exceeds :data:`BLACK_LEVEL`); blur is taken on the
foreground's interior (the mask shrunk by a few pixels) so the cut-out edge does not count.
Unsegmented photos have a foreground of (nearly) the whole frame and are measured as a whole.

Measures per image (see :func:`measure`):

``width``, ``height``   pixels of the file (after EXIF rotation)
``foreground``          share of the frame that is foreground, in [0, 1]
``brightness``          99th percentile of the foreground's luma (0-255): low = dark even at its
                        brightest
``blown``               share of foreground pixels with all channels >= 250 (glare-blown)
``blur``                variance of the Laplacian of the luma over the foreground interior,
                        measured after scaling the longer side to at most 256 px; low = blurry
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from curation.images import load_rgb

BLACK_LEVEL = 12
BLOWN_LEVEL = 250
BLUR_SIDE = 256
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
MEASURES = ("width", "height", "foreground", "brightness", "blown", "blur")


def measure(img: Image.Image) -> dict[str, float]:
    """Quality measures of one RGB image (see the module docstring for units and ranges)."""
    width, height = img.size
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    fg = rgb.max(axis=2) > BLACK_LEVEL
    share = float(fg.mean())
    if not fg.any():
        return {"width": width, "height": height, "foreground": 0.0, "brightness": 0.0,
                "blown": 0.0, "blur": 0.0}  # fmt: skip
    luma = rgb @ _LUMA
    brightness = float(np.percentile(luma[fg], 99))
    blown = float((rgb[fg].min(axis=1) >= BLOWN_LEVEL).mean())
    scale = min(1.0, BLUR_SIDE / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = np.asarray(img.convert("RGB").resize(size, Image.Resampling.BILINEAR))
        small = small.astype(np.float32)
        luma, fg = small @ _LUMA, small.max(axis=2) > BLACK_LEVEL
    interior = ndimage.binary_erosion(fg, iterations=3)
    if interior.sum() < 16:  # a thin or tiny animal: fall back to the whole foreground
        interior = fg
    lap = ndimage.laplace(luma)
    blur = float(lap[interior].var()) if interior.any() else 0.0
    return {"width": width, "height": height, "foreground": share, "brightness": brightness,
            "blown": blown, "blur": blur}  # fmt: skip


def measure_images(
    dataset, images: Iterable[str] | None = None, *, progress: Callable | None = None
) -> pd.DataFrame:
    """Measure ``images`` (manifest paths; default: all) of ``dataset``.

    Returns one row per image, sorted by image: ``image`` plus :data:`MEASURES`.
    ``progress(done, total)`` is called after each image. Unreadable files raise
    :class:`curation.images.ImageReadError` naming the file.
    """
    images = sorted(dataset.table["image"] if images is None else images)
    rows = []
    for i, image in enumerate(images):
        rows.append({"image": image, **measure(load_rgb(dataset.path(image)))})
        if progress is not None:
            progress(i + 1, len(images))
    return pd.DataFrame(rows, columns=["image", *MEASURES])


def issues(
    quality: pd.DataFrame,
    *,
    dark: float = 60.0,
    glare: float = 0.15,
    blur: float = 30.0,
    min_side: int = 64,
    min_foreground: float = 0.03,
) -> pd.DataFrame:
    """Which measures fail which threshold: one row per (image, issue).

    Issues: ``too-dark`` (brightness < ``dark``), ``glare-blown`` (blown > ``glare``),
    ``blurry`` (blur < ``blur``), ``tiny`` (shorter side < ``min_side`` px, or foreground share
    < ``min_foreground``). Columns: ``image``, ``issue``, ``value``, ``threshold``, ``reason``;
    sorted by image then issue.
    """
    missing = [c for c in ("image", *MEASURES) if c not in quality.columns]
    if missing:
        raise ValueError(
            f"quality table lacks column(s) {', '.join(missing)}; make it with measure_images()"
        )
    rows = []
    for rec in quality.to_dict("records"):
        img = rec["image"]
        side = min(rec["width"], rec["height"])
        checks = [
            ("too-dark", rec["brightness"] < dark, rec["brightness"], dark,
             f"brightest 1% of the animal at {rec['brightness']:.0f}/255 (< {dark:g})"),
            ("glare-blown", rec["blown"] > glare, rec["blown"], glare,
             f"{rec['blown']:.0%} of the animal blown to white (> {glare:.0%})"),
            ("blurry", rec["blur"] < blur, rec["blur"], blur,
             f"variance of Laplacian {rec['blur']:.1f} (< {blur:g})"),
            ("tiny", side < min_side, side, min_side,
             f"shorter side {side} px (< {min_side})"),
            ("tiny", side >= min_side and rec["foreground"] < min_foreground,
             rec["foreground"], min_foreground,
             f"animal covers {rec['foreground']:.1%} of the frame (< {min_foreground:.0%})"),
        ]  # fmt: skip
        for issue, failed, value, threshold, reason in checks:
            if failed:
                rows.append((img, issue, float(value), float(threshold), reason))
    out = pd.DataFrame(rows, columns=["image", "issue", "value", "threshold", "reason"])
    return out.sort_values(["image", "issue"], kind="mergesort").reset_index(drop=True)
