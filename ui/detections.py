"""Draw regions on a photo so that people's regions and detections (machine tags) never look
alike: people's regions in solid lines, detections in dashed lines of another colour with their
score and detector written beside them (confirmed ones green, rejected ones grey).

:func:`draw` takes regions in the format of :mod:`curation.regions` (pixels of the original
file) and the rows of :meth:`curation.store.TagStore.detections`; pages call it on a photo or a
thumbnail (``source_size`` scales the points).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

HUMAN = (0, 190, 255)  # people's regions: solid
DETECTED = (255, 150, 0)  # unreviewed detections: dashed
CONFIRMED = (40, 200, 80)
REJECTED = (150, 150, 150)
REVIEW_COLOURS = {"unreviewed": DETECTED, "confirmed": CONFIRMED, "rejected": REJECTED}
DASH, GAP = 6, 4  # pixels of a dashed line's strokes and gaps


def _points(region: Mapping) -> list[tuple[float, float]]:
    pts = [(float(x), float(y)) for x, y in region["points"]]
    if region.get("kind") == "box":
        (x0, y0), (x1, y1) = pts
        return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return pts


def _scaled(pts, sx: float, sy: float) -> list[tuple[float, float]]:
    return [(x * sx, y * sy) for x, y in pts]


def _dashed(d: ImageDraw.ImageDraw, pts, colour, width: int) -> None:
    for (x0, y0), (x1, y1) in zip(pts, [*pts[1:], pts[0]], strict=True):
        length = math.hypot(x1 - x0, y1 - y0)
        at = 0.0
        while at < length:
            end = min(at + DASH, length)
            a, b = at / length, end / length
            start = (x0 + (x1 - x0) * a, y0 + (y1 - y0) * a)
            d.line([start, (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)], fill=colour, width=width)
            at = end + GAP


def label(row: Mapping) -> str:
    """What a detection says beside its region: ``hands 0.91 - hands@1`` (plus ``confirmed``
    or ``rejected`` once reviewed)."""
    mark = {"confirmed": " confirmed", "rejected": " rejected"}.get(str(row.get("review")), "")
    signature = str(row["detector"]).removeprefix("detector:")
    return f"{row['artifact']} {float(row['score']):.2f} - {signature}{mark}"


def draw(
    image: Image.Image,
    *,
    human: Iterable[Mapping] = (),
    detections: pd.DataFrame | Sequence[Mapping] = (),
    source_size: tuple[int, int] | None = None,
    width: int = 2,
) -> Image.Image:
    """A copy of ``image`` (RGB) with people's ``human`` regions in solid :data:`HUMAN` lines
    and each detection's regions dashed in its review colour, labelled with :func:`label`.

    ``detections``: rows with ``artifact``, ``score``, ``detector``, ``regions`` and
    optionally ``review``. ``source_size``: ``(width, height)`` of the file the points are in
    (None: ``image``'s own size). ``width``: line width in pixels of ``image``.
    """
    out = image.convert("RGB")  # always a new image: the caller's is left as it was
    sx, sy = (1.0, 1.0)
    if source_size is not None:
        if min(source_size) <= 0:
            raise ValueError(f"source_size must be a positive (width, height), got {source_size}")
        sx, sy = out.width / source_size[0], out.height / source_size[1]
    d = ImageDraw.Draw(out)
    for region in human:
        pts = _scaled(_points(region), sx, sy)
        d.line([*pts, pts[0]], fill=HUMAN, width=width, joint="curve")
    rows = detections.to_dict("records") if isinstance(detections, pd.DataFrame) else detections
    font = ImageFont.load_default()
    for row in rows:
        colour = REVIEW_COLOURS.get(str(row.get("review", "unreviewed")), DETECTED)
        regions = list(row.get("regions") or [])
        for region in regions:
            _dashed(d, _scaled(_points(region), sx, sy), colour, width)
        if regions:
            first = _scaled(_points(regions[0]), sx, sy)
            x, y = min(p[0] for p in first), min(p[1] for p in first)
            text = label(row)
            at = (x, max(0.0, y - 12))
            d.rectangle(d.textbbox(at, text, font=font), fill=(0, 0, 0))
            d.text(at, text, fill=colour, font=font)
    return out
