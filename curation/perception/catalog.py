"""The catalog of artifact detectors: one entry per artifact, read by the runner, the command
line, the pages and the curation rules.

Each entry names its module (one detector per module under :mod:`curation.perception`), its
version (part of every cache key, so a changed detector never reads stale results), its
default threshold on the score and a one-line description. ``kind`` is ``pixel`` (fast, numpy
and OpenCV) or ``ocr`` (Tesseract, about 100× slower).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from curation.perception.base import Detection

Detector = Callable[[np.ndarray, np.ndarray], Detection]

_MODULES = ("hands", "tongue", "grass", "glare", "collar", "collage", "text")
_KINDS = {"text": "ocr"}
# the tag-store vocabulary's name for each artifact, where it differs from the detector's
TAGS = {"text": "text-overlay"}


@dataclass(frozen=True)
class Entry:
    """One detector: ``name`` (the artifact), ``module``, ``version``, ``threshold`` (default,
    on the score in [0, 1]), ``description``, ``kind`` (``pixel`` or ``ocr``), ``tag`` (the
    artifact's name in the tag store's vocabulary)."""

    name: str
    module: str
    version: str
    threshold: float
    description: str
    kind: str
    tag: str

    @property
    def detect(self) -> Detector:
        """The detector function ``(photo, animal) -> Detection``."""
        return importlib.import_module(self.module).detect

    @property
    def annotator(self) -> str:
        """How its results sign in the tag store: ``detector:NAME@VERSION``."""
        return f"detector:{self.name}@{self.version}"


def _entry(name: str) -> Entry:
    module = importlib.import_module(f"curation.perception.{name}")
    return Entry(
        name=module.NAME,
        module=module.__name__,
        version=module.VERSION,
        threshold=float(module.THRESHOLD),
        description=module.DESCRIPTION,
        kind=_KINDS.get(name, "pixel"),
        tag=TAGS.get(name, name),
    )


CATALOG: dict[str, Entry] = {e.name: e for e in map(_entry, _MODULES)}
PIXEL = tuple(n for n, e in CATALOG.items() if e.kind == "pixel")


def select(names: Iterable[str] | str | None = None) -> list[Entry]:
    """Catalog entries for ``names`` (a list, a comma-separated string, ``all`` or None for
    every detector, ``pixel`` for all but OCR), in catalog order.

    Raises ValueError naming an unknown detector and listing the known ones.
    """
    if names is None:
        return list(CATALOG.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    wanted: list[str] = []
    for n in names:
        if n == "all":
            wanted += list(CATALOG)
        elif n == "pixel":
            wanted += list(PIXEL)
        elif n in CATALOG:
            wanted.append(n)
        else:
            raise ValueError(
                f"unknown detector {n!r}; choose from {', '.join(CATALOG)} (or all, pixel)"
            )
    if not wanted:
        raise ValueError(f"no detector chosen; choose from {', '.join(CATALOG)}")
    return [CATALOG[n] for n in CATALOG if n in set(wanted)]


def table() -> list[dict]:
    """The catalog as rows (name, module, version, threshold, kind, tag, description)."""
    return [
        {
            k: getattr(e, k)
            for k in ("name", "module", "version", "threshold", "kind", "tag", "description")
        }
        for e in CATALOG.values()
    ]
