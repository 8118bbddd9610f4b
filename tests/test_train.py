"""A tiny training run writes a loadable torchreid-format checkpoint series."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from curation.dataset import load_folder
from tests.conftest import write_image
from workbench.train import Recipe, TrainingError, train

TINY = Recipe(arch="osnet_x0_25", height=64, width=32, epochs=2, save_at=(1, 2), batch_size=8,
              num_instances=2, seed=3)  # fmt: skip


@pytest.fixture
def small(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for post in range(5):
        for photo in range(1, 4):
            write_image(root / "train" / f"{100 + post}_{photo}.jpg", seed=post * 10 + photo)
    for post in range(2):
        write_image(root / "query" / f"{200 + post}_1.jpg", seed=500 + post)
        write_image(root / "gallery" / f"{200 + post}_2.jpg", seed=600 + post)
    return root


def test_tiny_run_writes_torchreid_checkpoints(small: Path, tmp_path: Path):
    from explain.models.adapter import build_model

    events = []
    out = tmp_path / "series"
    result = train(load_folder(small), out, TINY, progress=events.append)
    assert [p.name for p in result.checkpoints] == ["model.pth.tar-1", "model.pth.tar-2"]
    ckpt = torch.load(out / "model.pth.tar-2", map_location="cpu", weights_only=True)
    assert {"state_dict", "epoch", "rank1", "mAP", "arch", "num_classes"} <= set(ckpt)
    assert "optimizer" not in ckpt
    assert ckpt["epoch"] == 2 and ckpt["arch"] == "osnet_x0_25" and ckpt["num_classes"] == 5
    assert 0.0 <= ckpt["rank1"] <= 1.0 and 0.0 <= ckpt["mAP"] <= 1.0
    result = build_model("osnet_x0_25", 5).load_state_dict(ckpt["state_dict"], strict=True)
    assert not result.missing_keys and not result.unexpected_keys

    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["recipe"]["arch"] == "osnet_x0_25" and recipe["recipe"]["seed"] == 3
    assert recipe["train_posts"] == 5 and recipe["train_images"] == 15
    assert Recipe.from_dict(recipe["recipe"]) == TINY
    with open(out / "train_log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(float(r["loss_softmax"]) > 0 for r in rows)
    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 2 and kinds.count("checkpoint") == 2 and "batch" in kinds


def test_same_seed_same_weights(small: Path, tmp_path: Path):
    recipe = Recipe(**{**TINY.to_dict(), "epochs": 1, "save_at": (1,), "augment": ()})
    a = train(load_folder(small), tmp_path / "a", recipe, evaluate=False).checkpoints[0]
    b = train(load_folder(small), tmp_path / "b", recipe, evaluate=False).checkpoints[0]
    sa = torch.load(a, weights_only=True)["state_dict"]
    sb = torch.load(b, weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bad_recipes_and_inputs_are_refused(small: Path, tmp_path: Path):
    ds = load_folder(small)
    with pytest.raises(TrainingError, match="unknown architecture 'osnet_x9'"):
        train(ds, tmp_path / "x", Recipe(arch="osnet_x9"))
    with pytest.raises(TrainingError, match="outside 1..2"):
        train(ds, tmp_path / "x", Recipe(epochs=2, save_at=(5,)))
    with pytest.raises(TrainingError, match="needs 16; lower --batch-size"):
        train(ds, tmp_path / "x", Recipe(epochs=1, save_at=(1,), batch_size=64, num_instances=4))
    train(ds, tmp_path / "y", Recipe(**{**TINY.to_dict(), "epochs": 1, "save_at": (1,)}),
          evaluate=False)  # fmt: skip
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        train(ds, tmp_path / "y", TINY)


def test_same_seed_same_checkpoint_bytes_with_augmentation(small: Path, tmp_path: Path):
    """Seeded augmentations (flip, crop, jitter) and sampler: the same file, byte for byte."""
    import hashlib

    recipe = Recipe(**{**TINY.to_dict(), "epochs": 1, "save_at": (1,)})
    files = [
        train(load_folder(small), tmp_path / name, recipe, evaluate=False, threads=1).checkpoints[0]
        for name in ("a", "b")
    ]
    digests = {hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    assert len(digests) == 1
    flags = json.loads((tmp_path / "a" / "recipe.json").read_text())["determinism"]
    assert flags["seed"] == 3 and flags["deterministic_algorithms"] is True
    assert flags["dataloader_workers"] == 0 and flags["cudnn_benchmark"] is False
