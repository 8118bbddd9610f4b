"""Annotator regions: validation, a compact text form, and rasterisation to masks.

A region marks where an artifact sits in one photo. The format is shared by the tag store and
the attribution scores: a list of dicts

    {"artifact": "glare", "kind": "box", "points": [[x0, y0], [x1, y1]]}
    {"artifact": "hands", "kind": "polygon", "points": [[x, y], [x, y], [x, y], ...]}

in pixel coordinates of the original image file (x to the right, y down, origin at the top-left
corner of the top-left pixel, so a W×H image spans ``[0, W] × [0, H]``). A box has two corner
points (any order), a polygon at least three points and a non-zero area.

Rasterisation marks a pixel when its centre lies inside the region (even-odd rule for
polygons, closed boundary for boxes); it works at any output resolution by scaling the points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

REGION_KINDS = ("box", "polygon")


class RegionError(ValueError):
    """A region is malformed; the message names the region and how to write it."""


def validate_regions(
    regions: Any,
    *,
    vocabulary: Iterable[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> list[dict]:
    """Check and normalise a list of regions; return them in canonical form.

    ``regions``: a list of region dicts, or its JSON text; None or ``[]`` gives ``[]``.
    ``vocabulary``: allowed artifact names (None: any non-empty name).
    ``image_size``: ``(width, height)`` in pixels; when given, every point must lie inside it.
    Canonical form: float coordinates, boxes as ``[[min x, min y], [max x, max y]]``.
    Raises :class:`RegionError` naming the first bad region and the expected format.
    """
    if regions is None:
        return []
    if isinstance(regions, str):
        try:
            regions = json.loads(regions) if regions.strip() else []
        except json.JSONDecodeError as exc:
            raise RegionError(f"regions are not valid JSON ({exc}); {_FORMAT}") from exc
    if isinstance(regions, Mapping) or not isinstance(regions, Sequence):
        raise RegionError(
            f"regions must be a list of dicts, not {type(regions).__name__}; {_FORMAT}"
        )
    allowed = None if vocabulary is None else set(vocabulary)
    return [_one(i, r, allowed, image_size) for i, r in enumerate(regions)]


_FORMAT = (
    'write each region as {"artifact": "glare", "kind": "box", "points": [[x0, y0], [x1, y1]]} '
    'or {"artifact": "hands", "kind": "polygon", "points": [[x, y], [x, y], [x, y]]} '
    "in pixel coordinates of the original image"
)


def _one(i: int, region: Any, allowed: set[str] | None, image_size: tuple[int, int] | None) -> dict:
    where = f"region {i + 1}"
    if not isinstance(region, Mapping):
        raise RegionError(f"{where}: expected a dict, got {type(region).__name__}; {_FORMAT}")
    extra = sorted(set(region) - {"artifact", "kind", "points"})
    if extra:
        raise RegionError(f"{where}: unknown key(s) {', '.join(extra)}; {_FORMAT}")
    artifact = region.get("artifact")
    if not isinstance(artifact, str) or not artifact.strip():
        raise RegionError(f"{where}: 'artifact' must name the artifact tag; {_FORMAT}")
    artifact = artifact.strip()
    if allowed is not None and artifact not in allowed:
        raise RegionError(
            f"{where}: unknown artifact {artifact!r}; use one of {', '.join(sorted(allowed))} "
            "(or add it to the vocabulary first)"
        )
    kind = region.get("kind")
    if kind not in REGION_KINDS:
        raise RegionError(f"{where}: 'kind' must be 'box' or 'polygon', not {kind!r}")
    points = _points(where, region.get("points"))
    if image_size is not None:
        width, height = image_size
        for x, y in points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise RegionError(
                    f"{where}: point ({x:g}, {y:g}) lies outside the {width}×{height} image; "
                    "coordinates are pixels of the original file, 0 <= x <= width, 0 <= y <= height"
                )
    if kind == "box":
        if len(points) != 2:
            raise RegionError(
                f"{where}: a box needs exactly two corner points [[x0, y0], [x1, y1]], "
                f"got {len(points)}"
            )
        (xa, ya), (xb, yb) = points
        x0, x1, y0, y1 = min(xa, xb), max(xa, xb), min(ya, yb), max(ya, yb)
        if x0 == x1 or y0 == y1:
            raise RegionError(f"{where}: the box has zero width or height; drag a larger box")
        points = [[x0, y0], [x1, y1]]
    else:
        if len(points) < 3:
            raise RegionError(f"{where}: a polygon needs at least 3 points, got {len(points)}")
        if _area(points) == 0.0:
            raise RegionError(f"{where}: the polygon has zero area (points on one line)")
    return {"artifact": artifact, "kind": kind, "points": points}


def _points(where: str, points: Any) -> list[list[float]]:
    if isinstance(points, str | bytes) or not isinstance(points, Sequence):
        raise RegionError(f"{where}: 'points' must be a list of [x, y] pairs; {_FORMAT}")
    out: list[list[float]] = []
    for j, p in enumerate(points):
        if isinstance(p, str | bytes) or not isinstance(p, Sequence) or len(p) != 2:
            raise RegionError(f"{where}: point {j + 1} must be an [x, y] pair, got {p!r}")
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError) as exc:
            raise RegionError(f"{where}: point {j + 1} has non-numeric coordinates {p!r}") from exc
        if (
            isinstance(p[0], bool)
            or isinstance(p[1], bool)
            or not (math.isfinite(x) and math.isfinite(y))
        ):
            raise RegionError(f"{where}: point {j + 1} must have finite numbers, got {p!r}")
        out.append([x, y])
    return out


def _area(points: Sequence[Sequence[float]]) -> float:
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2.0)


def parse_region(text: str) -> dict:
    """Read the command-line form ``ARTIFACT:box:x0,y0,x1,y1`` or ``ARTIFACT:polygon:x,y,x,y,...``.

    Returns an unvalidated region dict (pass the list through :func:`validate_regions`).
    """
    parts = text.split(":")
    if len(parts) != 3:
        raise RegionError(
            f"{text!r}: write a region as ARTIFACT:box:x0,y0,x1,y1 or "
            "ARTIFACT:polygon:x1,y1,x2,y2,x3,y3 (pixel coordinates)"
        )
    artifact, kind, coords = (p.strip() for p in parts)
    try:
        values = [float(v) for v in coords.split(",") if v.strip()]
    except ValueError as exc:
        raise RegionError(f"{text!r}: coordinates must be numbers separated by commas") from exc
    if len(values) % 2:
        raise RegionError(f"{text!r}: coordinates must come in x,y pairs, got {len(values)} values")
    points = [[values[i], values[i + 1]] for i in range(0, len(values), 2)]
    return {"artifact": artifact, "kind": kind, "points": points}


def regions_json(regions: Sequence[Mapping]) -> str:
    """Canonical JSON of a region list (sorted keys, no spaces): stable for hashing and storage."""
    return json.dumps(list(regions), sort_keys=True, separators=(",", ":"))


def rasterise(
    regions: Sequence[Mapping],
    image_size: tuple[int, int],
    *,
    shape: tuple[int, int] | None = None,
    artifacts: Iterable[str] | None = None,
) -> np.ndarray:
    """Union of ``regions`` as a boolean mask.

    ``image_size``: ``(width, height)`` of the original image the points refer to.
    ``shape``: ``(height, width)`` of the output mask (default: the original size); points are
    scaled, so a mask can be made directly at a heatmap's resolution.
    ``artifacts``: keep only regions of these artifacts (None: all).
    Returns a ``(height, width)`` bool array, True where a pixel centre lies inside a region.
    """
    width, height = image_size
    if width <= 0 or height <= 0:
        raise ValueError(f"image_size must be a positive (width, height), got {image_size}")
    out_h, out_w = shape if shape is not None else (height, width)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"shape must be a positive (height, width), got {shape}")
    keep = None if artifacts is None else set(artifacts)
    mask = np.zeros((out_h, out_w), dtype=bool)
    sx, sy = out_w / width, out_h / height
    for region in regions:
        if keep is not None and region["artifact"] not in keep:
            continue
        pts = np.asarray(region["points"], dtype=np.float64) * (sx, sy)
        if region["kind"] == "box":
            _fill_box(mask, pts)
        else:
            _fill_polygon(mask, pts)
    return mask


def region_masks(
    regions: Sequence[Mapping], image_size: tuple[int, int], *, shape: tuple[int, int] | None = None
) -> dict[str, np.ndarray]:
    """One ``(height, width)`` bool mask per artifact named in ``regions`` (see
    :func:`rasterise`)."""
    names = sorted({r["artifact"] for r in regions})
    return {a: rasterise(regions, image_size, shape=shape, artifacts=[a]) for a in names}


def _fill_box(mask: np.ndarray, pts: np.ndarray) -> None:
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    h, w = mask.shape
    # pixel centres c + 0.5 inside [x0, x1]: c >= x0 - 0.5 and c <= x1 - 0.5
    c0, c1 = max(math.ceil(x0 - 0.5), 0), min(math.floor(x1 - 0.5), w - 1)
    r0, r1 = max(math.ceil(y0 - 0.5), 0), min(math.floor(y1 - 0.5), h - 1)
    if c0 <= c1 and r0 <= r1:
        mask[r0 : r1 + 1, c0 : c1 + 1] = True


def _fill_polygon(mask: np.ndarray, pts: np.ndarray) -> None:
    h, w = mask.shape
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    c0, c1 = max(math.ceil(lo[0] - 0.5), 0), min(math.floor(hi[0] - 0.5), w - 1)
    r0, r1 = max(math.ceil(lo[1] - 0.5), 0), min(math.floor(hi[1] - 0.5), h - 1)
    if c0 > c1 or r0 > r1:
        return
    xs = np.arange(c0, c1 + 1) + 0.5
    ys = (np.arange(r0, r1 + 1) + 0.5)[:, None]
    inside = np.zeros((len(ys), len(xs)), dtype=bool)
    xa, ya = pts[:, 0], pts[:, 1]
    xb, yb = np.roll(xa, -1), np.roll(ya, -1)
    for x_a, y_a, x_b, y_b in zip(xa, ya, xb, yb, strict=True):
        if y_a == y_b:
            continue
        crosses = (y_a > ys) != (y_b > ys)
        x_cross = x_a + (ys - y_a) * (x_b - x_a) / (y_b - y_a)
        inside ^= crosses & (xs < x_cross)
    mask[r0 : r1 + 1, c0 : c1 + 1] |= inside
