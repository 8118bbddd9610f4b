"""Repair training photos instead of dropping their post: paint over the artifact region.

:func:`repair` writes a complete new dataset folder (``manifest.csv``, ``provenance.json`` and a
copy of every file the manifest names) in which the chosen photos have their artifact region
inpainted (``cv2.inpaint``, Telea) or filled with the animal's median colour. The source folder
is only read. The manifest gains two provenance columns: ``repaired`` (``""`` or
``METHOD:ARTIFACT+ARTIFACT``) and ``repaired_from`` (the source entry, ``""`` when untouched).

Regions come from the manifest's ``mask_<artifact>`` columns (annotated regions, or the sample's
ground truth); a photo without any mask is copied unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from curation.dataset import Dataset
from curation.images import load_rgb
from curation.paths import MASK_PREFIX, path_columns

METHODS = ("inpaint", "mask")
PROVENANCE_COLUMNS = ("repaired", "repaired_from")


class RepairError(ValueError):
    """The repair cannot run as asked (bad method, output folder, or photo list)."""


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair` wrote: the new folder, its manifest, how many photos changed."""

    out_dir: Path
    table: pd.DataFrame
    repaired: int


def artifact_mask(dataset: Dataset, row: pd.Series, dilate: int = 3) -> tuple[np.ndarray, list]:
    """Union of a row's artifact masks: ``(H, W)`` uint8 in {0, 255} at the photo's size, grown
    by ``dilate`` pixels (the camera blur and JPEG blocks spill around an artifact), and the
    artifact names that had a mask. All zeros and ``[]`` when the row has none."""
    size = Image.open(dataset.path(row["image"])).size
    union = np.zeros((size[1], size[0]), dtype=np.uint8)
    names = []
    for col in row.index:
        if not col.startswith(MASK_PREFIX) or not isinstance(row[col], str) or not row[col]:
            continue
        m = np.asarray(Image.open(dataset.path(row[col])).convert("L").resize(size))
        union |= np.where(m > 127, 255, 0).astype(np.uint8)
        names.append(col[len(MASK_PREFIX) :])
    if dilate > 0 and names:
        union = cv2.dilate(union, np.ones((2 * dilate + 1, 2 * dilate + 1), np.uint8))
    return union, sorted(names)


def repair_pixels(rgb: np.ndarray, mask: np.ndarray, method: str = "inpaint") -> np.ndarray:
    """``rgb`` ``(H, W, 3)`` uint8 with the ``mask`` (``(H, W)``, non-zero = repair) region
    inpainted (``inpaint``, radius 3 px) or filled with the median colour of the non-black
    pixels outside it (``mask``). Returns a new array; the input is not changed."""
    if method not in METHODS:
        raise RepairError(f"unknown repair method {method!r}; use one of {', '.join(METHODS)}")
    if rgb.shape[:2] != mask.shape:
        raise RepairError(f"mask {mask.shape} does not match the photo {rgb.shape[:2]}")
    on = mask > 0
    if method == "inpaint":
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        out = cv2.inpaint(bgr, on.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
        return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)
    out = rgb.copy()
    keep = ~on & (rgb.max(axis=2) > 16)
    fill = np.median(rgb[keep], axis=0) if keep.any() else np.zeros(3)
    out[on] = fill.astype(np.uint8)
    return out


def repair(
    dataset: Dataset,
    out_dir: str | Path,
    images: Iterable[str],
    *,
    method: str = "inpaint",
    dilate: int = 3,
) -> RepairResult:
    """Write a copy of ``dataset`` to ``out_dir`` with the artifact region of ``images`` (entries
    of the ``image`` column) repaired; returns the new manifest.

    ``out_dir`` must be absent or empty and must not lie inside the dataset's root (the source is
    never written). Files are written to a hidden sibling and renamed into place at the end.
    """
    if method not in METHODS:
        raise RepairError(f"unknown repair method {method!r}; use one of {', '.join(METHODS)}")
    out_dir = Path(out_dir).absolute()
    root = Path(dataset.root).resolve()
    if out_dir.resolve() == root or out_dir.resolve().is_relative_to(root):
        raise RepairError(
            f"{out_dir} lies inside the dataset {root}; write the repaired copy elsewhere"
        )
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise RepairError(f"{out_dir} exists and is not an empty folder; choose a new folder")
    wanted = set(images)
    table = dataset.table.reset_index(drop=True).copy()
    unknown = sorted(wanted - set(table["image"]))
    if unknown:
        raise RepairError(
            f"{len(unknown)} photo(s) to repair are not in the dataset: {unknown[:3]}"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        done, sources = _write_files(dataset, table, tmp, wanted, method, dilate)
        table["repaired"] = [done.get(i, "") for i in table["image"]]
        table["repaired_from"] = [sources.get(i, "") for i in table["image"]]
        table.to_csv(tmp / "manifest.csv", index=False)
        provenance = {
            "tool": "curation.repair",
            "source": str(root),
            "method": method,
            "dilate_px": dilate,
            "asked": len(wanted),
            "repaired": len(done),
            "without_mask": sorted(wanted - set(done)),
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True))
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            out_dir.rmdir()
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return RepairResult(out_dir, table, len(done))


def _write_files(dataset, table, tmp: Path, wanted: set, method: str, dilate: int):
    done: dict[str, str] = {}
    sources: dict[str, str] = {}
    columns = path_columns(table.columns)
    for _, row in table.iterrows():
        for col in columns:
            entry = row[col]
            if not isinstance(entry, str) or not entry:
                continue
            dest = tmp / entry
            dest.parent.mkdir(parents=True, exist_ok=True)
            if col == "image" and entry in wanted:
                mask, names = artifact_mask(dataset, row, dilate)
                if names:
                    rgb = np.asarray(load_rgb(dataset.path(entry)))
                    fixed = repair_pixels(rgb, mask, method)
                    Image.fromarray(fixed).save(dest, quality=95)
                    done[entry] = f"{method}:{'+'.join(names)}"
                    sources[entry] = entry
                    continue
            if not dest.exists():
                shutil.copyfile(dataset.path(entry), dest)
    return done, sources
