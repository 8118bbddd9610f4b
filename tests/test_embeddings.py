"""Embeddings: torchreid's test preprocessing, unit norm, flip averaging, the disk cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from curation.dataset import load_folder
from curation.images import load_rgb
from explain.models import preprocess
from explain.models.adapter import build_model
from explain.models.checkpoints import LoadedModel
from explain.models.device import set_threads
from explain.retrieval.embeddings import embed_dataset, extract
from tests.conftest import write_image
from tests.models import Counting

set_threads()  # WORKBENCH_THREADS=1 under pytest: two threads on a busy machine crawl


def loaded(model: torch.nn.Module, sha1: str = "a" * 40) -> LoadedModel:
    meta = {"height": 64, "width": 32}
    return LoadedModel(model.eval(), "custom", 3, Path("x.pth"), sha1, meta)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return [write_image(tmp_path / f"img_{i}.jpg", seed=i, size=(40, 90)) for i in range(5)]


def manual(model: torch.nn.Module, paths: list[Path], flip: bool = False) -> np.ndarray:
    tf = preprocess.test_transform(64, 32)
    x = torch.stack([tf(load_rgb(p)) for p in paths])
    with torch.no_grad():
        f = model.eval()(x)
        if flip:
            f = f + model(torch.flip(x, dims=[3]))
    return torch.nn.functional.normalize(f, dim=1).numpy()


def test_extract_matches_the_test_transform_and_is_unit_norm(images):
    model = Counting()
    calls = []
    feats = extract(
        model, images, height=64, width=32, batch_size=2, progress=lambda d, t: calls.append((d, t))
    )
    assert feats.shape == (5, 12) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(feats, manual(model, images), atol=1e-6)
    assert calls == [(2, 5), (4, 5), (5, 5)]
    np.testing.assert_allclose(
        extract(model, images, height=64, width=32, batch_size=64), feats, atol=1e-6
    )


def test_flip_averages_with_the_mirror_image(images):
    model = Counting()
    flipped = extract(model, images, height=64, width=32, flip=True)
    np.testing.assert_allclose(flipped, manual(model, images, flip=True), atol=1e-6)
    plain = extract(model, images, height=64, width=32)
    assert np.abs(flipped - plain).max() > 1e-3


def test_eval_mode_is_used_and_the_mode_restored(images):
    torch.manual_seed(0)
    model = build_model("osnet_x0_25", 4)
    model.train()
    feats = extract(model, images[:3], height=64, width=32)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        ref = torch.nn.functional.normalize(
            model(
                torch.stack([preprocess.test_transform(64, 32)(load_rgb(p)) for p in images[:3]])
            ),
            dim=1,
        )
    np.testing.assert_allclose(feats, ref.numpy(), atol=1e-5)
    assert feats.shape == (3, 512)


def test_a_model_returning_a_tuple_is_rejected(images):
    class Pair(torch.nn.Module):
        def forward(self, x):
            return x.mean((2, 3)), x.mean((2, 3))

    with pytest.raises(ValueError, match="not a \\(batch, features\\) tensor"):
        extract(Pair(), images[:1], height=64, width=32)


@pytest.fixture
def dataset_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for i, name in enumerate(["query/1_1.jpg", "gallery/1_2.jpg", "gallery/2_1.jpg"]):
        write_image(root / name, seed=10 + i)
    return root


def test_embed_dataset_is_cached_by_content(dataset_root: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    model = Counting()
    ds = load_folder(dataset_root)
    first = embed_dataset(loaded(model), ds, cache_dir=cache, engine="eager")  # counts forwards
    assert not first.cached and model.seen == 3
    assert first.images == ds.table["image"].tolist()
    np.testing.assert_allclose(first.rows(["query/1_1.jpg"]), first.features[[0]])

    again = embed_dataset(loaded(model), ds, cache_dir=cache)
    assert again.cached and model.seen == 3  # nothing recomputed
    np.testing.assert_array_equal(again.features, first.features)

    moved = tmp_path / "moved"  # same contents elsewhere: still a hit
    shutil.copytree(dataset_root, moved)
    assert embed_dataset(loaded(model), load_folder(moved), cache_dir=cache).cached

    assert not embed_dataset(loaded(model), ds, cache_dir=cache, flip=True).cached
    assert not embed_dataset(loaded(model, sha1="b" * 40), ds, cache_dir=cache).cached
    write_image(dataset_root / "gallery" / "2_1.jpg", seed=99)  # changed content: a miss
    changed = embed_dataset(loaded(model), load_folder(dataset_root), cache_dir=cache)
    assert not changed.cached
    np.testing.assert_allclose(changed.features[:2], first.features[:2], atol=1e-6)
    assert np.abs(changed.features[2] - first.features[2]).max() > 1e-3


def test_embed_dataset_without_cache(dataset_root: Path):
    model = Counting()
    ds = load_folder(dataset_root)
    a = embed_dataset(loaded(model), ds, cache_dir=None, engine="eager")  # counts forwards
    b = embed_dataset(loaded(model), ds, cache_dir=None, engine="eager")
    assert model.seen == 6 and not a.cached and not b.cached
    with pytest.raises(KeyError, match="no embedding"):
        a.rows(["gallery/9_9.jpg"])


def test_embed_dataset_splits(dataset_root: Path, tmp_path: Path):
    model = Counting()
    ds = load_folder(dataset_root)
    full = embed_dataset(loaded(model), ds, cache_dir=tmp_path / "c")
    gallery = embed_dataset(loaded(model), ds, cache_dir=tmp_path / "c", splits=["gallery"])
    assert gallery.images == ["gallery/1_2.jpg", "gallery/2_1.jpg"] and not gallery.cached
    np.testing.assert_allclose(gallery.features, full.rows(gallery.images), atol=1e-6)


@pytest.mark.parametrize("arch", ["osnet_x0_25", "resnet18"])
def test_every_engine_gives_the_eager_features(images, arch):
    """ONNX Runtime, TorchScript and the model itself agree to 1e-5 on real torchreid models."""
    from explain.models.engine import engine_for, onnx_available

    if not onnx_available():
        pytest.skip("onnxruntime is not installed")
    torch.manual_seed(0)
    model = build_model(arch, 4).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics, so that folding them matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    want = extract(model, images[:5], height=64, width=32, engine="eager")
    for kind in ("onnx", "jit", "auto"):
        got = extract(model, images[:5], height=64, width=32, engine=kind, batch_size=2)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=kind)
    assert engine_for(model, "auto").kind == "onnx"
    assert engine_for(model, "auto").note == ""


def test_without_onnxruntime_auto_takes_torchscript(images, monkeypatch):
    import explain.models.engine as engine

    monkeypatch.setattr(engine, "onnx_available", lambda: False)
    torch.manual_seed(0)
    model = build_model("osnet_x0_25", 4).eval()
    extract(model, images[:2], height=64, width=32)
    assert engine.engine_for(model, "auto").kind == "jit"
