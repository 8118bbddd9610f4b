"""What the pages compute: regions and scores per photo, trajectories across epochs, gallery
search by post, pictures of heatmaps, and the `workbench suggest` command."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from curation.dataset import load_dataset
from explain.heatmaps.base import Heatmap
from explain.heatmaps.explorer import (
    attribution_outcomes,
    mean_colour,
    photo,
    regions_for,
    scores_table,
    segmentation_mask,
)
from explain.heatmaps.render import difference, framed, outlined, overlay
from explain.heatmaps.series import SeriesMaps
from explain.retrieval.epochs import found_but_not, rank_table, trajectory
from explain.retrieval.lookup import nearest_posts
from explain.retrieval.series import SeriesEvaluation
from workbench.cli import main


def test_trajectories():
    assert trajectory([True, True]) == "always found"
    assert trajectory([False, False, False]) == "never found"
    assert trajectory([False, True, True]) == "found later"
    assert trajectory([True, False, True]) == "lost"
    assert trajectory([False, True, False]) == "lost"
    assert trajectory([False], in_gallery=False) == "not in gallery"
    with pytest.raises(ValueError, match="at least one"):
        trajectory([])


def _per_query(ranks: list) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "query": ["q/a.jpg", "q/b.jpg", "q/c.jpg"],
            "post_id": ["a", "b", "c"],
            "in_gallery": [r is not None for r in ranks],
            "rank": pd.array(ranks, dtype="Int64"),
        }
    )


def test_rank_table_across_epochs():
    ev = SeriesEvaluation(
        metrics=pd.DataFrame({"label": ["epoch 3", "epoch 60"], "epoch": [3, 60]}),
        per_query=[_per_query([7, 1, None]), _per_query([2, 9, None])],
        cmc=[np.zeros(20), np.zeros(20)],
    )
    t = rank_table(ev, k=5)
    assert t["rank epoch 3"].tolist()[:2] == [7, 1] and t["rank epoch 60"].tolist()[:2] == [2, 9]
    assert t["found epoch 60"].tolist() == [True, False, False]
    assert t["trajectory"].tolist() == ["found later", "lost", "not in gallery"]
    assert t["best"].tolist()[:2] == [2, 1] and t["worst"].tolist()[:2] == [7, 9]
    assert pd.isna(t["best"].iloc[2])
    assert found_but_not(t, "epoch 60", "epoch 3")["query"].tolist() == ["q/a.jpg"]
    with pytest.raises(ValueError, match="no checkpoint 'epoch 1'"):
        found_but_not(t, "epoch 1", "epoch 3")


def test_segmentation_mask_only_for_segmented_photos():
    arr = np.zeros((8, 4, 3), np.uint8)
    arr[2:6, 1:3] = (200, 120, 40)
    mask = segmentation_mask(Image.fromarray(arr))
    assert mask.sum() == 8 and mask[2:6, 1:3].all()
    assert segmentation_mask(Image.fromarray(np.full((8, 4, 3), 90, np.uint8))) is None


def test_segmentation_mask_keeps_dark_fur_inside_the_outline():
    arr = np.zeros((64, 32, 3), np.uint8)
    arr[8:56, 6:26] = (180, 170, 160)
    arr[20:40, 10:22] = (3, 3, 3)  # a black patch of fur, as dark as the background
    mask = segmentation_mask(Image.fromarray(arr))
    assert mask[20:40, 10:22].all()  # the old "any channel > 16" rule left this hole
    assert mask.sum() == 48 * 20 and not mask[:8].any()


def test_regions_for_real_photos_use_the_silhouette_and_the_detectors(tmp_path, monkeypatch):
    from explain.heatmaps import explorer

    for split in ("query", "gallery"):
        (tmp_path / split).mkdir()
        arr = np.zeros((64, 32, 3), np.uint8)
        arr[8:56, 6:26] = (180, 170, 160)
        arr[20:40, 10:22] = (3, 3, 3)
        Image.fromarray(arr).save(tmp_path / split / "1_1.png")
    ds = load_dataset(tmp_path)
    assert not ds.has_ground_truth
    calls = []

    def fake_detect(path, entries, **kw):
        calls.append(path)
        box = [[0, 0], [16, 0], [16, 8], [0, 8]]
        rows = [{"artifact": e.name, "score": 0.0, "region": []} for e in entries]
        rows[0] = {
            "artifact": entries[0].name,
            "score": 1.0,
            "region": [{"artifact": entries[0].tag, "kind": "polygon", "points": box}],
        }
        return rows, 0

    monkeypatch.setattr(explorer, "detect_image", fake_detect)
    explorer._detected.cache_clear()
    p = photo(ds, "query/1_1.png", (64, 32))
    reg = regions_for(ds, "query/1_1.png", (64, 32), picture=p.picture)
    first = explorer.select("pixel")[0].tag
    assert reg.animal_source == "silhouette" and reg.animal[20:40, 10:22].all()
    assert reg.artifact_source == "detected"
    assert set(reg.artifacts) == {first} and reg.artifacts[first][:8, :16].all()
    assert reg.artifacts[first].sum() == 8 * 16
    regions_for(ds, "query/1_1.png", (64, 32), picture=p.picture)
    assert len(calls) == 1  # kept per file, not detected again
    off = regions_for(ds, "query/1_1.png", (64, 32), picture=p.picture, detect=False)
    assert off.artifact_source == "none" and off.artifacts == {}


def _heatmap(values: np.ndarray) -> Heatmap:
    v = np.asarray(values, np.float32)
    return Heatmap(map=v / max(v.max(), 1e-12), raw=v, method="test")


def test_regions_and_scores_from_ground_truth_and_annotators(app_world):
    ds = load_dataset(app_world["data"])
    row = ds.table[ds.table["mask_tongue"].fillna("") != ""].iloc[0]
    size = (128, 64)
    p = photo(ds, row["image"], size)
    assert p.picture.size == (64, 128) and tuple(p.x.shape) == (1, 3, 128, 64)
    box = [{"artifact": "hands", "kind": "box", "points": [[0, 0], [32, 32]]}]
    reg = regions_for(ds, row["image"], size, annotator_regions=box,
                      original_size=p.original_size, picture=p.picture)  # fmt: skip
    assert reg.animal_source == "ground truth"
    assert reg.artifact_source == "ground truth + annotator"  # no detectors on ground truth
    assert {"tongue", "hands"} <= set(reg.artifacts)
    w, h = p.original_size
    assert reg.artifacts["hands"].sum() == round(32 * 128 / h) * round(32 * 64 / w)
    # all attribution on the tongue: artifact mass 1, animal mass 0 (the tongue is off the fur)
    maps = SeriesMaps(["epoch 3"], [3], [_heatmap(reg.artifacts["tongue"].astype(np.float32))])
    t = scores_table(maps, reg).set_index("region")
    assert t.at["tongue", "mass"] == pytest.approx(1.0)
    assert t.at["animal", "mass"] == pytest.approx(0.0)
    assert t.at["artifacts", "peak"] and not t.at["animal", "empty"]
    with pytest.raises(KeyError, match="not in the dataset"):
        regions_for(ds, "query/nope.jpg", size)


def test_mean_colour_ignores_the_black_background(tmp_path):
    arr = np.zeros((10, 10, 3), np.uint8)
    arr[:5] = (255, 0, 0)
    Image.fromarray(arr).save(tmp_path / "a.png")
    ds = SimpleNamespace(path=lambda img: tmp_path / img)
    assert mean_colour(ds, ["a.png"]) == pytest.approx((1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="no images"):
        mean_colour(ds, [])


def test_attribution_outcomes_on_a_series(app_world, tmp_path):
    from explain.heatmaps.cache import HeatmapCache
    from explain.models.series import load_series
    from explain.retrieval.series import evaluate_series

    ds = load_dataset(app_world["data"])
    models = load_series(app_world["series"], device="cpu")
    ev = evaluate_series(ds, models[-1:], cache_dir=None)
    cache = HeatmapCache(tmp_path / "cache")
    calls = []
    out = attribution_outcomes(ds, models[-1], ev.per_query[0], cache=cache,
                               progress=lambda d, t: calls.append((d, t)))  # fmt: skip
    assert out["image"].tolist() == ev.per_query[0]["query"].tolist()
    assert calls[-1] == (len(out), len(out))
    mass = out["animal_mass"].dropna()
    assert len(mass) and ((mass >= 0) & (mass <= 1)).all()
    assert set(out["animal_source"]) == {"ground truth"}
    assert all(t.startswith(("similarity to top-1", "self-similarity")) for t in out["target"])
    entries = len(cache.disk.keys())
    again = attribution_outcomes(ds, models[-1], ev.per_query[0], cache=cache)
    assert len(cache.disk.keys()) == entries  # read back, nothing recomputed
    pd.testing.assert_frame_equal(again, out, atol=1e-4)  # the cache stores float16


def test_nearest_posts_ranks_by_post_with_margin():
    gallery = pd.DataFrame({"image": ["g1", "g2", "g3", "g4"], "post_id": ["a", "a", "b", "c"]})
    feats = np.array([[1, 0], [0.8, 0.6], [0.6, 0.8], [0, 1]], np.float32)
    out = nearest_posts(np.array([1, 0], np.float32), feats, gallery, posts=2)
    assert out["post_id"].tolist() == ["a", "b"] and out["image"].tolist() == ["g1", "g3"]
    assert out["similarity"].tolist() == pytest.approx([1.0, 0.6])
    assert out["margin"].iloc[0] == pytest.approx(0.4)
    assert out["photos"].tolist() == [2, 1] and out["rank"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="feature rows"):
        nearest_posts(np.array([1, 0]), feats[:2], gallery)


def test_pictures():
    img = np.full((8, 4, 3), 100, np.uint8)
    heat = np.zeros((4, 2), np.float32)
    heat[0, 0] = 1.0
    out = overlay(img, heat, opacity=1.0, colormap="jet")
    assert out.shape == (8, 4, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[0, 0], out[7, 3])  # hot corner differs from the cold one
    assert np.array_equal(overlay(img, heat, opacity=0.0), img)
    with pytest.raises(ValueError, match="colormap"):
        overlay(img, heat, colormap="rainbow")
    d = difference(np.array([[1.0, -1.0, 0.0]]))
    assert d[0, 0].tolist() == [214, 38, 41] and d[0, 2].tolist() == [255, 255, 255]
    assert d[0, 1, 2] > d[0, 1, 0]  # blue where attribution fell
    assert framed(img, True, 2).shape == (12, 8, 3)
    assert framed(img, True, 2)[0, 0].tolist() == [46, 160, 67]
    mask = np.zeros((8, 4), bool)
    mask[2:6, 1:3] = True
    ring = outlined(img, {"tongue": mask})
    assert ring[2, 1].tolist() == [255, 105, 180] and ring[0, 0].tolist() == [100, 100, 100]


def test_suggest_command(app_world, tmp_path):
    out = tmp_path / "suggest.csv"
    res = CliRunner().invoke(
        main,
        ["suggest", "--data", str(app_world["data"]), "--checkpoints", str(app_world["series"]),
         "--cache", str(tmp_path / "cache"), "--csv", str(out)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    ds = load_dataset(app_world["data"])
    assert sorted(table["image"]) == sorted(ds.split("query")["image"])
    assert set(table["bucket"]) <= {"worked", "missed", "spurious", "no-match-in-gallery"}
    lonely = set(ds.split("query")["post_id"].astype(str)) - set(
        ds.split("gallery")["post_id"].astype(str)
    )
    assert set(table.loc[table["bucket"] == "no-match-in-gallery", "post_id"].astype(str)) == lonely
    assert "epoch 12, top 5:" in res.output
