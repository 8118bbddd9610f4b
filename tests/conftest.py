"""Shared fixtures: every test makes its own tiny data under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explain.models.adapter import build_model
from workbench.synth import SynthConfig, generate

# Tests share a 2-core machine: keep torch from oversubscribing it.
os.environ.setdefault("WORKBENCH_THREADS", "1")

APP_DATA = SynthConfig(
    seed=3, n_train_ids=8, n_test_ids=4, n_gallery_distractors=2, n_query_without_gallery=1,
    photos_min=2, photos_max=3, polluted_fraction=0.5, mismatch_fraction=0.5,
    height=128, width=64,
)  # fmt: skip
# ../shared/real_pets beside the checkout, or WORKBENCH_REAL_PETS (a checkout elsewhere)
REAL_PETS = Path(
    os.environ.get("WORKBENCH_REAL_PETS")
    or Path(__file__).resolve().parents[2] / "shared" / "real_pets"
)


def write_image(path: Path, seed: int = 0, size: tuple[int, int] = (32, 64)) -> Path:
    """A small random RGB JPEG at ``path`` (W×H ``size``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(path, quality=90)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """torchreid layout: 3 train posts, 2 test posts (one GROUP_POST name), 12 photos."""
    root = tmp_path / "data"
    files = [
        "train/101_1.jpg", "train/101_2.jpg", "train/102_1.jpg", "train/102_2.jpg",
        "train/103_1.jpg", "train/103_2.jpg",
        "query/201_1.jpg", "query/7_202_1.jpg",
        "gallery/201_2.jpg", "gallery/201_3.jpg", "gallery/7_202_2.jpg", "gallery/203_1.jpg",
    ]  # fmt: skip
    for i, f in enumerate(files):
        write_image(root / f, seed=i)
    return root


@pytest.fixture
def real_pets() -> Path:
    if not REAL_PETS.is_dir():
        pytest.skip(f"real pet photos not found at {REAL_PETS} (they are not part of the project)")
    return REAL_PETS


@pytest.fixture(scope="session")
def app_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small synthetic dataset and two series of two checkpoints each (``series`` and
    ``curated``: random osnet_x0_25 weights at 128×64) for the app tests."""
    base = tmp_path_factory.mktemp("app")
    data = base / "pets"
    generate(data, APP_DATA)
    folders = {}
    for name, offset in (("series", 0), ("curated", 100)):
        folders[name] = base / name
        folders[name].mkdir()
        for epoch in (3, 12):
            torch.manual_seed(epoch + offset)
            model = build_model("osnet_x0_25", 8)
            torch.save(
                {"state_dict": model.state_dict(), "epoch": epoch, "rank1": 0.1, "height": 128,
                 "width": 64, "arch": "osnet_x0_25"},
                folders[name] / f"model.pth.tar-{epoch}",
            )  # fmt: skip
    return {"data": data, "base": base, **folders}
