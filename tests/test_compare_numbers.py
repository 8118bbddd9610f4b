"""The numbers :func:`explain.compare.series.compare_series` returns on a small case, pinned:
metrics, artifact mass (any artifact, and per artifact summed), counterfactual drops, the grid
images, so making the comparison faster cannot change what it reports. The values were taken
from the one-image-at-a-time computation (one Grad-CAM forward and backward per photo and
checkpoint) before the batched one replaced it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from curation.dataset import load_dataset
from explain.compare.series import compare_series
from explain.heatmaps.cache import HeatmapCache
from tests.test_compare import series

# (series, epoch, subset): (mAP, rank1, mINP)
METRICS = {
    ("baseline", 1, "all"): (0.24665761, 0.25, 0.18156376),
    ("baseline", 1, "clean"): (0.18372125, 0.0, 0.23809524),
    ("baseline", 2, "all"): (0.24462804, 0.125, 0.19454264),
    ("baseline", 2, "clean"): (0.1956852, 0.0, 0.25),
    ("curated", 1, "all"): (0.22910304, 0.125, 0.18658062),
    ("curated", 1, "clean"): (0.20769374, 0.0, 0.27777778),
    ("curated", 2, "all"): (0.2380829, 0.0, 0.23272947),
    ("curated", 2, "clean"): (0.16778448, 0.0, 0.2173913),
}
# (series, method, epoch, group): (mass_mean, enrichment_mean, n), artifact "any"
MASS = {
    ("baseline", "gradcam", 1, "clean"): (0.032824928, 0.89195806, 5),
    ("baseline", "gradcam", 1, "polluted"): (0.058047189, 0.84155645, 5),
    ("baseline", "gradcam", 2, "clean"): (0.035621588, 0.97895659, 5),
    ("baseline", "gradcam", 2, "polluted"): (0.057014565, 0.84915216, 5),
    ("baseline", "gradcam++", 1, "clean"): (0.032907278, 0.89602384, 5),
    ("baseline", "gradcam++", 1, "polluted"): (0.057954257, 0.84050133, 5),
    ("baseline", "gradcam++", 2, "clean"): (0.035602883, 0.97874489, 5),
    ("baseline", "gradcam++", 2, "polluted"): (0.056992835, 0.84913267, 5),
    ("curated", "gradcam", 1, "clean"): (0.032652638, 0.89343807, 5),
    ("curated", "gradcam", 1, "polluted"): (0.054103828, 0.77485023, 5),
    ("curated", "gradcam", 2, "clean"): (0.034851552, 0.96278451, 5),
    ("curated", "gradcam", 2, "polluted"): (0.055494048, 0.82055706, 5),
    ("curated", "gradcam++", 1, "clean"): (0.032674767, 0.89345329, 5),
    ("curated", "gradcam++", 1, "polluted"): (0.054302807, 0.77779778, 5),
    ("curated", "gradcam++", 2, "clean"): (0.034923993, 0.9644454, 5),
    ("curated", "gradcam++", 2, "polluted"): (0.055544358, 0.82105424, 5),
}
# (series, method): (sum of the per-artifact mass_mean, rows)
PER_ARTIFACT = {
    ("baseline", "gradcam"): (0.50233995, 12),
    ("baseline", "gradcam++"): (0.50216314, 12),
    ("curated", "gradcam"): (0.48567747, 12),
    ("curated", "gradcam++"): (0.48668037, 12),
}
# (series, epoch, group): (drop_pair_mean, drop_self_mean, n)
DROPS = {
    ("baseline", 1, "all"): (-7.2208641e-05, 0.00017091632, 10),
    ("baseline", 1, "clean"): (0.00023348331, 7.5542927e-05, 5),
    ("baseline", 1, "polluted"): (-0.0003779006, 0.00026628971, 5),
    ("baseline", 2, "all"): (6.2258543e-05, 0.00011045933, 10),
    ("baseline", 2, "clean"): (0.00012017906, 2.6345253e-05, 5),
    ("baseline", 2, "polluted"): (4.3380307e-06, 0.0001945734, 5),
    ("curated", 1, "all"): (0.00013831109, 7.2222948e-05, 10),
    ("curated", 1, "clean"): (4.624486e-05, 5.0413609e-05, 5),
    ("curated", 1, "polluted"): (0.00023037732, 9.4032288e-05, 5),
    ("curated", 2, "all"): (0.00067202299, 0.0002435267, 10),
    ("curated", 2, "clean"): (0.0003779781, 0.0001316905, 5),
    ("curated", 2, "polluted"): (0.00096606789, 0.00035536289, 5),
}
QUERIES = ["query/83184_6.jpg", "query/83273_5.jpg"]
COLUMNS = ["baseline e1", "baseline e2", "curated e1", "curated e2"]
GRID_MEAN = {"gradcam": 180.98404, "gradcam++": 180.98806}  # mean RGB value of the grid PNG


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    from workbench.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("pinned")
    config = SynthConfig(seed=2, n_train_ids=6, n_test_ids=6, n_gallery_distractors=2,
                         n_query_without_gallery=0, height=64, width=32, test_artifact_rate=0.4,
                         polluted_fraction=0.5)  # fmt: skip
    generate(base / "pets", config)
    ds = load_dataset(base / "pets", check="none")
    torch.set_num_threads(1)
    return compare_series(
        ds, series(base / "a", 1), series(base / "b", 2), methods=["gradcam", "gradcam++"],
        n_queries=2, limit=10, cache=HeatmapCache(base / "cache"),
    )  # fmt: skip


def test_metrics_are_the_pinned_ones(comparison):
    got = {(r.series, r.epoch, r.subset): (r.mAP, r.rank1, r.mINP)
           for r in comparison.metrics.itertuples()}  # fmt: skip
    assert got.keys() == METRICS.keys()
    for key, want in METRICS.items():
        assert got[key] == pytest.approx(want, rel=1e-5, abs=1e-7), key


def test_artifact_mass_is_the_pinned_one(comparison):
    mass = comparison.artifact_mass
    anyart = mass[mass["artifact"] == "any"]
    got = {(r.series, r.method, r.epoch, r.group): (r.mass_mean, r.enrichment_mean, r.n)
           for r in anyart.itertuples()}  # fmt: skip
    assert got.keys() == MASS.keys()
    for key, want in MASS.items():
        assert got[key][2] == want[2], key
        assert got[key][:2] == pytest.approx(want[:2], rel=1e-4, abs=1e-6), key
    per = mass[mass["artifact"] != "any"].groupby(["series", "method"])["mass_mean"]
    got_per = {k: (float(v.sum()), len(v)) for k, v in per}
    assert got_per.keys() == PER_ARTIFACT.keys()
    for key, (total, rows) in PER_ARTIFACT.items():
        assert got_per[key][1] == rows and got_per[key][0] == pytest.approx(total, rel=1e-4)


def test_counterfactual_drops_are_the_pinned_ones(comparison):
    got = {(r.series, r.epoch, r.group): (r.drop_pair_mean, r.drop_self_mean, r.n)
           for r in comparison.counterfactual.itertuples()}  # fmt: skip
    assert got.keys() == DROPS.keys()
    for key, want in DROPS.items():
        assert got[key][2] == want[2], key
        assert got[key][:2] == pytest.approx(want[:2], rel=1e-3, abs=2e-7), key


def test_grids_are_the_pinned_ones(comparison):
    assert comparison.queries == QUERIES and comparison.columns == COLUMNS
    assert set(comparison.grids) == set(GRID_MEAN)
    for method, path in comparison.grids.items():
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
        assert pixels.shape == (172, 248, 3)
        assert pixels.mean() == pytest.approx(GRID_MEAN[method], abs=0.02), method


@pytest.fixture(scope="module")
def tiny_model():
    from explain.models.adapter import build_model

    torch.manual_seed(5)
    return build_model("osnet_x0_25", 4).eval()


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "hirescam"])
def test_batched_maps_equal_the_one_photo_maps(tiny_model, method):
    from explain.heatmaps.batched import cam_batch
    from explain.heatmaps.catalog import compute
    from explain.heatmaps.layers import default_layer
    from explain.heatmaps.targets import SelfSimilarity

    torch.manual_seed(0)
    xs = torch.randn(5, 3, 64, 32)
    layer = default_layer(tiny_model)
    batched = cam_batch(method, tiny_model, xs, layer)
    assert len(batched) == 5
    for x, got in zip(xs, batched, strict=True):
        one = compute(method, tiny_model, x, SelfSimilarity(), layer=layer)
        assert got.map.shape == one.map.shape == (64, 32)
        np.testing.assert_allclose(got.map, one.map, atol=1e-5)
        np.testing.assert_allclose(got.raw, one.raw, rtol=1e-4, atol=1e-6 * np.abs(one.raw).max())
        assert got.params == one.params and got.method == one.method
        assert got.score == pytest.approx(one.score)
    # the photos differ, so do their maps: the batch does not hand one photo's map to all
    assert np.abs(batched[0].map - batched[1].map).max() > 0.05


def test_cached_maps_share_the_entries_of_get_or_compute(tiny_model, tmp_path, monkeypatch):
    from explain.heatmaps import batched
    from explain.heatmaps.batched import cached_self_maps
    from explain.heatmaps.cache import get_or_compute
    from explain.heatmaps.targets import SelfSimilarity

    torch.manual_seed(1)
    xs = list(torch.randn(3, 3, 64, 32))
    shas = ["a" * 40, "b" * 40, "c" * 40]
    cache = HeatmapCache(tmp_path)
    first = get_or_compute(cache, tiny_model, xs[0], SelfSimilarity(), "gradcam",
                           checkpoint_sha1="f" * 40, image_sha1=shas[0])  # fmt: skip
    calls = []
    real = batched.cam_batch
    monkeypatch.setattr(batched, "cam_batch", lambda m, mo, b, la: calls.append(len(b)) or
                        real(m, mo, b, la))  # fmt: skip
    maps = cached_self_maps(cache, tiny_model, xs, "gradcam", checkpoint_sha1="f" * 40,
                            image_sha1s=shas, batch_size=2)  # fmt: skip
    assert calls == [2]  # photo 0 came from the cache, 1 and 2 in one batch
    np.testing.assert_allclose(maps[0].map, first.map, atol=1e-3)  # read back as float16
    assert maps[0].info.get("cached") and not maps[1].info.get("cached")
    again = cached_self_maps(cache, tiny_model, xs, "gradcam", checkpoint_sha1="f" * 40,
                             image_sha1s=shas)  # fmt: skip
    assert calls == [2]  # everything read back
    for a, b in zip(maps, again, strict=True):
        np.testing.assert_allclose(a.map, b.map, atol=1e-3)  # stored as float16
    hit = get_or_compute(cache, tiny_model, xs[2], SelfSimilarity(), "gradcam",
                         checkpoint_sha1="f" * 40, image_sha1=shas[2])  # fmt: skip
    np.testing.assert_array_equal(hit.map, again[2].map)


def test_cached_maps_of_other_methods_and_bad_input(tiny_model):
    from explain.heatmaps.batched import cached_self_maps
    from explain.heatmaps.catalog import compute
    from explain.heatmaps.targets import SelfSimilarity

    torch.manual_seed(2)
    xs = list(torch.randn(2, 3, 64, 32))
    maps = cached_self_maps(None, tiny_model, xs, "eigencam", checkpoint_sha1=None,
                            image_sha1s=["", ""])  # fmt: skip
    one = compute("eigencam", tiny_model, xs[1], SelfSimilarity())
    np.testing.assert_allclose(maps[1].map, one.map, atol=1e-6)
    with pytest.raises(ValueError, match="2 photos but 1 image hashes"):
        cached_self_maps(None, tiny_model, xs, "gradcam", checkpoint_sha1=None, image_sha1s=[""])
    with pytest.raises(ValueError, match="no batched form"):
        from explain.heatmaps.batched import cam_batch

        cam_batch("eigencam", tiny_model, torch.stack(xs), "conv5")


def test_shared_inputs_decode_each_photo_once_and_give_the_same_tensor(tmp_path, monkeypatch):
    from explain.models.preprocess import test_transform
    from explain.retrieval import inputs
    from explain.retrieval.inputs import model_input, shared_inputs

    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(rng.integers(0, 255, (50, 30, 3), dtype=np.uint8)).save(paths[-1])
    tf = test_transform(64, 32)
    plain = [model_input(p, tf) for p in paths]
    reads = []
    real = inputs.load_rgb
    monkeypatch.setattr(inputs, "load_rgb", lambda p: reads.append(p) or real(p))
    with shared_inputs():
        with shared_inputs():  # nested: the outer block's photos
            first = [model_input(p, tf) for p in paths]
        second = [model_input(p, tf) for p in paths]
        other_size = model_input(paths[0], test_transform(32, 16))
    assert len(reads) == 4  # three photos once, plus one at another input size
    for a, b, c in zip(plain, first, second, strict=True):
        assert torch.equal(a, b) and torch.equal(a, c)
    assert other_size.shape == (3, 32, 16)
    model_input(paths[0], tf)
    assert len(reads) == 5  # after the block nothing is kept
    with shared_inputs():
        assert float(model_input(paths[1], tf).std(dim=(1, 2)).max()) > 0.1
        Image.fromarray(np.zeros((50, 30, 3), dtype=np.uint8)).save(paths[1])
        changed = model_input(paths[1], tf)  # the new file, not the photo kept before
        assert float(changed.std(dim=(1, 2)).max()) == 0.0


def test_a_report_refuses_photos_of_another_report(tmp_path):
    from explain.checks.ground_truth import report_photos, sample_report
    from explain.models.series import load_series
    from workbench.synth import SynthConfig, generate

    config = SynthConfig(seed=3, n_train_ids=4, n_test_ids=4, n_gallery_distractors=1,
                         n_query_without_gallery=0, height=64, width=32, test_artifact_rate=0.4,
                         polluted_fraction=0.5)  # fmt: skip
    generate(tmp_path / "pets", config)
    ds = load_dataset(tmp_path / "pets", check="none")
    models = load_series(series(tmp_path / "a", 1))
    four = report_photos(ds, 4, 0, (64, 32))
    assert len(four) == 4 and all(x.shape == (1, 3, 64, 32) for x, _, _ in four.values())
    with pytest.raises(ValueError, match="not this report's"):
        sample_report(ds, models, ["gradcam"], limit=6, randomisation_images=0, photos=four)
    with pytest.raises(ValueError, match="not this report's"):
        sample_report(ds, models, ["gradcam"], limit=4, randomisation_images=0,
                      photos=report_photos(ds, 4, 0, (32, 16)))  # fmt: skip
    given = sample_report(ds, models, ["gradcam"], limit=4, randomisation_images=0, photos=four)
    read = sample_report(ds, models, ["gradcam"], limit=4, randomisation_images=0)
    pd.testing.assert_frame_equal(given.rows, read.rows)
