"""The workbench's words, spelled once: splits, buckets, suggestions, flags and artifact tags.

Every module, command and page that names one of these reads it from here.

- :data:`SPLITS` — the torchreid splits, in the order tables are sorted by;
- :data:`BUCKETS` — an annotator's decision on a query: ``worked``, ``missed`` (a true match is
  in the gallery but was not found), ``spurious`` (found thanks to non-native features); also the
  folder names of an export;
- :data:`SUGGESTIONS` — what triage may suggest: a bucket, or :data:`NO_MATCH` (no photo of the
  query's post is in the gallery);
- :data:`FLAGS` — flags on a photo or a post: :data:`EXCLUDE`, :data:`MULTIPLE_ANIMALS`;
- :data:`DEFAULT_ARTIFACTS` — the artifact tags a new tag store starts with;
- :data:`GT_ARTIFACTS` — the artifacts the sample data's ground truth has masks for.
"""

from __future__ import annotations

SPLITS = ("train", "query", "gallery")

WORKED, MISSED, SPURIOUS = "worked", "missed", "spurious"
BUCKETS = (WORKED, MISSED, SPURIOUS)
NO_MATCH = "no-match-in-gallery"
SUGGESTIONS = (*BUCKETS, NO_MATCH)

EXCLUDE = "exclude"
MULTIPLE_ANIMALS = "multiple-animals"
FLAGS = (EXCLUDE, MULTIPLE_ANIMALS)

DEFAULT_ARTIFACTS = (
    "tongue",
    "hands",
    "grass",
    "glare",
    "pose",
    "background",
    "text-overlay",
    "collar",
    "collage",
    "other",
)
GT_ARTIFACTS = ("tongue", "hands", "grass", "glare", "collar")

__all__ = [
    "BUCKETS",
    "DEFAULT_ARTIFACTS",
    "EXCLUDE",
    "FLAGS",
    "GT_ARTIFACTS",
    "MISSED",
    "MULTIPLE_ANIMALS",
    "NO_MATCH",
    "SPLITS",
    "SPURIOUS",
    "SUGGESTIONS",
    "WORKED",
]
