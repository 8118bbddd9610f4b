"""The heatmap contract on tiny hand-built models: exact planted maps, no side effects."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_grad_cam import GradCAM, HiResCAM
from torch import nn

from explain.heatmaps.base import Heatmap, explaining, minmax, positive_map, resize
from explain.heatmaps.catalog import METHODS, available, compute, get_method, register, unregister
from explain.heatmaps.layers import default_layer, layer_choices, layer_shapes, resolve_layer
from explain.heatmaps.targets import PairSimilarity, SelfSimilarity
from tests.models import Planted, one_conv, planted_input, planted_region, strided_net

BUILTIN = ["gradcam", "gradcam++", "hirescam", "eigencam", "randomcam", "activation", "occlusion"]
ALL = available()  # every method of the catalog keeps the contract, new ones included


def hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks)
        for m in model.modules()
    )


def params_for(name: str) -> dict:
    if name == "occlusion":
        return {"window": 2, "stride": 1, "engine": "eager"}
    return {"layer": "body"}


@pytest.mark.parametrize("name", ["gradcam", "gradcam++", "hirescam", "activation"])
def test_planted_region_is_recovered_exactly(name):
    hm = compute(name, Planted(), planted_input(), SelfSimilarity(), layer="body")
    np.testing.assert_allclose(hm.map, planted_region(), atol=1e-6)
    assert hm.raw.shape == (8, 8) and hm.params["layer"] == "body"


def test_eigencam_finds_the_region_up_to_the_svd_sign():
    hm = compute("eigencam", Planted(), planted_input(), SelfSimilarity(), layer="body")
    region = planted_region()
    assert np.allclose(hm.map, region, atol=1e-6) or np.allclose(hm.map, 1 - region, atol=1e-6)


def test_gradcam_raw_values():
    # e = (sum A0, sum A1 + 1) = (9, 33); SelfSimilarity's gradient is e / |e|^2 per position,
    # Grad-CAM weights are its mean (the same), raw = w0 * A0 + w1 * A1
    hm = compute("gradcam", Planted(), planted_input(), SelfSimilarity(), layer="body")
    e = np.array([9.0, 33.0])
    w = e / (e @ e)
    want = w[0] * planted_input()[0, 0].numpy() + w[1] * 0.5
    np.testing.assert_allclose(hm.raw, want, rtol=1e-5)
    assert hm.score == pytest.approx(1.0)


@pytest.mark.parametrize("cls, name", [(GradCAM, "gradcam"), (HiResCAM, "hirescam")])
def test_maps_equal_the_library_call(cls, name):
    model = strided_net(0)
    x = torch.randn(1, 3, 16, 12)
    ref = PairSimilarity(torch.randn(5))
    with cls(model=model, target_layers=[model[3]]) as cam:
        want = cam(input_tensor=x.clone(), targets=[ref])[0]
    got = compute(name, model, x, ref, layer="3")
    assert got.map.shape == (16, 12) and got.raw.shape == (8, 6)
    np.testing.assert_allclose(got.map, want, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_contract_and_no_side_effects(name):
    torch.manual_seed(1)
    model = Planted().train()
    model.body.weight.requires_grad_(True)
    model.body.weight.grad = torch.full_like(model.body.weight, 7.0)
    model.drop.eval()  # mixed modes must come back as they were
    x = planted_input() + 0.01 * torch.randn(1, 3, 8, 8)
    x_before = x.clone()
    hm = compute(name, model, x, SelfSimilarity(), **params_for(name))
    assert isinstance(hm, Heatmap) and hm.method == name
    assert hm.map.shape == (8, 8) and hm.map.dtype == np.float32
    assert hm.map.min() >= 0.0 and hm.map.max() <= 1.0
    assert hm.raw.dtype == np.float32 and np.isfinite(hm.raw).all()
    assert torch.equal(x, x_before) and not x.requires_grad
    assert model.training and not model.drop.training
    assert model.body.weight.requires_grad
    assert torch.equal(model.body.weight.grad, torch.full_like(model.body.weight, 7.0))
    assert hooks(model) == 0


class Boom:
    """A target that fails inside the backward-producing call."""

    def __call__(self, embedding):
        raise RuntimeError("boom")

    def bind(self, clean_embedding):
        return self

    def key(self):
        return "boom"


@pytest.mark.parametrize("name", ALL)
def test_hooks_and_modes_restored_after_an_exception(name):
    model = Planted().train()
    before = hooks(model)
    with pytest.raises(RuntimeError, match="boom"):
        compute(name, model, planted_input(), Boom(), **params_for(name))
    assert hooks(model) == before == 0
    assert model.training and model.body.weight.requires_grad


def test_no_argmax_fallback():
    with pytest.raises(ValueError, match="target is required"):
        compute("gradcam", Planted(), planted_input(), None, layer="body")


def test_registry():
    assert set(BUILTIN) <= set(ALL)
    assert get_method("gradcam") is METHODS["gradcam"]
    with pytest.raises(ValueError, match="unknown heatmap method 'nope'"):
        get_method("nope")
    with pytest.raises(ValueError, match="registered twice"):
        register("gradcam")(lambda *a, **k: None)


def test_bad_input_shapes_raise():
    with pytest.raises(ValueError, match=r"\(3, H, W\)"):
        compute("gradcam", Planted(), torch.zeros(2, 3, 8, 8), SelfSimilarity(), layer="body")
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        compute("gradcam", Planted(), planted_input(), SelfSimilarity(), layer="nope")
    with pytest.raises(ValueError, match="no default target layer for Planted"):
        compute("gradcam", Planted(), planted_input(), SelfSimilarity())


def test_3d_input_is_accepted():
    hm = compute("gradcam", Planted(), planted_input()[0], SelfSimilarity(), layer="body")
    np.testing.assert_allclose(hm.map, planted_region(), atol=1e-6)


def test_randomcam_is_seeded():
    model = one_conv(0, 8)
    x = torch.randn(1, 3, 10, 10)
    a = compute("randomcam", model, x, SelfSimilarity(), layer="1", seed=3)
    b = compute("randomcam", model, x, SelfSimilarity(), layer="1", seed=3)
    c = compute("randomcam", model, x, SelfSimilarity(), layer="1", seed=4)
    assert np.array_equal(a.map, b.map) and not np.array_equal(a.map, c.map)


def test_osnet_default_layer_and_shapes():
    from explain.models.adapter import build_model

    model = build_model("osnet_x0_25", 5).eval()
    assert default_layer(model) == "conv5"
    assert resolve_layer(model, "conv3.1")[1] is model.conv3[1]
    assert layer_choices(model) == ["conv5", "conv3.1", "conv2.1"]
    shapes = layer_shapes(model, ["conv5", "conv4", "conv3.1", "conv2.1"])
    assert shapes == {"conv5": (16, 8), "conv4": (16, 8), "conv3.1": (32, 16), "conv2.1": (64, 32)}
    x = torch.randn(1, 3, 256, 128)
    hm = compute("gradcam", model, x, SelfSimilarity())
    assert hm.map.shape == (256, 128) and hm.raw.shape == (16, 8)
    assert hm.params["layer"] == "conv5"
    assert hooks(model) == 0 and not model.training


def test_explaining_rejects_non_modules():
    with pytest.raises(ValueError, match="nn.Module"), explaining("model"):
        pass


def test_map_helpers():
    assert minmax(np.full((2, 2), 3.0)).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert minmax(np.array([[1.0, 3.0]])).tolist() == [[0.0, 1.0]]
    assert positive_map(np.array([[-1.0, 2.0]]), (1, 2)).tolist() == [[0.0, 1.0]]
    assert positive_map(np.array([[-1.0, -2.0]]), (1, 2)).tolist() == [[0.0, 0.0]]
    up = resize(np.array([[0.0, 1.0]], dtype=np.float32), (1, 4))
    np.testing.assert_allclose(up, [[0.0, 0.25, 0.75, 1.0]])


# --------------------------------------------------------------------------- the contract guard


def _fake(map_, raw=None, score=0.5):
    """A 'method' returning ``map_`` (and ``raw``) whatever the input."""

    def method(model, x, target, **_):
        m = np.asarray(map_)
        r = np.zeros((2, 2), np.float32) if raw is None else np.asarray(raw)
        return Heatmap(map=m, raw=r, method="fake", score=score)

    return method


@pytest.fixture
def fake_method():
    """``fake_method(fn)`` registers ``fn`` as ``fake`` for one test, returns its guarded form."""
    made = []

    def make(fn):
        made.append(register("fake")(fn))
        return made[-1]

    yield make
    if "fake" in METHODS:
        unregister("fake")


def ones(value: float, shape=(8, 8), dtype=np.float32) -> np.ndarray:
    return np.full(shape, value, dtype=dtype)


def with_nan() -> np.ndarray:
    m = ones(0.5)
    m[3, 4] = np.nan
    m[0, 0] = np.inf
    return m


@pytest.mark.parametrize(
    "map_, raw, score, message",
    [
        (with_nan(), None, 0.5,
         "heatmap method 'fake' returned a map with 2 NaN or infinite value(s) of 64; the "
         "model's weights or its input are broken (check the checkpoint with `workbench "
         "checkpoints`)"),
        (ones(0.5), np.full((2, 2), np.nan, np.float32), 0.5,
         "heatmap method 'fake' returned a raw with 4 NaN or infinite value(s) of 4"),
        (ones(1.5), None, 0.5,
         "heatmap method 'fake' returned map values in [1.5, 1.5], outside [0, 1]"),
        (np.linspace(-0.25, 1, 64, dtype=np.float32).reshape(8, 8), None, 0.5,
         "heatmap method 'fake' returned map values in [-0.25, 1], outside [0, 1]"),
        (ones(0.5, (4, 4)), None, 0.5,
         "heatmap method 'fake' returned a map of shape (4, 4), not the input's (H, W) (8, 8)"),
        (ones(0.5, (8, 8, 1)), None, 0.5,
         "heatmap method 'fake' returned a map of (8, 8, 1), not a non-empty 2-D array"),
        (ones(0.5, dtype=np.float64), None, 0.5,
         "heatmap method 'fake' returned a map of dtype float64, not float32"),
        (ones(0.5), None, float("nan"),
         "heatmap method 'fake': the target's value on the image is nan: the model's output is "
         "not finite"),
    ],
    ids=["nan-map", "nan-raw", "above-one", "below-zero", "wrong-shape", "3-d", "float64",
         "nan-score"],
)  # fmt: skip
def test_contract_guard_refuses_a_broken_map(fake_method, map_, raw, score, message):
    fake_method(_fake(map_, raw, score))
    with pytest.raises(ValueError) as info:
        compute("fake", Planted(), planted_input(), SelfSimilarity())
    assert str(info.value).startswith(message), str(info.value)
    with pytest.raises(ValueError):  # the method called through the registry by name is guarded
        get_method("fake")(Planted(), planted_input(), SelfSimilarity())


def test_contract_guard_turns_a_constant_map_into_the_empty_map(fake_method):
    guarded = fake_method(_fake(ones(0.7)))
    hm = compute("fake", Planted(), planted_input(), SelfSimilarity())
    assert hm.map.dtype == np.float32 and hm.map.shape == (8, 8)
    assert float(hm.map.max()) == 0.0  # what the CLI and the pages report as an empty map
    assert hm.info["constant_map"] == pytest.approx(0.7)
    assert guarded(Planted(), planted_input(), SelfSimilarity()).map.max() == 0.0
    fine = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    unregister("fake")
    fake_method(_fake(fine))
    out = compute("fake", Planted(), planted_input(), SelfSimilarity())
    assert out.map is not None and np.array_equal(out.map, fine) and "constant_map" not in out.info


def test_registered_methods_are_guarded_and_keep_their_signature():
    import inspect

    fn = get_method("occlusion")
    assert fn.__wrapped__.__name__ == "occlusion"
    assert "window" in inspect.signature(fn).parameters
    assert register("gradcam")(get_method("gradcam").__wrapped__) is get_method("gradcam")
