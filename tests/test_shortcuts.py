"""Shortcut scores on generated posts with a planted shortcut, and per-photo outlier scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from curation.dataset import load_folder
from explain.models.checkpoints import LoadedModel
from explain.retrieval.outliers import loo_similarities, photo_outliers
from explain.shortcuts import ControlSettings, post_scores, scan
from explain.shortcuts.posts import relied
from explain.shortcuts.regions import control_masks, model_regions
from explain.shortcuts.reliance import drops, fill

H, W = 64, 32
SQUARE = (4, 4, 14, 14)  # x0, y0, x1, y1 of the planted patch


class CellColours(nn.Module):
    """A hand-made embedding: the mean colour of each cell of an 8x4 grid (a 1x1 convolution
    that passes the colours through, then average pooling). A patch that sits at one place in
    every photo of a post makes those photos similar; nothing else is learnt."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        self.pool = nn.AdaptiveAvgPool2d((8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv(x)).flatten(1)


def _loaded(tmp_path: Path) -> LoadedModel:
    return LoadedModel(CellColours().eval(), "cells", 1, tmp_path / "cells.pth", "c" * 40,
                       meta={"height": H, "width": W})  # fmt: skip


def _photo(rng: np.random.Generator, patch: tuple | None, colour) -> np.ndarray:
    img = np.zeros((H, W, 3), np.uint8)
    tint = rng.integers(90, 170, size=3)
    img[2:62, 2:30] = tint  # the animal: a box of a random coat colour per photo
    img[2:62, 2:30] += rng.integers(0, 12, size=(60, 28, 1)).astype(np.uint8)
    if patch is not None:
        x0, y0, x1, y1 = patch
        img[y0:y1, x0:x1] = colour
    return img


def _box(patch: tuple) -> str:
    x0, y0, x1, y1 = patch
    return json.dumps([{"artifact": "tongue", "kind": "box", "points": [[x0, y0], [x1, y1]]}])


@pytest.fixture
def planted(tmp_path: Path):
    """Posts 101, 102: a magenta patch at one place in every photo (the planted shortcut, also
    detected). Posts 201, 202: a detected patch of a random colour at a random place (present,
    but nothing the photos share). Posts 301, 302: nothing detected."""
    rng = np.random.default_rng(0)
    (tmp_path / "data" / "train").mkdir(parents=True)
    rows = []
    for post in ("101", "102", "201", "202", "301", "302"):
        for k in range(1, 5):
            patch, colour = None, None
            if post.startswith("1"):
                patch, colour = SQUARE, (255, 0, 255)
            elif post.startswith("2"):
                x0, y0 = int(rng.integers(2, 20)), int(rng.integers(2, 50))
                patch = (x0, y0, x0 + 10, y0 + 10)
                colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            name = f"train/{post}_{k}.png"
            Image.fromarray(_photo(rng, patch, colour)).save(tmp_path / "data" / name)
            if patch is not None:
                rows.append({"image": name, "artifact": "tongue", "detected": True,
                             "region": _box(patch)})  # fmt: skip
    return load_folder(tmp_path / "data"), pd.DataFrame(rows), _loaded(tmp_path)


def test_planted_shortcut_ranks_first_then_the_artifact_alone_then_clean(planted, tmp_path):
    ds, det, loaded = planted
    regions, photos, info = scan(loaded, ds, det, splits=("train",), model_k=0,
                                 cache_dir=tmp_path / "cache", engine="eager")  # fmt: skip
    assert info["photos"] == 24 and info["computed"] == 16 and info["cached"] == 0
    posts = post_scores(regions, photos)
    assert posts["post_id"].tolist()[:2] == ["101", "102"]
    assert set(posts["post_id"].tolist()[2:4]) == {"201", "202"}
    assert set(posts["post_id"].tolist()[4:]) == {"301", "302"}
    by = posts.set_index("post_id")
    for p in ("101", "102"):
        assert by.loc[p, "data_score"] == 1.0 and by.loc[p, "relied_share"] == 1.0
        assert by.loc[p, "score"] == 1.0 and by.loc[p, "cause"] == "tongue relied on"
        assert by.loc[p, "reliance"] > 0.05
    for p in ("201", "202"):
        assert by.loc[p, "data_score"] == 1.0 and by.loc[p, "relied_share"] == 0.0
        assert by.loc[p, "score"] == 0.5 and by.loc[p, "cause"] == "tongue present"
    for p in ("301", "302"):
        assert by.loc[p, "score"] == 0.0 and by.loc[p, "cause"] == "none"
    ev = json.loads(by.loc["101", "evidence"])
    assert ev["kind"] == "tongue" and len(ev["photos"]) == 4
    first = ev["photos"][0]
    assert len(first["control_drops"]) == 4 and first["relied"] is True
    assert first["reliance"] == pytest.approx(first["drop"] - np.mean(first["control_drops"]),
                                              abs=1e-4)  # fmt: skip
    # the controls lie on the animal and cost the same area
    cover = json.loads(regions.iloc[0]["control_coverage"])
    assert len(cover) == 4 and min(cover) >= 0.7


def test_second_scan_reads_the_cache_and_gives_the_same_rows(planted, tmp_path):
    ds, det, loaded = planted
    kw = {"splits": ("train",), "model_k": 0, "cache_dir": tmp_path / "cache", "engine": "eager"}
    first, _, _ = scan(loaded, ds, det, **kw)
    again, _, info = scan(loaded, ds, det, **kw)
    assert info["computed"] == 0 and info["cached"] == 16
    pd.testing.assert_frame_equal(first, again)
    blurred, _, info = scan(loaded, ds, det, **kw, fill_method="blur")
    assert info["computed"] == 16  # the fill is part of the key
    assert not np.allclose(blurred["drop"], first["drop"])


def test_model_regions_come_from_gradcam_and_are_scored(planted, tmp_path):
    ds, det, loaded = planted
    regions, photos, _ = scan(loaded, ds, det, splits=("train",), model_k=1, cam_layer="conv",
                              engine="eager", controls=ControlSettings(n=2))  # fmt: skip
    model = regions[regions["kind"] == "model"]
    # a linear model's Grad-CAM is all zero (after the ReLU) in some photos: no region there
    assert 0 < len(model) <= 24 and (model["label"] == "model#1").all()
    assert model["image"].is_unique and (model["source"] == "model").all()
    assert model["control_drops"].map(lambda s: len(json.loads(s))).max() == 2
    posts = post_scores(regions, photos)
    assert {"model_reliance", "model_relied_share"} <= set(posts.columns)


def test_scan_refuses_a_table_that_is_no_detection_table(planted):
    ds, _, loaded = planted
    with pytest.raises(ValueError, match="detect_dataset"):
        scan(loaded, ds, pd.DataFrame({"image": []}), model_k=0)


def test_drops_are_the_similarity_to_postmates_lost_minus_the_controls():
    mates = np.array([[1.0, 0.0], [1.0, 0.0]])
    clean = np.array([1.0, 0.0])
    edited = {"region": np.array([0.0, 1.0]), "controls": np.array([[1.0, 0.0], [1.0, 1.0]])}
    d = drops(clean, edited, mates)
    assert d["similarity"] == pytest.approx(1.0) and d["reference"] == "postmates"
    assert d["drop"] == pytest.approx(1.0)
    assert d["control_drops"] == pytest.approx([0.0, 1 - 2**-0.5], abs=1e-5)
    assert d["reliance"] == pytest.approx(1.0 - (1 - 2**-0.5) / 2, abs=1e-5)
    alone = drops(clean, edited, None)
    assert alone["reference"] == "self" and alone["drop"] == pytest.approx(1.0)
    none = drops(clean, {"region": clean, "controls": np.zeros((0, 2))}, mates)
    assert np.isnan(none["reliance"])


def test_relied_needs_to_beat_the_floor_and_twice_the_control_spread():
    assert relied(0.011, 0.0) and not relied(0.01, 0.0)
    assert not relied(0.05, 0.03) and relied(0.061, 0.03)
    assert not relied(float("nan"), 0.0)


def test_controls_are_equal_area_on_the_animal_off_the_region_and_seeded():
    animal = np.zeros((64, 32), bool)
    animal[4:60, 4:28] = True
    mask = np.zeros_like(animal)
    mask[10:18, 8:16] = True
    got, cover = control_masks(mask, animal, 5, seed=3)
    again, _ = control_masks(mask, animal, 5, seed=3)
    assert len(got) == 5 and all((a == b).all() for a, b in zip(got, again, strict=True))
    for m, c in zip(got, cover, strict=True):
        assert m.sum() == mask.sum()
        assert (m & animal).sum() / m.sum() == pytest.approx(c, abs=1e-4) and c >= 0.7
        assert (m & mask).sum() / m.sum() <= 0.1
    assert control_masks(np.zeros_like(mask), animal, 3, 0) == ([], [])


def test_model_regions_are_the_top_connected_parts_by_mass():
    cam = np.zeros((64, 32), np.float32)
    cam[5:15, 5:15] = 0.5  # larger area, less mass per pixel
    cam[40:46, 20:26] = 1.0
    cam[30:31, 0:1] = 0.9  # one pixel: below min_area
    regions = model_regions(cam, k=3, quantile=0.5)
    assert [r.label for r in regions] == ["model#1", "model#2"]
    assert regions[0].mask[10, 10] and regions[1].mask[43, 23]
    assert model_regions(np.zeros((8, 8), np.float32)) == []
    with pytest.raises(ValueError, match="quantile"):
        model_regions(cam, quantile=1.0)


def test_inpainting_removes_a_colour_cue_the_blur_keeps():
    img = np.full((32, 32, 3), 120, np.uint8)
    img[12:20, 12:20] = (255, 0, 0)
    mask = np.zeros((32, 32), bool)
    mask[11:21, 11:21] = True
    telea, blur = fill(img, mask, "telea"), fill(img, mask, "blur")
    red = lambda a: float(a[12:20, 12:20, 0].mean() - a[12:20, 12:20, 1].mean())  # noqa: E731
    assert red(telea) < 5 and red(blur) > 20
    assert (telea[~mask] == img[~mask]).all()
    with pytest.raises(ValueError, match="fill must be"):
        fill(img, mask, "black")


# -- outliers ------------------------------------------------------------------------------------


def test_planted_strays_have_the_highest_outlier_scores():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(12, 32))
    rows, feats, strays = [], [], set()
    for p in range(10):
        for k in range(5):
            c = centres[p]
            if (p, k) in ((2, 3), (7, 0)):
                c = centres[10 + (p == 7)]  # another animal
                strays.add(f"train/{p}_{k}.jpg")
            feats.append(c + 0.3 * rng.normal(size=32))
            rows.append({"image": f"train/{p}_{k}.jpg", "post_id": str(p), "split": "train"})
    rows += [{"image": "train/99_1.jpg", "post_id": "99", "split": "train"},
             {"image": "train/99_2.jpg", "post_id": "99", "split": "train"}]  # fmt: skip
    feats += [centres[0], centres[1]]
    out = photo_outliers(pd.DataFrame(rows), np.array(feats))
    assert set(out["image"].head(2)) == strays
    top = out.head(2)
    assert (top["robust_z"] < -3).all() and (top["percentile"] == [0.0, 1 / 50]).any()
    assert (top["gap"] < -0.3).all()
    pair = out[out["post_id"] == "99"]
    assert pair["outlier"].isna().all() and pair["note"].str.contains("2 photo").all()
    assert (out.loc[~out["image"].isin(strays) & (out["post_id"] != "99"), "outlier"] < 3).all()


def test_outliers_refuse_bad_input():
    table = pd.DataFrame({"image": ["a", "b", "c"], "post_id": ["1"] * 3, "split": ["train"] * 3})
    with pytest.raises(ValueError, match="len\\(table\\)=3"):
        photo_outliers(table, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least 3"):
        photo_outliers(table, np.eye(3), min_photos=2)
    with pytest.raises(ValueError, match="lacks"):
        photo_outliers(table.drop(columns="split"), np.eye(3))
    assert loo_similarities(np.eye(3)) == pytest.approx([0.0, 0.0, 0.0])


def test_outliers_are_judged_against_their_own_split():
    """Gallery photos (unseen by the model) are all less alike than train photos: a train
    stray still ranks first, above every loose but genuine gallery photo."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(13, 32))
    rows, feats = [], []
    for p in range(12):
        split, noise = ("train", 0.1) if p < 6 else ("gallery", 1.0)
        for k in range(4):
            c = 0.7 * centres[p] + 0.7 * centres[12] if (p, k) == (1, 2) else centres[p]
            feats.append(c + noise * rng.normal(size=32))
            rows.append({"image": f"{split}/{p}_{k}.jpg", "post_id": str(p), "split": split})
    out = photo_outliers(pd.DataFrame(rows), np.array(feats))
    assert out["image"].iloc[0] == "train/1_2.jpg"
    gallery = out[out["split"] == "gallery"]
    # pooled over both splits, gallery photos would look more outlying than the stray
    assert (gallery["loo_similarity"] < out["loo_similarity"].iloc[0]).sum() >= 5
    assert gallery["robust_z"].median() == pytest.approx(0.0, abs=0.2)


def test_annotator_regions_join_the_detectors_by_kind(planted):
    ds, det, loaded = planted
    box = json.loads(_box(SQUARE))
    notes = pd.DataFrame({"image": ["train/101_1.png", "train/301_1.png"], "regions": [box, box]})
    regions, photos, _ = scan(loaded, ds, det, annotations=notes, splits=("train",), model_k=0,
                              engine="eager")  # fmt: skip
    by = regions.set_index("image")
    assert by.loc["train/101_1.png", "source"] == "annotator+detector"
    assert by.loc["train/301_1.png", "source"] == "annotator"
    assert by.loc["train/101_2.png", "source"] == "detector"
    posts = post_scores(regions, photos).set_index("post_id")
    assert posts.loc["301", "data_score"] == 0.25 and posts.loc["302", "data_score"] == 0.0
    with pytest.raises(ValueError, match="'regions'"):
        scan(loaded, ds, det, annotations=notes[["image"]], model_k=0)
