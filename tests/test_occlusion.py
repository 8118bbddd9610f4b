"""Occlusion: exact planted maps, equality with captum's Occlusion, skipping, engines."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from captum.attr import Occlusion

from explain.heatmaps.catalog import compute
from explain.heatmaps.methods.occlusion import baseline_image, occlusion_attribution, windows
from explain.heatmaps.targets import PairSimilarity, SelfSimilarity
from explain.models.engine import EngineError, InferenceEngine, engine_for
from explain.models.preprocess import IMAGENET_MEAN, IMAGENET_STD
from tests.models import First, RegionSum, small_net


def brute_force(f, x, base, wh, ww, sh, sw):
    """Occlusion from its definition, with loops (independent of the implementation)."""
    h, w = x.shape[2:]
    f = torch.no_grad()(f)
    total, count = np.zeros((h, w)), np.zeros((h, w))
    clean = float(f(x))
    for r in range(0, h - wh + sh, sh):  # captum: ceil((h - wh) / sh) + 1 positions
        for c in range(0, w - ww + sw, sw):
            xp = x.clone()
            xp[..., r : r + wh, c : c + ww] = base[..., r : r + wh, c : c + ww]
            total[r : r + wh, c : c + ww] += clean - float(f(xp))
            count[r : r + wh, c : c + ww] += 1
    return total / count


def captum(f, x, base, wh, ww, sh, sw, ppe=7):
    occ = Occlusion(lambda b: f(b))
    with torch.no_grad():
        a = occ.attribute(x, sliding_window_shapes=(3, wh, ww), strides=(3, sh, sw),
                          baselines=base, perturbations_per_eval=ppe)  # fmt: skip
    return a[0, 0].numpy()


def test_planted_region_exact_values():
    # region rows 2-3, cols 4-5 on an 8x8 image, windows 2x2 stride 2: only window (2, 4) sees it
    model = RegionSum(slice(2, 4), slice(4, 6))
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0, 2:4, 4:6] = 1.0
    hm = compute("occlusion", model, x, First(), window=2, stride=2, engine="eager",
                 baseline="mean")  # fmt: skip
    want = np.zeros((8, 8), dtype=np.float32)
    want[2:4, 4:6] = 4.0  # hiding the window removes all four ones
    np.testing.assert_array_equal(hm.raw, want)
    np.testing.assert_array_equal(hm.map, want / 4)
    assert hm.score == 4.0 and hm.info["windows"] == 16


def test_planted_region_overlapping_windows():
    model = RegionSum(slice(2, 5), slice(3, 6))
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0, 2:5, 3:6] = 1.0
    hm = compute("occlusion", model, x, First(), window=3, stride=1, engine="eager",
                 baseline="mean")  # fmt: skip
    want = brute_force(lambda b: model(b)[0, 0], x, torch.zeros_like(x), 3, 3, 1, 1)
    np.testing.assert_allclose(hm.raw, want, atol=1e-6)
    # centre pixel: 9 covering windows hide (2 + 3 + 2) x (2 + 3 + 2) ones in total
    assert hm.raw[3, 4] == pytest.approx(49 / 9)
    assert hm.raw.argmax() == 3 * 8 + 4


@pytest.mark.parametrize(
    "size, window, stride",
    [((16, 12), (4, 4), (2, 2)), ((13, 11), (4, 4), (3, 3)), ((12, 10), (5, 3), (2, 3)),
     ((9, 9), (9, 9), (1, 1)), ((10, 8), (3, 2), (1, 1))],
)  # fmt: skip
@pytest.mark.parametrize("baseline", ["black", "mean", "blur"])
def test_equals_captum(size, window, stride, baseline):
    net = small_net()
    x = torch.randn(1, 3, *size)
    target = SelfSimilarity().bind(net(x)[0].detach())
    base = baseline_image(x, baseline, window=min(window))
    want = captum(lambda b: target(net(b)), x, base, *window, *stride)
    got, info = occlusion_attribution(
        lambda b: target(net(b)), x, base, window, stride, batch_size=5
    )
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got, brute_force(lambda b: target(net(b)), x, base, *window,
                                                *stride), atol=1e-5)  # fmt: skip
    assert info["windows"] == len(windows(size, window, stride))


@pytest.mark.parametrize("engine", ["eager", "jit", "onnx"])
def test_method_equals_captum_with_pair_target(engine):
    net = small_net(3, pool=1)
    x, ref = torch.randn(1, 3, 20, 14), torch.randn(6)
    target = PairSimilarity(ref)
    hm = compute("occlusion", net, x, target, window=4, stride=2, baseline="blur",
                 engine=engine, batch_size=16)  # fmt: skip
    base = baseline_image(x, "blur", window=4)
    want = captum(lambda b: target(net(b)), x, base, 4, 4, 2, 2)
    np.testing.assert_allclose(hm.raw, want, atol=1e-5)
    assert hm.info["engine"] == engine
    assert hm.params == {"window": [4, 4], "stride": [2, 2], "baseline": "blur", "blur_sigma": 2.0}


def test_auto_engine_says_when_it_runs_eager():
    net = small_net(5)  # adaptive pooling to 2x2 of a 5x4 map: the optimised graph rejects it
    x = torch.randn(1, 3, 10, 8)
    with pytest.warns(RuntimeWarning, match="ran eager"):
        hm = compute("occlusion", net, x, SelfSimilarity(), window=2, stride=2, baseline="mean")
    note = hm.info["engine_note"]
    assert hm.info["engine"] == "eager" and "jit tracing failed" in note, note
    assert "onnx export failed" in note and note.endswith("ran eager"), note
    target = SelfSimilarity().bind(net(x)[0].detach())
    want = captum(lambda b: target(net(b)), x, torch.zeros_like(x), 2, 2, 2, 2)
    np.testing.assert_allclose(hm.raw, want, atol=1e-5)
    with pytest.raises(EngineError, match="use engine='eager'"):
        compute("occlusion", small_net(6), x, SelfSimilarity(), window=2, stride=2, engine="jit")
    with pytest.raises(EngineError, match=r"ONNX export failed .*use engine='eager'"):
        compute("occlusion", small_net(7), x, SelfSimilarity(), window=2, stride=2, engine="onnx")


def test_windows_match_captum_counts():
    for h, wh, sh in [(256, 16, 8), (250, 16, 8), (13, 4, 3), (9, 9, 1)]:
        rows = {r for r, _, _, _ in windows((h, wh), wh, sh)}
        assert len(rows) == math.ceil((h - wh) / sh) + 1
        assert max(r1 for _, r1, _, _ in windows((h, wh), wh, sh)) == h
    assert len(windows((256, 128), 16, 8)) == 31 * 15


def test_black_background_windows_are_skipped_and_exact():
    net = small_net(1)
    x = torch.randn(1, 3, 16, 16)
    black = baseline_image(x, "black")
    x[..., :, 8:] = black[..., :, 8:]  # right half is black, as a segmented photo's background
    target = SelfSimilarity().bind(net(x)[0].detach())
    got, info = occlusion_attribution(lambda b: target(net(b)), x, black, 4, 2, batch_size=8)
    want = captum(lambda b: target(net(b)), x, black, 4, 4, 2, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)
    # windows starting at column >= 8 change nothing: 7 rows x 3 columns of them
    assert info["skipped"] == 7 * 3 and info["evaluated"] == info["windows"] - 21
    # a preprocessed black pixel equals the black baseline bit for bit
    from PIL import Image

    from explain.models.preprocess import to_input

    img = to_input(Image.new("RGB", (4, 8)), 8, 4)
    assert torch.equal(img, baseline_image(img, "black"))


def test_blur_keeps_flat_background_exact_and_skips_its_windows():
    net = small_net(1)
    torch.manual_seed(3)
    x = torch.randn(1, 3, 24, 24)
    black = baseline_image(x, "black")
    x[..., :, 12:] = black[..., :, 12:]  # right half black
    base = baseline_image(x, "blur", window=4, blur_sigma=1.0)  # kernel 7: reaches 3 px
    raw = TF.gaussian_blur(x, [7, 7], [1.0, 1.0])
    assert not torch.equal(raw[..., :, 16:], x[..., :, 16:])  # plain blur: rounding differs
    assert torch.equal(base[..., :, 16:], x[..., :, 16:])  # far from the edge: exact
    assert not torch.allclose(base[..., :, 10:14], x[..., :, 10:14])  # near it: really blurred
    assert float((base - raw).abs().max()) <= 1e-5
    target = SelfSimilarity().bind(net(x)[0].detach())
    got, info = occlusion_attribution(lambda b: target(net(b)), x, base, 4, 2, batch_size=8)
    np.testing.assert_allclose(got, captum(lambda b: target(net(b)), x, base, 4, 4, 2, 2),
                               atol=1e-5)  # fmt: skip
    # windows starting at column >= 16 (and ending by 24) see only exact pixels: 11 rows x 3
    assert info["skipped"] >= 11 * 3


def test_mean_baseline_is_captums_default_zero():
    x = torch.randn(1, 3, 4, 4)
    assert torch.allclose(baseline_image(x, "mean"), torch.zeros_like(x), atol=1e-7)
    custom = baseline_image(x, "mean", colour=(1.0, 1.0, 1.0))
    want = (1 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(custom[0, :, 0, 0], want)


def test_progress_and_determinism():
    net = small_net(2)
    x = torch.randn(1, 3, 12, 12)
    calls = []
    a = compute("occlusion", net, x, SelfSimilarity(), window=4, stride=2, batch_size=10,
                progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    b = compute("occlusion", net, x, SelfSimilarity(), window=4, stride=2, batch_size=10)
    assert np.array_equal(a.raw, b.raw)
    assert calls[-1] == (25, 25) and [c[0] for c in calls] == [9, 19, 25]
    assert a.info["forwards"] == 3  # clean image rides in the first batch


def test_bad_parameters_raise():
    net = small_net()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="must not exceed the window"):
        compute("occlusion", net, x, SelfSimilarity(), window=2, stride=3)
    with pytest.raises(ValueError, match="larger than the image"):
        compute("occlusion", net, x, SelfSimilarity(), window=9)
    with pytest.raises(ValueError, match="baseline must be one of"):
        compute("occlusion", net, x, SelfSimilarity(), baseline="grey")
    with pytest.raises(ValueError, match="colour"):
        compute("occlusion", net, x, SelfSimilarity(), baseline="mean", colour=(2, 0, 0))
    with pytest.raises(ValueError, match="engine must be"):
        InferenceEngine(net, "fast")


def test_engine_follows_weight_changes():
    net = small_net(4)
    x = torch.randn(1, 3, 12, 12)
    first = engine_for(net)
    assert engine_for(net) is first
    a = compute("occlusion", net, x, SelfSimilarity(), window=4, stride=4, baseline="mean")
    with torch.no_grad():
        net[0].weight.mul_(-1.0)
    assert engine_for(net) is not first
    b = compute("occlusion", net, x, SelfSimilarity(), window=4, stride=4, baseline="mean")
    target = SelfSimilarity().bind(net(x)[0].detach())
    want = captum(lambda t: target(net(t)), x, torch.zeros_like(x), 4, 4, 4, 4)
    np.testing.assert_allclose(b.raw, want, atol=1e-5)
    assert not np.allclose(a.raw, b.raw)


def test_osnet_small_input_equals_captum():
    from explain.models.adapter import build_model

    torch.manual_seed(0)
    model = build_model("osnet_x0_25", 5).eval()
    x = torch.randn(1, 3, 64, 32)
    ref = torch.randn(512)
    target = PairSimilarity(ref)
    hm = compute("occlusion", model, x, target, window=8, stride=4, baseline="mean")
    with torch.no_grad():
        want = captum(lambda b: target(model(b)), x, torch.zeros_like(x), 8, 8, 4, 4, ppe=64)
    np.testing.assert_allclose(hm.raw, want, atol=1e-4)
    assert np.abs(want).max() > 1e-4  # the comparison is not trivially small


def test_jit_trace_is_shared_by_models_of_one_architecture(monkeypatch):
    from explain.models import engine as eng

    calls = []
    real_trace = torch.jit.trace
    monkeypatch.setattr(torch.jit, "trace", lambda *a, **k: calls.append(1) or real_trace(*a, **k))
    x = torch.randn(1, 3, 12, 10)
    nets = [small_net(seed, pool=1) for seed in (7, 8)]
    key = eng._trace_key(nets[0], x)
    eng._TRACES.pop(key, None)
    for net in nets:
        hm = compute("occlusion", net, x, SelfSimilarity(), window=4, stride=2, engine="jit",
                     baseline="mean")  # fmt: skip
        target = SelfSimilarity().bind(net(x)[0].detach())
        want = captum(lambda b, n=net, t=target: t(n(b)), x, torch.zeros_like(x), 4, 4, 2, 2)
        np.testing.assert_allclose(hm.raw, want, atol=1e-5)
    assert key in eng._TRACES and eng._trace_key(nets[1], x) == key
    assert len(calls) == 1  # the second model loaded its weights into a copy of the trace


@pytest.mark.parametrize(("size", "window", "stride", "baseline"),
                         [((128, 64), 16, 8, "blur"), ((96, 48), 12, 5, "mean"),
                          ((64, 32), 8, 8, "black")])  # fmt: skip
def test_incremental_osnet_equals_captum(size, window, stride, baseline):
    from explain.models.adapter import build_model

    torch.manual_seed(1)
    model = build_model("osnet_x0_25", 5).eval()
    for p in model.parameters():  # trained-looking weights: random batch-norm statistics
        p.data.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(1, 3, *size)
    x[..., : size[0] // 3, :] = baseline_image(x, "black")[..., : size[0] // 3, :]  # a black band
    ref = torch.randn(512)
    target = PairSimilarity(ref)
    hm = compute("occlusion", model, x, target, window=window, stride=stride, baseline=baseline,
                 incremental=True, batch_size=7)  # fmt: skip
    assert hm.info["incremental"] is True and hm.info["engine"] == "onnx"
    base = baseline_image(x, baseline, window=window)
    with torch.no_grad():
        want = captum(lambda b: target(model(b)), x, base, window, window, stride, stride, ppe=64)
    scale = float(np.abs(want).max())
    assert scale > 1e-4  # the comparison is not trivially small
    np.testing.assert_allclose(hm.raw, want, atol=scale * 1e-3)
    dense = compute("occlusion", model, x, target, window=window, stride=stride,
                    baseline=baseline)  # fmt: skip
    assert dense.info["incremental"] is False
    np.testing.assert_allclose(hm.raw, dense.raw, atol=scale * 1e-4)


def test_incremental_falls_back_and_says_why():
    from explain.models.adapter import build_model

    x = torch.randn(1, 3, 20, 14)
    hm = compute("occlusion", small_net(3, pool=1), x, SelfSimilarity(), window=4, stride=2,
                 incremental=True)  # fmt: skip
    assert hm.info["incremental"] is False
    assert "is not torchreid's OSNet" in hm.info["incremental_note"]
    model = build_model("osnet_x0_25", 5).eval()
    hm = compute("occlusion", model, torch.randn(1, 3, 66, 34), SelfSimilarity(), window=8,
                 stride=8, incremental=True)  # fmt: skip
    assert hm.info["incremental"] is False
    assert "not a multiple of the stem stride 4" in hm.info["incremental_note"]
    ibn = build_model("osnet_ibn_x1_0", 5).eval()
    from explain.heatmaps.methods._incremental import Unsupported, _check_structure

    with pytest.raises(Unsupported, match="instance normalisation"):
        _check_structure(ibn)


def test_incremental_refuses_a_split_that_differs(monkeypatch):
    from explain.heatmaps.methods import _incremental
    from explain.models.adapter import build_model

    model = build_model("osnet_x0_25", 5).eval()
    x = torch.randn(1, 3, 64, 32)
    real = _incremental.IncrementalOSNet.__call__
    monkeypatch.setattr(_incremental.IncrementalOSNet, "__call__",
                        lambda self, wins: real(self, wins) + 0.1)  # fmt: skip
    hm = compute("occlusion", model, x, SelfSimilarity(), window=8, stride=8, incremental=True)
    assert hm.info["incremental"] is False
    assert "split model differs from the model" in hm.info["incremental_note"]
