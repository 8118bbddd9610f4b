"""Inference engines: OpenVINO exact and bf16 (approximate), and the ONNX export cache."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import explain.models.engine_export as export_mod
from explain.models import engine_openvino
from explain.models.device import set_threads
from explain.models.engine import (
    BF16_KIND,
    BF16_TOLERANCE,
    EngineError,
    InferenceEngine,
    engine_for,
    onnx_available,
)
from explain.storage.cache import DiskCache

set_threads()

needs_onnx = pytest.mark.skipif(not onnx_available(), reason="onnxruntime is not installed")
needs_openvino = pytest.mark.skipif(
    not engine_openvino.openvino_available(), reason="openvino is not installed"
)


def tiny(seed: int = 0) -> nn.Module:
    """Conv, batch-norm (non-trivial statistics), ReLU, pooling, linear:
    ``(N, 3, H, W) -> (N, 6)``
    (a net of a few hundred weights)."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 6),
    )
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.5, 0.5)
        net[1].running_var.uniform_(0.5, 2.0)
    return net.eval()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr(export_mod, "_folder", tmp_path / "cache")  # put back after the test
    return tmp_path / "cache"


def eager(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


@needs_onnx
@needs_openvino
def test_openvino_equals_eager(cache_dir):
    model, x = tiny(), torch.randn(5, 3, 24, 12)
    engine = InferenceEngine(model, "openvino")
    got = engine(x).numpy()
    assert engine.kind == "openvino" and engine.note == ""
    np.testing.assert_allclose(got, eager(model, x), atol=1e-5)
    assert np.abs(got).max() > 1e-2  # not a model that returns zeros


@needs_onnx
def test_missing_openvino_falls_back_with_a_note(cache_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    assert not engine_openvino.openvino_available()
    model, x = tiny(), torch.randn(4, 3, 24, 12)
    engine = InferenceEngine(model, "openvino")
    with pytest.warns(RuntimeWarning, match="pip install openvino"):
        got = engine(x).numpy()
    assert engine.kind == "onnx"
    assert engine.note.startswith("openvino is not installed") and engine.note.endswith("ran onnx")
    np.testing.assert_allclose(got, eager(model, x), atol=1e-5)
    with pytest.raises(EngineError, match=r"pip install openvino.*engine='onnx'"):
        InferenceEngine(model, "bf16")(x)


@needs_onnx
@needs_openvino
def test_bf16_is_labelled_approximate_and_never_auto(cache_dir, monkeypatch):
    if not engine_openvino.bf16_supported():
        pytest.skip("this CPU has no bf16 units")
    model, x = tiny(), torch.randn(6, 3, 24, 12)
    want = eager(model, x)
    engine = InferenceEngine(model, "bf16")
    got = engine(x).numpy()
    assert engine.kind == BF16_KIND == "bf16 (approximate)"
    diff = np.abs(got - want).max()
    assert 0 < diff <= BF16_TOLERANCE * max(1.0, np.abs(want).max())  # rounded, not exact
    assert engine_for(model, "auto").kind != BF16_KIND
    engine_for(model, "auto")(x)
    assert engine_for(model, "auto").kind == "onnx"

    import explain.models.engine as engine_mod

    monkeypatch.setattr(engine_mod, "BF16_TOLERANCE", diff / 10)  # the check uses this bound
    with pytest.raises(EngineError, match=r"bf16 rounding is too coarse.*engine='onnx' \(exact\)"):
        InferenceEngine(model, "bf16")(x)

    monkeypatch.setattr(engine_openvino, "bf16_supported", lambda: False)
    with pytest.raises(EngineError, match="bf16 units"):
        InferenceEngine(model, "bf16")(x)


def test_auto_falls_to_eager_not_bf16(cache_dir, monkeypatch):
    def fail(*_args):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(InferenceEngine, "_build_exported", fail)
    monkeypatch.setattr(InferenceEngine, "_build_jit", fail)
    model, x = tiny(), torch.randn(2, 3, 24, 12)
    engine = InferenceEngine(model, "auto")
    with pytest.warns(RuntimeWarning, match="ran eager"):
        engine(x)
    assert engine.kind == "eager"


def entry_path(cache_dir: Path) -> Path:
    (path,) = (cache_dir / export_mod.NAMESPACE).glob("??/*.npz")
    return path


@needs_onnx
def test_export_cache_is_hit_by_the_next_engine(cache_dir):
    model, x = tiny(), torch.randn(3, 3, 24, 12)
    before = export_mod.EXPORTS["count"]
    first = InferenceEngine(model, "onnx")
    np.testing.assert_allclose(first(x).numpy(), eager(model, x), atol=1e-5)
    assert first.export_cached is False and export_mod.EXPORTS["count"] == before + 1
    second = InferenceEngine(tiny(), "onnx")  # another object, the same weights
    np.testing.assert_allclose(second(x).numpy(), eager(model, x), atol=1e-5)
    assert second.export_cached is True and export_mod.EXPORTS["count"] == before + 1

    other = InferenceEngine(tiny(seed=1), "onnx")  # other weights: another key
    np.testing.assert_allclose(other(x).numpy(), eager(tiny(seed=1), x), atol=1e-5)
    assert other.export_cached is False and export_mod.EXPORTS["count"] == before + 2
    assert len(DiskCache(cache_dir, export_mod.NAMESPACE).keys()) == 2
    assert not list(cache_dir.rglob(".tmp-*"))  # written atomically: no leftovers


@needs_onnx
def test_a_damaged_export_is_rebuilt(cache_dir):
    model, x = tiny(), torch.randn(3, 3, 24, 12)
    InferenceEngine(model, "onnx")(x)
    path = entry_path(cache_dir)
    good = path.read_bytes()

    path.write_bytes(good[: len(good) // 2])  # truncated: not an archive any more
    before = export_mod.EXPORTS["count"]
    engine = InferenceEngine(model, "onnx")
    np.testing.assert_allclose(engine(x).numpy(), eager(model, x), atol=1e-5)
    assert engine.export_cached is False and export_mod.EXPORTS["count"] == before + 1
    assert path.read_bytes() == good  # written again

    data = np.frombuffer(b"not an onnx model", np.uint8)
    DiskCache(cache_dir, export_mod.NAMESPACE).put(path.stem, {"onnx": data, "sha1": "0" * 40})
    engine = InferenceEngine(model, "onnx")  # an archive whose bytes do not match their hash
    np.testing.assert_allclose(engine(x).numpy(), eager(model, x), atol=1e-5)
    assert engine.export_cached is False and export_mod.EXPORTS["count"] == before + 2
    assert InferenceEngine(model, "onnx").export_cached is None  # not built until first used
    rebuilt = InferenceEngine(model, "onnx")
    rebuilt(x)
    assert rebuilt.export_cached is True and export_mod.EXPORTS["count"] == before + 2


@needs_onnx
def test_the_check_runs_on_a_cached_export(cache_dir):
    """An intact entry holding another model's export (as if the key had collided) fails the
    build-time check; it is deleted and the model exported again."""
    x = torch.randn(3, 3, 24, 12)
    InferenceEngine(tiny(seed=0), "onnx")(x)
    src = entry_path(cache_dir)
    stranger = tiny(seed=2)
    key = export_mod.export_key(stranger.to(memory_format=torch.channels_last), x[:1])
    dst = DiskCache(cache_dir, export_mod.NAMESPACE).path(key)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes())
    before = export_mod.EXPORTS["count"]
    engine = InferenceEngine(stranger, "onnx")
    np.testing.assert_allclose(engine(x).numpy(), eager(stranger, x), atol=1e-5)
    assert engine.export_cached is False and export_mod.EXPORTS["count"] == before + 1
    again = InferenceEngine(stranger, "onnx")  # the entry now holds the right export
    np.testing.assert_allclose(again(x).numpy(), eager(stranger, x), atol=1e-5)
    assert again.export_cached is True and export_mod.EXPORTS["count"] == before + 1


@needs_onnx
def test_an_unwritable_export_cache_is_said(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder belongs")
    monkeypatch.setattr(export_mod, "_folder", export_mod._folder)  # put back after the test
    export_mod.set_export_cache(blocker)
    model, x = tiny(), torch.randn(2, 3, 24, 12)
    engine = InferenceEngine(model, "onnx")
    with pytest.warns(RuntimeWarning, match="export cache not"):
        got = engine(x).numpy()
    assert engine.kind == "onnx" and engine.note.startswith("export cache not")
    np.testing.assert_allclose(got, eager(model, x), atol=1e-5)


def test_export_cache_folder_follows_workbench_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(export_mod, "_folder", export_mod._UNSET)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "c"))
    assert export_mod.export_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("WORKBENCH_CACHE")
    assert export_mod.export_cache_dir() == export_mod.PROJECT / ".workbench" / "cache"
    export_mod.set_export_cache(None)
    assert export_mod.export_cache_dir() is None


@pytest.mark.parametrize("kind", ["openvino", "bf16"])
def test_openvino_engines_refuse_a_model_off_the_cpu(kind):
    example = torch.zeros(1, 3, 24, 12, device="meta")  # stands in for a GPU: not the CPU
    with pytest.raises(EngineError, match=r"runs on the CPU and the model is on meta"):
        InferenceEngine(tiny(), kind).prepare(example)
