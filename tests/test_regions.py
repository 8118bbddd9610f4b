"""Annotator regions: validation messages, the command-line form, rasterisation."""

from __future__ import annotations

import numpy as np
import pytest

from curation.regions import (
    RegionError,
    parse_region,
    rasterise,
    region_masks,
    regions_json,
    validate_regions,
)


def test_box_is_normalised_and_json_is_canonical():
    regs = validate_regions([{"artifact": "glare", "kind": "box", "points": [[8, 6], [2, 1]]}])
    assert regs == [{"artifact": "glare", "kind": "box", "points": [[2.0, 1.0], [8.0, 6.0]]}]
    assert regions_json(regs) == (
        '[{"artifact":"glare","kind":"box","points":[[2.0,1.0],[8.0,6.0]]}]'
    )
    assert validate_regions(regions_json(regs)) == regs
    assert validate_regions(None) == [] and validate_regions("") == []


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ({"artifact": "glare"}, "must be a list"),
        (["glare"], "region 1: expected a dict"),
        ([{"artifact": "", "kind": "box", "points": [[0, 0], [1, 1]]}], "name the artifact"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, 0]]}], "exactly two corner"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, 0], [0, 5]]}], "zero width"),
        ([{"artifact": "glare", "kind": "ellipse", "points": [[0, 0], [1, 1]]}], "'kind'"),
        ([{"artifact": "glare", "kind": "polygon", "points": [[0, 0], [1, 1]]}], "at least 3"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, "a"], [1, 1]]}], "non-numeric"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, float("nan")], [1, 1]]}], "finite"),
        ([{"artifact": "glare", "kind": "box", "points": "0,0,1,1"}], "list of \\[x, y\\]"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, 0, 0], [1, 1]]}], "pair"),
        ([{"artifact": "glare", "kind": "box", "points": [[0, 0], [1, 1]], "x": 1}], "unknown key"),
        (
            [
                {"artifact": "glare", "kind": "box", "points": [[0, 0], [1, 1]]},
                {"artifact": "glare", "kind": "polygon", "points": [[0, 0], [1, 1], [2, 2]]},
            ],
            "region 2: the polygon has zero area",
        ),
    ],
)
def test_malformed_regions_are_rejected(regions, message):
    with pytest.raises(RegionError, match=message):
        validate_regions(regions)


def test_vocabulary_and_bounds_are_checked():
    box = [{"artifact": "leash", "kind": "box", "points": [[0, 0], [4, 4]]}]
    with pytest.raises(RegionError, match="unknown artifact 'leash'; use one of glare, tongue"):
        validate_regions(box, vocabulary=["tongue", "glare"])
    far = [{"artifact": "glare", "kind": "box", "points": [[0, 0], [40, 4]]}]
    with pytest.raises(RegionError, match="outside the 32×64 image"):
        validate_regions(far, image_size=(32, 64))
    edge = [{"artifact": "glare", "kind": "box", "points": [[0, 0], [32, 64]]}]
    assert validate_regions(edge, image_size=(32, 64))[0]["points"] == [[0.0, 0.0], [32.0, 64.0]]


def test_parse_region_command_line_form():
    assert parse_region("glare:box:1,2,5,6") == {
        "artifact": "glare",
        "kind": "box",
        "points": [[1.0, 2.0], [5.0, 6.0]],
    }
    assert len(parse_region("hands:polygon:0,0,4,0,0,4")["points"]) == 3
    for bad, message in [
        ("glare:box", "ARTIFACT:box"),
        ("glare:box:1,2,x,4", "numbers"),
        ("glare:box:1,2,3", "x,y pairs"),
    ]:
        with pytest.raises(RegionError, match=message):
            parse_region(bad)


def test_box_rasterises_pixel_centres():
    box = [{"artifact": "glare", "kind": "box", "points": [[1, 2], [4, 3]]}]
    mask = rasterise(box, (6, 5))
    expected = np.zeros((5, 6), dtype=bool)
    expected[2, 1:4] = True  # centres x = 1.5, 2.5, 3.5 and y = 2.5 lie inside
    np.testing.assert_array_equal(mask, expected)


def test_polygon_rasterises_with_even_odd_rule():
    tri = [{"artifact": "hands", "kind": "polygon", "points": [[0, 0], [4, 0], [0, 4]]}]
    mask = rasterise(tri, (4, 4))
    # centre (x+0.5, y+0.5) inside x + y < 4
    expected = np.array([[(x + 0.5) + (y + 0.5) < 4 for x in range(4)] for y in range(4)])
    np.testing.assert_array_equal(mask, expected)
    assert mask.sum() == 6


def test_rasterise_scales_to_output_shape_and_filters_artifacts():
    regs = [
        {"artifact": "glare", "kind": "box", "points": [[0, 0], [50, 100]]},
        {"artifact": "grass", "kind": "box", "points": [[50, 100], [100, 200]]},
    ]
    small = rasterise(regs, (100, 200), shape=(20, 10))
    assert small.shape == (20, 10) and small.sum() == 100
    glare = rasterise(regs, (100, 200), shape=(20, 10), artifacts=["glare"])
    assert glare[:10, :5].all() and glare.sum() == 50
    masks = region_masks(regs, (100, 200), shape=(20, 10))
    assert sorted(masks) == ["glare", "grass"] and masks["grass"][10:, 5:].all()
    with pytest.raises(ValueError, match="image_size"):
        rasterise(regs, (0, 10))
