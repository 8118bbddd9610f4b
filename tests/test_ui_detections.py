"""ui.detections draws people's regions solid and detections dashed, labelled, in other colours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ui.detections import CONFIRMED, DETECTED, HUMAN, REJECTED, draw, label

BOX = {"artifact": "hands", "kind": "box", "points": [[20, 40], [80, 100]]}


def _det(review="unreviewed", regions=(BOX,)):
    return {"artifact": "hands", "score": 0.912, "detector": "detector:hands@1",
            "regions": list(regions), "review": review}  # fmt: skip


def _share(arr: np.ndarray, colour, ys, x) -> float:
    column = arr[ys, x]
    return float(np.mean(np.all(column == colour, axis=1)))


def test_human_solid_and_detection_dashed_in_other_colours():
    photo = Image.new("RGB", (120, 140))
    human = [{"artifact": "tongue", "kind": "box", "points": [[10, 10], [30, 30]]}]
    out = np.asarray(draw(photo, human=human, detections=pd.DataFrame([_det()]), width=1))
    ys = np.arange(12, 29)
    assert _share(out, HUMAN, ys, 10) == 1.0  # a solid left edge
    edge = _share(out, DETECTED, np.arange(45, 99), 20)
    assert 0.4 < edge < 0.8  # dashed: strokes and gaps along the left edge
    assert np.asarray(photo).max() == 0  # the caller's image is left untouched
    above = out[26:39, 20:118].astype(int)  # the label is written above the region
    orange = (above[..., 0] > 150) & (above[..., 1] > 60) & (above[..., 2] < 80)
    assert orange.sum() > 30


def test_review_colours_and_label():
    photo = Image.new("RGB", (120, 140))
    for review, colour in (("confirmed", CONFIRMED), ("rejected", REJECTED)):
        out = np.asarray(draw(photo, detections=[_det(review)], width=1))
        assert _share(out, colour, np.arange(45, 99), 80) > 0.4
        assert _share(out, DETECTED, np.arange(45, 99), 80) == 0.0
    assert label(_det()) == "hands 0.91 - hands@1"
    assert label(_det("confirmed")) == "hands 0.91 - hands@1 confirmed"


def test_points_scale_to_a_thumbnail():
    thumb = Image.new("RGB", (60, 70))
    out = np.asarray(draw(thumb, human=[BOX], source_size=(120, 140), width=1))
    assert _share(out, HUMAN, np.arange(21, 49), 10) == 1.0  # x 20 -> 10 at half size
    assert _share(out, HUMAN, np.arange(21, 49), 20) == 0.0
    with pytest.raises(ValueError, match="positive"):
        draw(thumb, source_size=(0, 10))
