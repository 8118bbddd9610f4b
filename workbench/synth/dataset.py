"""Writing the sample dataset: torchreid's layout, masks, counterfactuals and the manifest.

:func:`generate` renders the photos of :func:`~workbench.synth.plan.plan` into a hidden sibling
folder and renames it into place, so an interrupted run never looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from workbench.synth.artifacts import ARTIFACTS
from workbench.synth.config import SynthConfig
from workbench.synth.plan import PhotoPlan, plan
from workbench.synth.render import Rendered, render

# what synth.json says about the generator that wrote it: 2 since the collar artifact, twin
# polluted posts and artifact decoys (the shipped sample_data/pets is format 1)
FORMAT = 2
MARKER = "synth.json"
DEFAULT_CONFIG = SynthConfig()
GENERATOR = "workbench.synth"
COLUMNS = (
    "image",
    "post_id",
    "photo",
    "split",
    "camid",
    "species",
    "look",
    "animal_mask",
    "artifacts",
    *(f"mask_{a}" for a in ARTIFACTS),
    "counterfactual",
    "homogeneous_artifact",
    "polluted",
    "decoy_of",
)


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file; give a folder path for the dataset")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not is_sample_dataset(out_dir):
        raise ValueError(
            f"{out_dir} is not empty and was not written by the sample generator (no {MARKER}); "
            "choose a new or empty folder, or delete this one first"
        )


def is_sample_dataset(folder: str | Path) -> bool:
    """True when ``folder`` holds a complete dataset written by :func:`generate`."""
    try:
        info = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and info.get("generator") == GENERATOR


def generate(
    out_dir: str | Path,
    config: SynthConfig = DEFAULT_CONFIG,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Render the dataset into ``out_dir`` and return its manifest (also ``manifest.csv``).

    ``out_dir`` must be absent, empty, or a previous output of this function (it is replaced).
    Files are written to a hidden sibling folder that is renamed into place at the end, so an
    interrupted run never leaves a dataset that looks complete. ``progress(done, total)`` is
    called after each photo.
    """
    out_dir = Path(out_dir)
    _check_target(out_dir)
    photos = plan(config)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    try:
        os.chmod(tmp, 0o755)
        rows = []
        for i, photo in enumerate(photos):
            key = (config.seed, int(photo.post_id), photo.photo)
            out = render(
                photo.identity,
                list(photo.artifacts),
                config.look,
                config.height,
                config.width,
                key,
                counterfactual=config.counterfactual,
            )
            rows.append(_write(tmp, photo, out, config))
            if progress is not None:
                progress(i + 1, len(photos))
        table = pd.DataFrame(rows, columns=list(COLUMNS))
        table.to_csv(tmp / "manifest.csv", index=False, lineterminator="\n")
        info = {
            "generator": GENERATOR,
            "format": FORMAT,
            "photos": len(rows),
            "config": asdict(config),
        }
        (tmp / MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return table


def _swap(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(tmp, out_dir)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.replace(out_dir, old / "data")
    try:
        os.replace(tmp, out_dir)
    except BaseException:
        os.replace(old / "data", out_dir)
        raise
    shutil.rmtree(old)


def _save_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb, "RGB").save(
        path, "JPEG", quality=quality, optimize=False, progressive=False, subsampling=0
    )


def _save_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255, "L").save(path, "PNG", optimize=False)


def _write(root: Path, photo: PhotoPlan, out: Rendered, config: SynthConfig) -> dict:
    stem = f"{photo.post_id}_{photo.photo}"
    image = f"{photo.split}/{stem}.jpg"
    _save_jpeg(root / image, out.image, config.jpeg_quality)
    animal = f"masks/{photo.split}/{stem}_animal.png"
    _save_mask(root / animal, out.animal_mask)
    row = {
        "image": image,
        "post_id": photo.post_id,
        "photo": photo.photo,
        "split": photo.split,
        "camid": photo.photo,
        "species": photo.identity.species,
        "look": config.look,
        "animal_mask": animal,
        "artifacts": ";".join(sorted(out.masks)),
        "counterfactual": "",
        "homogeneous_artifact": photo.homogeneous,
        "polluted": bool(photo.homogeneous),
        "decoy_of": photo.decoy_of,
    }
    for kind in ARTIFACTS:
        row[f"mask_{kind}"] = ""
        if kind in out.masks:
            row[f"mask_{kind}"] = f"masks/{photo.split}/{stem}_{kind}.png"
            _save_mask(root / row[f"mask_{kind}"], out.masks[kind])
    if out.counterfactual is not None:
        row["counterfactual"] = f"counterfactual/{photo.split}/{stem}.jpg"
        _save_jpeg(root / row["counterfactual"], out.counterfactual, config.jpeg_quality)
    return row
