"""Collages: one photo made of several, joined along straight seams.

A seam is a row (or column) across which the picture changes abruptly along almost its whole
length while there is picture on both sides: for a candidate row, the share of columns where
the mean absolute RGB difference to the next row exceeds 40 and both rows are non-black. A
uniform separator band (a straight line of one colour with picture above and below) counts
too. Rows near the border (5 %) are ignored; a segmented photo cut straight by its crop has
black on one side and is no seam, and two segmented photos joined on black show no seam at
all (missed). Score in [0, 1]: the best seam's share, mapped from
[0.6, 0.85]; the mask is the seam itself, a few pixels wide.
"""

from __future__ import annotations

import numpy as np

from curation.perception.base import Detection, check_inputs, squash

NAME = "collage"
VERSION = "1"
THRESHOLD = 0.5
DESCRIPTION = "collage: straight full-width or full-height seams between joined photos"
STEP = 40.0  # mean |ΔRGB| across a seam (0-255)
BLACK = 16


def _seams(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row boundary ``y`` (between rows y and y + 1): the share of columns forming a seam,
    by an abrupt change and by a uniform separator band; both ``(H - 1,)`` in [0, 1]."""
    f = photo.astype(np.float32)
    content = photo.max(axis=2) > BLACK
    step = np.abs(f[1:] - f[:-1]).mean(axis=2)
    both = content[1:] & content[:-1]
    abrupt = ((step > STEP) & both).mean(axis=1)
    # a separator: a row of near-constant colour unlike the picture 3 rows above and below
    mean = f.mean(axis=1)
    flat = f.std(axis=1).mean(axis=1) < 4.0
    band = np.zeros(photo.shape[0] - 1, np.float32)
    h = photo.shape[0]
    for y in np.flatnonzero(flat[3:-3]) + 3:
        unlike = min(np.abs(mean[y] - mean[y - 3]).mean(), np.abs(mean[y] - mean[y + 3]).mean())
        if unlike > STEP and content[y - 3].mean() > 0.5 and content[y + 3].mean() > 0.5:
            band[min(y, h - 2)] = 1.0
    return abrupt, band


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Straight seams of a collage (see the module docstring); ``animal`` is not used."""
    photo, animal = check_inputs(photo, animal)
    h, w = photo.shape[:2]
    mask = np.zeros((h, w), bool)
    best, seams = 0.0, []
    for axis, img in ((0, photo), (1, photo.transpose(1, 0, 2))):
        abrupt, band = _seams(img)
        n = len(abrupt)
        lo, hi = max(1, int(0.05 * (n + 1))), min(n - 1, int(0.95 * (n + 1)))
        share = np.maximum(abrupt, band)[lo:hi]
        if share.size == 0:
            continue
        i = int(np.argmax(share))
        score = squash(float(share[i]), 0.6, 0.85)
        if score > 0:
            pos = lo + i
            seams.append({"axis": "row" if axis == 0 else "column", "at": pos + 1})
            if axis == 0:
                mask[max(pos - 1, 0) : pos + 3, :] = True
            else:
                mask[:, max(pos - 1, 0) : pos + 3] = True
        best = max(best, score)
    return Detection(mask if best > 0 else np.zeros((h, w), bool), best, VERSION, {"seams": seams})
