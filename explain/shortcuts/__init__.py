"""Shortcut scores: which posts a model matches through something other than the animal.

- :mod:`~explain.shortcuts.regions`: candidate regions of a photo (detected artifacts,
  annotators' regions, the model's own Grad-CAM regions) and equal-area controls on the animal;
- :mod:`~explain.shortcuts.reliance`: the similarity drop when a region is removed, minus the
  drop for its controls (batched forwards, cached);
- :mod:`~explain.shortcuts.scan`: that over every photo of some splits, from one checkpoint;
- :mod:`~explain.shortcuts.posts`: per post, the data evidence (share of photos with one
  artifact), the model evidence (reliance on it) and the combined score, with its evidence.

Typical use (what ``workbench shortcuts`` does)::

    regions, photos, info = scan(loaded, dataset, detections, cache_dir=cache)
    posts = post_scores(regions, photos)
"""

from explain.shortcuts.posts import POST_COLUMNS, post_scores
from explain.shortcuts.regions import Region
from explain.shortcuts.reliance import FILLS, ControlSettings
from explain.shortcuts.scan import REGION_COLUMNS, scan

__all__ = [
    "FILLS",
    "POST_COLUMNS",
    "REGION_COLUMNS",
    "ControlSettings",
    "Region",
    "post_scores",
    "scan",
]
