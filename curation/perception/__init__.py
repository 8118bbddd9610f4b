"""Perception: what is in a photo, seen from the pixels alone (no model, no annotator).

- :mod:`~curation.perception.silhouette`: the animal mask and which kind it is (alpha,
  silhouette, grabcut, threshold);
- one detector per module (:mod:`~curation.perception.hands`, ``tongue``, ``grass``,
  ``glare``, ``collar``, ``collage``, ``text``), one contract
  ``(photo, animal) -> Detection(mask, score, version)`` (:mod:`~curation.perception.base`);
- :mod:`~curation.perception.catalog`: the detectors with versions and default thresholds;
- :mod:`~curation.perception.runner`: the detectors over a dataset, cached, as one table;
- :mod:`~curation.perception.summary`: counts and shares from that table;
- :mod:`~curation.perception.measure`: precision, recall, F1 and mask IoU against truth.
"""

from curation.perception.base import Detection
from curation.perception.catalog import CATALOG, Entry, select
from curation.perception.silhouette import MASK_KINDS, AnimalMask, animal_mask, read_photo

__all__ = [
    "CATALOG",
    "MASK_KINDS",
    "AnimalMask",
    "Detection",
    "Entry",
    "animal_mask",
    "read_photo",
    "select",
]
