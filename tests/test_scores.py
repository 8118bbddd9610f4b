"""Attribution scores: masks, annotator regions, relevance mass, pointing game, aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from explain.heatmaps import Heatmap, compute
from explain.heatmaps.scores import (
    aggregate,
    load_mask,
    masks_for_row,
    pointing_game,
    rasterise_regions,
    relevance_mass,
    score_heatmap,
    score_rows,
)
from explain.heatmaps.targets import SelfSimilarity


def heatmap(raw: np.ndarray, shape=None) -> Heatmap:
    raw = np.asarray(raw, dtype=np.float32)
    shape = shape or raw.shape
    pos = np.maximum(raw, 0)
    return Heatmap(map=(pos / pos.max()).astype(np.float32), raw=raw, method="test")


def save_mask(path, array) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8) * 255, "L").save(path)
    return str(path)


def test_load_mask_resizes_and_thresholds(tmp_path):
    m = np.zeros((8, 4), dtype=bool)
    m[2:6, 0:2] = True
    path = save_mask(tmp_path / "m.png", m)
    same = load_mask(path, (8, 4))
    assert np.array_equal(same, m)
    up = load_mask(path, (16, 8))
    assert up.shape == (16, 8) and up[4:12, 0:4].all() and up.sum() == 32
    with pytest.raises(ValueError, match="not found"):
        load_mask(tmp_path / "nope.png", (8, 4))


def test_rasterise_box_and_polygon_with_scaling():
    regions = [
        {"artifact": "hands", "kind": "box", "points": [[40, 80], [20, 40]]},
        {"artifact": "tongue", "kind": "polygon", "points": [[0, 0], [40, 0], [40, 40], [0, 40]]},
        {"artifact": "hands", "kind": "box", "points": [[0, 200], [10, 210]]},
    ]
    # original 40x240 (W x H) file, input 24x4 (H x W): factor 0.1 in both directions
    masks = rasterise_regions(regions, (40, 240), (24, 4))
    assert set(masks) == {"hands", "tongue"}
    hands = np.zeros((24, 4), bool)
    hands[4:8, 2:4] = True  # x 2..4, y 4..8 after scaling
    hands[20:21, 0:1] = True
    assert np.array_equal(masks["hands"], hands)
    tongue = np.zeros((24, 4), bool)
    tongue[0:4, 0:4] = True
    assert np.array_equal(masks["tongue"], tongue)


@pytest.mark.parametrize(
    "region, message",
    [({"artifact": "", "kind": "box", "points": [[0, 0], [1, 1]]}, "artifact"),
     ({"artifact": "x", "kind": "box", "points": [[0, 0]]}, "two corner"),
     ({"artifact": "x", "kind": "polygon", "points": [[0, 0], [1, 1]]}, "at least 3"),
     ({"artifact": "x", "kind": "circle", "points": [[0, 0], [1, 1]]}, "box' or 'polygon"),
     ({"artifact": "x", "kind": "box", "points": 5}, "list of")],
)  # fmt: skip
def test_bad_regions_raise(region, message):
    with pytest.raises(ValueError, match=message):
        rasterise_regions([region], (10, 10), (10, 10))


def test_relevance_mass_and_pointing_game():
    a = np.array([[1.0, 3.0], [-2.0, 0.0]])
    mask = np.array([[False, True], [True, False]])
    assert relevance_mass(a, mask) == pytest.approx(0.75)  # negatives do not count
    assert np.isnan(relevance_mass(-np.abs(a), mask))
    assert pointing_game(a, mask) is True
    assert pointing_game(a, ~mask) is False
    far = np.zeros((5, 5), bool)
    far[0, 3] = True
    peak = np.zeros((5, 5))
    peak[0, 0] = 1
    assert not pointing_game(peak, far, tolerance=2)
    assert pointing_game(peak, far, tolerance=3)
    with pytest.raises(ValueError, match="mask shape"):
        relevance_mass(a, mask[:1])


def test_score_heatmap_regions():
    raw = np.zeros((4, 4), np.float32)
    raw[0, 0], raw[3, 3], raw[1, 1] = 6.0, 2.0, -5.0
    animal = np.zeros((4, 4), bool)
    animal[:2, :2] = True
    tongue = np.zeros((4, 4), bool)
    tongue[3, 2:] = True
    scores = {s.region: s for s in score_heatmap(heatmap(raw), animal, {"tongue": tongue})}
    assert set(scores) == {"animal", "background", "tongue", "artifacts"}
    assert scores["animal"].mass == pytest.approx(0.75) and scores["animal"].peak
    assert scores["background"].mass == pytest.approx(0.25) and not scores["background"].peak
    assert scores["tongue"].mass == pytest.approx(0.25)
    assert scores["tongue"].area == pytest.approx(2 / 16)
    assert scores["tongue"].enrichment == pytest.approx(0.25 / (2 / 16))
    assert scores["artifacts"].mass == scores["tongue"].mass


def test_layer_resolution_raw_is_resized_before_scoring():
    raw = np.array([[1.0, 0.0], [0.0, 0.0]], np.float32)
    hm = Heatmap(map=np.zeros((8, 8), np.float32), raw=raw, method="t")
    top_left = np.zeros((8, 8), bool)
    top_left[:4, :4] = True
    (s,) = score_heatmap(hm, None, {"x": top_left})[:1]
    # bilinear 2 -> 8 (half-pixel centres): weights of the first source pixel per output pixel
    # are 1, 1, .875, .625 | .375, .125, 0, 0, so 3.5 of 4 stay in the quadrant per dimension
    assert s.mass == pytest.approx((3.5 / 4) ** 2)


def test_masks_for_row_and_rows(tmp_path):
    animal = np.zeros((8, 4), bool)
    animal[2:, :] = True
    grass = np.zeros((8, 4), bool)
    grass[7, :] = True
    row = {
        "image": "train/1_1.jpg",
        "animal_mask": "masks/train/1_1_animal.png",
        "mask_grass": "masks/train/1_1_grass.png",
        "mask_tongue": "",
        "mask_hands": float("nan"),
    }
    save_mask(tmp_path / row["animal_mask"], animal)
    save_mask(tmp_path / row["mask_grass"], grass)
    a, arts = masks_for_row(tmp_path, row, (8, 4))
    assert np.array_equal(a, animal) and list(arts) == ["grass"]
    raw = np.zeros((8, 4), np.float32)
    raw[7, 0] = 1.0
    rows = score_rows(heatmap(raw), a, arts, image=row["image"], epoch=60)
    by = {r["region"]: r for r in rows}
    assert by["grass"]["mass"] == 1.0 and by["grass"]["peak"] and by["grass"]["epoch"] == 60
    assert by["animal"]["mass"] == 1.0  # grass at row 7 is inside this animal mask


def test_aggregate_per_artifact_and_epoch():
    rows = pd.DataFrame(
        [
            {"method": "gradcam", "epoch": 3, "region": "tongue", "mass": 0.2,
             "enrichment": 2.0, "peak": False},
            {"method": "gradcam", "epoch": 3, "region": "tongue", "mass": 0.4,
             "enrichment": 4.0, "peak": True},
            {"method": "gradcam", "epoch": 60, "region": "tongue", "mass": 0.9,
             "enrichment": 9.0, "peak": True},
        ]
    )  # fmt: skip
    out = aggregate(rows, by=("region", "epoch"))
    assert out["epoch"].tolist() == [3, 60]
    assert out["mass_mean"].tolist() == pytest.approx([0.3, 0.9])
    assert out["peak_rate"].tolist() == [0.5, 1.0] and out["n"].tolist() == [2, 1]
    with pytest.raises(ValueError, match="lack columns"):
        aggregate(rows.drop(columns="peak"))


def test_planted_model_puts_all_mass_on_the_region():
    model = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
        model.weight[0, 0] = 1.0
    net = nn.Sequential(model, nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    x = torch.zeros(1, 3, 8, 8)
    x[0, 0, 2:4, 4:6] = 1.0
    hm = compute("hirescam", net, x, SelfSimilarity(), layer="0")
    region = np.zeros((8, 8), bool)
    region[2:4, 4:6] = True
    (s,) = score_heatmap(hm, None, {"planted": region})[:1]
    assert s.mass == pytest.approx(1.0) and s.peak and s.enrichment == pytest.approx(16.0)
