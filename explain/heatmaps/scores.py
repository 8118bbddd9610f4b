"""Attribution scores: how much of a heatmap lies on the animal, on the background, on artifacts.

Regions come from the dataset's ground truth (``animal_mask`` and ``mask_<artifact>`` paths in the
manifest, relative to the dataset root; L-mode PNG, 255 = inside) or from annotators' regions
(``{"artifact": tag, "kind": "box" | "polygon", "points": [[x, y], ...]}`` in pixels of the
original image file), rasterised at the model's input resolution ``(H, W)``.

Scores per heatmap and region (Arras et al. 2022 for relevance mass; Zhang et al. 2018 for the
pointing game):

- ``mass``: share of the positive attribution inside the region, in [0, 1]
  (relevance-mass accuracy). Computed on the positive part of ``Heatmap.raw`` resized to the
  input (for Grad-CAM that is the ReLU'd CAM, the map before min-max scaling); NaN when the
  heatmap has no positive attribution;
- ``area``: share of the image's pixels inside the region;
- ``enrichment``: ``mass / area`` (1 = no preference for the region, > 1 = attracted to it);
- ``peak``: whether the map's maximum lies inside the region (pointing game).

``background`` is everything outside the animal mask (artifacts outside the animal included);
``artifacts`` is the union of all artifact regions of the image (when it has any).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from curation.paths import resolve
from explain.heatmaps.base import Heatmap, resize

ARTIFACT_PREFIX = "mask_"


def load_mask(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """A mask file as a boolean ``(H, W)`` array at ``size`` (values >= 128 are inside).

    Resized bilinearly (as the image is by the model's transform), then thresholded.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            mask = img.convert("L")
    except FileNotFoundError:
        raise ValueError(f"mask {path} not found; check the manifest's mask paths") from None
    except OSError as exc:
        raise ValueError(f"mask {path} is unreadable ({exc}); regenerate it") from exc
    h, w = size
    if mask.size != (w, h):
        mask = mask.resize((w, h), Image.BILINEAR)
    return np.asarray(mask) >= 128


def rasterise_regions(
    regions: Iterable[Mapping], image_size: tuple[int, int], size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Annotators' regions as boolean ``(H, W)`` masks per artifact tag (union of its regions).

    ``image_size`` is the original file's ``(width, height)`` in which the points are given;
    ``size`` the input resolution ``(H, W)``.
    """
    ow, oh = image_size
    h, w = size
    if ow <= 0 or oh <= 0:
        raise ValueError(f"image_size must be a positive (width, height), not {image_size}")
    sx, sy = w / ow, h / oh
    masks: dict[str, np.ndarray] = {}
    rows = (np.arange(h) + 0.5)[:, None]  # pixel centres
    cols = (np.arange(w) + 0.5)[None, :]
    for i, region in enumerate(regions):
        tag, kind, points = region.get("artifact"), region.get("kind"), region.get("points")
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"region {i}: 'artifact' must be a tag such as 'hands'")
        try:
            pts = [(float(x) * sx, float(y) * sy) for x, y in points]
        except (TypeError, ValueError):
            raise ValueError(f"region {i}: 'points' must be a list of [x, y] pairs") from None
        if kind == "box":
            if len(pts) != 2:
                raise ValueError(f"region {i}: a box needs two corner points, got {len(pts)}")
            (x0, y0), (x1, y1) = pts
            x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
            inside = (cols >= x0) & (cols <= x1) & (rows >= y0) & (rows <= y1)
        elif kind == "polygon":
            if len(pts) < 3:
                raise ValueError(f"region {i}: a polygon needs at least 3 points, got {len(pts)}")
            canvas = Image.new("L", (w, h), 0)
            ImageDraw.Draw(canvas).polygon([(x - 0.5, y - 0.5) for x, y in pts], fill=255)
            inside = np.asarray(canvas) >= 128
        else:
            raise ValueError(f"region {i}: kind must be 'box' or 'polygon', not {kind!r}")
        masks[tag] = masks.get(tag, np.zeros((h, w), dtype=bool)) | inside
    return masks


def positive_attribution(heatmap: Heatmap) -> np.ndarray:
    """The positive part of ``raw`` at input resolution, ``(H, W)`` float32 >= 0."""
    return np.maximum(resize(np.maximum(heatmap.raw, 0), heatmap.shape), 0)


def relevance_mass(attribution: np.ndarray, mask: np.ndarray) -> float:
    """Share of the positive attribution inside ``mask`` (NaN when there is none)."""
    pos = np.maximum(np.asarray(attribution, dtype=np.float64), 0)
    _same_shape(pos, mask)
    total = pos.sum()
    return float(pos[mask].sum() / total) if total > 0 else float("nan")


def pointing_game(saliency: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> bool:
    """Whether the maximum of ``saliency`` lies in ``mask`` (or within ``tolerance`` pixels)."""
    _same_shape(saliency, mask)
    r, c = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    if tolerance <= 0:
        return bool(mask[r, c])
    rr, cc = np.nonzero(mask)
    return bool(rr.size and ((rr - r) ** 2 + (cc - c) ** 2).min() <= tolerance**2)


def _same_shape(a: np.ndarray, mask: np.ndarray) -> None:
    if np.asarray(mask).shape != np.asarray(a).shape:
        raise ValueError(
            f"mask shape {np.asarray(mask).shape} differs from the map {np.asarray(a).shape}; "
            "load masks at the input resolution"
        )


@dataclass(frozen=True)
class RegionScore:
    region: str
    mass: float
    area: float
    enrichment: float
    peak: bool


def score_heatmap(
    heatmap: Heatmap,
    animal_mask: np.ndarray | None = None,
    artifact_masks: Mapping[str, np.ndarray] | None = None,
    tolerance: int = 0,
) -> list[RegionScore]:
    """Scores of one heatmap for ``animal``, ``background``, each artifact region and their
    union ``artifacts``."""
    attribution = positive_attribution(heatmap)
    regions: dict[str, np.ndarray] = {}
    if animal_mask is not None:
        regions["animal"] = np.asarray(animal_mask, dtype=bool)
        regions["background"] = ~regions["animal"]
    for tag, m in (artifact_masks or {}).items():
        regions[tag] = np.asarray(m, dtype=bool)
    if artifact_masks:
        regions["artifacts"] = np.logical_or.reduce(
            [np.asarray(m, dtype=bool) for m in artifact_masks.values()]
        )
    out = []
    for name, mask in regions.items():
        mass = relevance_mass(attribution, mask)
        area = float(mask.mean())
        out.append(
            RegionScore(
                region=name,
                mass=mass,
                area=area,
                enrichment=mass / area if area > 0 else float("nan"),
                peak=pointing_game(heatmap.map, mask, tolerance),
            )
        )
    return out


def masks_for_row(
    dataset: object, row: Mapping, size: tuple[int, int]
) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Ground-truth masks of one manifest row: ``(animal mask or None, {artifact: mask})``.

    ``dataset``: a :class:`curation.dataset.Dataset` (its :meth:`~curation.dataset.Dataset.path`
    resolves the entries) or a dataset root folder. Either way an entry that is absolute, holds
    ``..`` or resolves outside the root raises :class:`curation.paths.PathError` before any file
    is opened. Empty/NaN entries mean "no such region".
    """
    if hasattr(dataset, "path"):
        locate = dataset.path
    else:
        root = Path(dataset)

        def locate(entry: str) -> Path:
            return resolve(root, entry)

    def present(value: object) -> bool:
        return isinstance(value, str) and bool(value.strip())

    animal_entry = row.get("animal_mask")
    animal = load_mask(locate(animal_entry), size) if present(animal_entry) else None
    artifacts = {}
    for key, value in row.items():
        if str(key).startswith(ARTIFACT_PREFIX) and present(value):
            artifacts[str(key)[len(ARTIFACT_PREFIX) :]] = load_mask(locate(value), size)
    return animal, artifacts


def score_rows(
    heatmap: Heatmap,
    animal_mask: np.ndarray | None,
    artifact_masks: Mapping[str, np.ndarray] | None,
    **labels,
) -> list[dict]:
    """Long-format rows (one per region) with ``labels`` (image, method, epoch ...) attached."""
    return [
        {**labels, "method": labels.get("method", heatmap.method), **vars(s)}
        for s in score_heatmap(heatmap, animal_mask, artifact_masks)
    ]


def aggregate(
    rows: pd.DataFrame | Sequence[Mapping], by: Sequence[str] = ("method", "epoch", "region")
) -> pd.DataFrame:
    """Mean/median relevance mass, mean enrichment, pointing-game hit rate and count per group.

    Typical groupings: ``("method", "epoch", "region")``, ``("region", "epoch")`` (per artifact
    type across epochs), ``("method", "region")``.
    """
    df = pd.DataFrame(list(rows)) if not isinstance(rows, pd.DataFrame) else rows
    missing = [c for c in (*by, "mass", "enrichment", "peak") if c not in df.columns]
    if missing:
        raise ValueError(f"score rows lack columns {missing}; build them with score_rows")
    g = df.groupby(list(by), sort=True, dropna=False)
    out = pd.DataFrame(
        {
            "mass_mean": g["mass"].mean(),
            "mass_median": g["mass"].median(),
            "enrichment_mean": g["enrichment"].mean(),
            "peak_rate": g["peak"].mean(),
            "n": g["mass"].count(),
        }
    )
    return out.reset_index()
