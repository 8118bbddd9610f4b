"""Maps across a checkpoint series, change scores, difference maps, and the heatmap disk cache."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from explain.heatmaps.cache import HeatmapCache, get_or_compute, heatmap_key
from explain.heatmaps.catalog import compute
from explain.heatmaps.series import (
    change_score,
    change_scores,
    difference_maps,
    series_maps,
    series_pair_maps,
)
from explain.heatmaps.targets import PairSimilarity, SelfSimilarity
from tests.models import conv_net


def loaded(seed: int, epoch: int) -> SimpleNamespace:
    return SimpleNamespace(model=conv_net(seed), epoch=epoch, sha1=f"ckpt{seed:036d}",
                           label=f"epoch {epoch}")  # fmt: skip


def test_series_maps_order_labels_and_change_scores():
    x = torch.randn(1, 3, 12, 8)
    same = conv_net(0)
    s = series_maps([same, same, conv_net(1)], x, "gradcam", layer="2")
    assert s.labels == ["model 0", "model 1", "model 2"]
    assert len(s.heatmaps) == 3 and all(h.map.shape == (12, 8) for h in s.heatmaps)
    scores = s.change_scores()
    assert scores[0] == pytest.approx(1.0) and scores[1] < 0.99
    diffs = s.differences()
    assert np.array_equal(diffs[0], np.zeros((12, 8), np.float32))
    np.testing.assert_allclose(diffs[1], s.heatmaps[2].map - s.heatmaps[1].map)
    assert diffs[1].min() >= -1 and diffs[1].max() <= 1


def test_series_of_loaded_models_with_progress():
    x = torch.randn(3, 10, 10)
    seen = []
    s = series_maps([loaded(0, 3), loaded(1, 12)], x, "hirescam", layer="2",
                    progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    assert s.labels == ["epoch 3", "epoch 12"] and s.epochs == [3, 12]
    assert seen == [(1, 2), (2, 2)]
    want = compute("hirescam", conv_net(1), x, SelfSimilarity(), layer="2")
    np.testing.assert_allclose(s.heatmaps[1].map, want.map, atol=1e-6)


def test_pair_maps_explain_both_directions():
    xq, xg = torch.randn(1, 3, 10, 8), torch.randn(1, 3, 10, 8)
    q, g = series_pair_maps([conv_net(0), conv_net(2)], xq, xg, "gradcam", layer="2")
    model = conv_net(2)
    with torch.no_grad():
        eq, eg = model(xq)[0], model(xg)[0]
    np.testing.assert_allclose(
        q.heatmaps[1].raw, compute("gradcam", model, xq, PairSimilarity(eg), layer="2").raw,
        rtol=1e-5, atol=1e-7,
    )  # fmt: skip
    np.testing.assert_allclose(
        g.heatmaps[1].raw, compute("gradcam", model, xg, PairSimilarity(eq), layer="2").raw,
        rtol=1e-5, atol=1e-7,
    )  # fmt: skip
    sim = float(torch.nn.functional.cosine_similarity(eq, eg, dim=0))
    assert q.extra["similarity"][1] == pytest.approx(sim, abs=1e-6)
    assert q.heatmaps[1].score == pytest.approx(sim, abs=1e-6)


def test_change_score_and_difference_edge_cases():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert change_score(a, a) == pytest.approx(1.0)
    assert change_score(a, -a) == pytest.approx(-1.0)
    assert np.isnan(change_score(a, np.zeros_like(a)))
    assert change_scores([a, a, -a]) == pytest.approx([1.0, -1.0])
    with pytest.raises(ValueError, match="different shapes"):
        change_score(a, a[:2])
    with pytest.raises(ValueError, match="different shapes"):
        difference_maps([a, a[:2]])
    with pytest.raises(ValueError, match="series is empty"):
        series_maps([], torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="series entry 0"):
        series_maps(["model"], torch.zeros(1, 3, 4, 4))


# --------------------------------------------------------------------------- cache


def test_keys_are_made_of_canonical_parameters():
    def key(method="occlusion", params=None, **kw):
        args = {"checkpoint": "c" * 40, "image": "i" * 40, "target": "self", "size": (256, 128)}
        args.update(kw)
        layer = args.pop("default_layer", "conv5")
        return heatmap_key(args["checkpoint"], args["image"], method, params or {},
                           args["target"], args["size"], default_layer=layer)  # fmt: skip

    base = key()
    # defaults filled in (blur: sigma window / 2), execution-only options and a colour the blur
    # baseline never uses left out, a window given as (h, w)
    assert base == key(params={"window": (16, 16), "stride": 8, "baseline": "blur",
                               "blur_sigma": 8.0, "colour": (1, 0, 0), "batch_size": 7,
                               "engine": "eager"})  # fmt: skip
    assert key(params={"baseline": "mean"}) == key(
        params={"baseline": "mean", "colour": [0.485, 0.456, 0.406]}
    )
    for change in [
        dict(params={"window": 8}), dict(params={"baseline": "mean"}), dict(target="pair:abc"),
        dict(size=(128, 64)), dict(checkpoint="d" * 40), dict(image="j" * 40),
        dict(method="gradcam"),
    ]:  # fmt: skip
        assert key(**change) != base, change
    # layer=None, no layer and the architecture's default layer are one key
    cam = key("gradcam")
    assert cam == key("gradcam", {"layer": None}) == key("gradcam", {"layer": "conv5"})
    assert cam != key("gradcam", {"layer": "conv4"})
    assert cam != key("gradcam", default_layer="layer4")
    with pytest.raises(ValueError, match="takes layer; not window"):
        key("gradcam", {"window": 3})
    with pytest.raises(ValueError, match="need the target layer"):
        heatmap_key("c" * 40, "i" * 40, "gradcam", {}, "self", (8, 8))
    with pytest.raises(ValueError, match="cannot be part of a cache key"):
        heatmap_key("c", "i", "gradcam", {"layer": object()}, "self", (8, 8))


def test_cache_round_trip_in_float16(tmp_path):
    cache = HeatmapCache(tmp_path)
    model, x = conv_net(0), torch.randn(1, 3, 12, 8)
    first = cache.get_or_compute(model, x, SelfSimilarity(), "gradcam", layer="2",
                                 checkpoint_sha1="a" * 40, image_sha1="b" * 40)  # fmt: skip
    assert "cached" not in first.info
    (entry,) = list((tmp_path / "heatmaps").glob("*/*.npz"))
    with np.load(entry) as data:
        assert data["map"].dtype == np.float16 and data["raw"].dtype == np.float16
    again = cache.get_or_compute(model, x, SelfSimilarity(), "gradcam", layer="2",
                                 checkpoint_sha1="a" * 40, image_sha1="b" * 40)  # fmt: skip
    assert again.info["cached"] is True and again.method == "gradcam"
    assert again.params == first.params and again.score == pytest.approx(first.score)
    np.testing.assert_allclose(again.map, first.map, atol=1e-3)
    np.testing.assert_allclose(again.raw, first.raw, atol=1e-3 * np.abs(first.raw).max())


def test_series_uses_the_cache(tmp_path):
    cache = HeatmapCache(tmp_path)
    series = [loaded(0, 3), loaded(1, 12)]
    x = torch.randn(1, 3, 10, 8)
    a = series_maps(series, x, "gradcam", layer="2", cache=cache, image_sha1="f" * 40)
    assert len(cache.disk.keys()) == 2
    b = series_maps(series, x, "gradcam", layer="2", cache=cache, image_sha1="f" * 40)
    assert all(h.info.get("cached") for h in b.heatmaps)
    assert not any(h.info.get("cached") for h in a.heatmaps)


def test_cache_requires_hashes_and_tolerates_concurrent_writers(tmp_path):
    cache = HeatmapCache(tmp_path)
    model, x = conv_net(0), torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="needs checkpoint_sha1 and image_sha1"):
        get_or_compute(cache, model, x, SelfSimilarity(), "gradcam", layer="2")
    hm = compute("gradcam", model, x, SelfSimilarity(), layer="2")
    key = heatmap_key("a" * 40, "b" * 40, "gradcam", {"layer": "2"}, "self", (8, 8))
    errors = []

    def write():
        try:
            for _ in range(20):
                cache.put(key, hm)
                assert cache.get(key) is not None
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not list((tmp_path / "heatmaps").glob("*/.tmp-*"))
    np.testing.assert_allclose(cache.get(key).map, hm.map, atol=1e-3)


def test_malformed_entry_raises(tmp_path):
    cache = HeatmapCache(tmp_path)
    cache.disk.put("ab" * 20, {"map": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="malformed"):
        cache.get("ab" * 20)


# --------------------------------------------------------------------------- command line


def write_series(folder, epochs=(3, 12), size=(64, 32)):
    from explain.models.adapter import build_model

    folder.mkdir(parents=True, exist_ok=True)
    for i, epoch in enumerate(epochs):
        torch.manual_seed(i)
        model = build_model("osnet_x0_25", 4)
        torch.save({"state_dict": model.state_dict(), "epoch": epoch, "arch": "osnet_x0_25",
                    "num_classes": 4, "height": size[0], "width": size[1]},
                   folder / f"model.pth.tar-{epoch}")  # fmt: skip
    return folder


def test_cli_maps_writes_overlays_and_change_scores(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from workbench.cli import main

    series = write_series(tmp_path / "series")
    rng = np.random.default_rng(0)
    for name in ("q_1.jpg", "g_1.jpg"):
        Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(tmp_path / name)
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["explain", "maps", "--checkpoints", str(series), "--image", str(tmp_path / "q_1.jpg"),
            "--method", "gradcam,occlusion", "--window", "8", "--stride", "8", "--out", str(out),
            "--cache", str(cache), "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "epoch 3 -> epoch 12: Spearman" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert "q_1_gradcam_self_series.png" in names and "q_1_occlusion_self_epoch12.png" in names
    with Image.open(out / "q_1_gradcam_self_series.png") as img:
        assert img.size == (2 * 32, 64 + 14 + 10 + 14)  # labels, tiles, colour bar, its labels
        left, right = img.getpixel((1, 64 + 14 + 5)), img.getpixel((2 * 32 - 2, 64 + 14 + 5))
    assert right[0] > 100 and right[2] < 60  # the bar's high end is red (jet), its low end blue
    assert left[2] > 100 and left[0] < 60
    assert len(list((cache / "heatmaps").glob("*/*.npz"))) == 4
    more = ["--match", str(tmp_path / "g_1.jpg"), "--method", "hirescam", "--no-cache"]
    pair = CliRunner().invoke(main, [*args[:6], *more, "--out", str(out)])
    assert pair.exit_code == 0, pair.output
    written = {p.name for p in out.iterdir()}
    assert (
        "pair similarity: epoch 3" in pair.output and "g_1_hirescam_pair-q_1_series.png" in written
    )
    # the pair run wrote beside the self run, it did not overwrite it
    assert {"q_1_hirescam_pair-g_1_series.png", "q_1_gradcam_self_series.png"} <= written
    assert "pair similarity at epoch 12: " in pair.output and "keypoints in common" in pair.output
    same = [*args[:6], "--match", str(tmp_path / "q_1.jpg"), "--method", "gradcam", "--no-cache"]
    itself = CliRunner().invoke(main, [*same, "--out", str(out)])
    assert itself.exit_code == 0, itself.output
    assert "warning: Pair explanation not informative: both sides are the same file" in (
        itself.output
    )
    seg = np.zeros((64, 32, 3), dtype=np.uint8)
    seg[16:48, 8:24] = rng.integers(60, 255, (32, 16, 3), dtype=np.uint8)  # an "animal" on black
    Image.fromarray(seg).save(tmp_path / "s_1.png")
    on_animal = CliRunner().invoke(main, ["explain", "maps", "--checkpoints", str(series),
                                          "--image", str(tmp_path / "s_1.png"), "--method",
                                          "gradcam", "--out", str(out), "--no-cache"])  # fmt: skip
    assert on_animal.exit_code == 0, on_animal.output
    line = next(ln for ln in on_animal.output.splitlines() if "on the animal:" in ln)
    masses = [float(v.split()[-1]) for v in line.split(":", 1)[1].split("(")[0].split(",")]
    assert len(masses) == 2 and all(0.0 <= m <= 1.0 for m in masses)
    bad = CliRunner().invoke(main, [*args[:6], "--method", "gradcam,nope"])
    assert bad.exit_code != 0 and "unknown method(s) nope" in bad.output
