"""The one overlay renderer: colours of a map, its colour bar, the same picture everywhere."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explain.heatmaps.render import (
    COLORMAPS,
    LABEL_HEIGHT,
    colour_bar,
    coloured,
    overlay,
    strip,
    with_colour_bar,
)


def test_colour_bar_runs_from_zero_to_one_in_the_overlay_colours():
    for name in COLORMAPS:
        bar = colour_bar(101, name, height=6)
        assert bar.shape == (6 + LABEL_HEIGHT, 101, 3) and bar.dtype == np.uint8
        for value in (0.0, 0.5, 1.0):
            flat = np.full((2, 2), value, np.float32)
            photo = np.zeros((2, 2, 3), np.uint8)
            # a map of one value, fully opaque, has the bar's colour at that value
            np.testing.assert_array_equal(
                overlay(photo, flat, opacity=1.0, colormap=name)[0, 0],
                bar[0, round(value * 100)],
            )
    jet = colour_bar(64)
    assert jet[0, 0, 2] > 100 and jet[0, 0, 0] < 10  # jet starts dark blue
    assert jet[0, -1, 0] > 100 and jet[0, -1, 2] < 10  # and ends dark red
    assert (jet[10:, :] == 255).mean() > 0.8  # the label line is white with black text
    assert (jet[10:, :] < 128).any()


def test_overlay_blends_by_opacity():
    photo = np.full((4, 4, 3), 200, np.uint8)
    heat = np.zeros((2, 2), np.float32)
    np.testing.assert_array_equal(overlay(photo, heat, opacity=0.0), photo)
    half = overlay(photo, heat, opacity=0.5, colormap="hot")
    want = np.round(0.5 * coloured(np.zeros((4, 4)), "hot") + 0.5 * photo).astype(np.uint8)
    assert np.abs(half.astype(int) - want.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="opacity must lie in"):
        overlay(photo, heat, opacity=1.5)
    with pytest.raises(ValueError, match="unknown colormap 'rainbow'; choose from jet"):
        coloured(heat, "rainbow")


def test_strips_carry_the_colour_bar():
    tiles = [np.zeros((20, 8, 3), np.uint8), np.full((20, 8, 3), 255, np.uint8)]
    pic = with_colour_bar(strip(tiles, ["a", "b"], pad=0))
    assert pic.shape == (LABEL_HEIGHT + 20 + 10 + LABEL_HEIGHT, 16, 3)
    np.testing.assert_array_equal(pic[LABEL_HEIGHT + 20 :], colour_bar(16))
    assert Image.fromarray(pic).size == (16, pic.shape[0])
    with pytest.raises(ValueError, match="width >= 2"):
        colour_bar(1)
