"""Tag-store events: what one annotator action is (:class:`TagEvent`), the ``events`` table's
columns, and every check an event passes before it is written (:class:`EventChecker`)."""

from __future__ import annotations

import difflib
import json
import numbers
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image
from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, String, Table

from curation.regions import regions_json, validate_regions
from curation.store_db import StoreError
from curation.vocabulary import BUCKETS, FLAGS, SUGGESTIONS

ACTIONS = ("bucket", "artifacts", "flags", "note")
TARGET_KINDS = ("image", "post")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class TagEvent:
    """One annotator action, before it is stored (``id`` and time are assigned on insert).

    ``target`` is a manifest ``image`` path (``target_kind='image'``) or a ``post_id``.
    ``model``/``epoch`` name the checkpoint that was on screen when the decision was made.
    """

    target: str
    annotator: str
    action: str
    target_kind: str = "image"
    bucket: str | None = None
    suggested: str | None = None
    artifacts: Sequence[str] | None = None
    regions: Sequence[dict] | None = None
    flags: Sequence[str] | None = None
    note: str | None = None
    model: str | None = None
    epoch: int | None = None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


COLUMNS = (
    "ts", "annotator", "target_kind", "target", "action", "bucket", "suggested", "artifacts",
    "regions", "flags", "note", "model", "epoch", "undoes", "dataset", "score", "threshold",
    "detector", "verdict",
)  # fmt: skip
_TYPES = {"epoch": Integer(), "undoes": Integer(), "score": Float(), "threshold": Float()}
# The events table as written by migrations 1 and 3 (the DDL lives in curation.migrations).
EVENTS = Table(
    "events",
    MetaData(),
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    *(Column(c, _TYPES.get(c, String())) for c in COLUMNS),
)
# Machine tags sign as detector:NAME@VERSION (curation.perception.catalog.Entry.annotator).
DETECTOR_PREFIX = "detector:"
_DETECTOR_RE = re.compile(r"^detector:([a-z0-9][a-z0-9_-]{0,63})@([A-Za-z0-9._-]{1,32})$")
VERDICTS = {"confirm": "confirmed", "reject": "rejected"}
INSERT = EVENTS.insert()


class EventChecker:
    """Checks events against a dataset (image and post ids, region bounds from the image size;
    None: any id) and the store's artifact vocabulary (``vocabulary()``: the current tags)."""

    def __init__(self, dataset: Any, vocabulary: Callable[[], list[str]]):
        self._dataset = dataset
        self._images = set(dataset.table["image"]) if dataset is not None else None
        self._posts = set(dataset.table["post_id"]) if dataset is not None else None
        self.vocabulary = vocabulary

    def row(self, ev: TagEvent) -> dict:
        """The ``events`` row of ``ev`` (no id, no time yet, no dataset); StoreError naming what
        is wrong."""
        annotator = check_human(ev.annotator)
        if ev.action not in ACTIONS:
            raise StoreError(
                f"unknown action {ev.action!r}; use one of {', '.join(ACTIONS)} (undo has its "
                "own method)"
            )
        if ev.target_kind not in TARGET_KINDS:
            raise StoreError(f"target_kind must be 'image' or 'post', not {ev.target_kind!r}")
        target = self.check_target(ev.target, ev.target_kind)
        row = {**dict.fromkeys(COLUMNS), "annotator": annotator, "target": target}
        row.update(target_kind=ev.target_kind, action=ev.action, note=check_note(ev.note))
        row.update(model=check_model(ev.model), epoch=check_epoch(ev.epoch))
        if ev.action == "bucket":
            if ev.target_kind != "image":
                raise StoreError("buckets apply to images (queries), not to posts")
            if ev.bucket is not None and ev.bucket not in BUCKETS:
                raise StoreError(
                    f"unknown bucket {ev.bucket!r}; use one of {', '.join(BUCKETS)} "
                    "(or None to clear)"
                )
            if ev.suggested is not None and ev.suggested not in SUGGESTIONS:
                raise StoreError(
                    f"unknown suggested bucket {ev.suggested!r}; "
                    f"use one of {', '.join(SUGGESTIONS)}"
                )
            row.update(bucket=ev.bucket, suggested=ev.suggested)
        elif ev.action == "artifacts":
            if ev.target_kind != "image":
                raise StoreError("artifacts are tagged per image; tag each photo of the post")
            row.update(self.artifacts(target, ev.artifacts, ev.regions))
        elif ev.action == "flags":
            row["flags"] = json.dumps(check_flags(ev.flags))
        elif ev.note is None:
            raise StoreError("a note action needs a note (use '' to clear the note)")
        return row

    def check_target(self, target: str, kind: str) -> str:
        if not isinstance(target, str) or not target.strip():
            raise StoreError(f"the {kind} id must be a non-empty string, got {target!r}")
        target = target.strip()
        known = self._images if kind == "image" else self._posts
        if known is not None and target not in known:
            close = difflib.get_close_matches(target, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            what = "manifest image path (split/file)" if kind == "image" else "post_id"
            raise StoreError(
                f"unknown {kind} {target!r}: not in the dataset ({len(known)} {kind}s); "
                f"use its {what}{hint}"
            )
        return target

    def artifacts(self, image: str, artifacts, regions) -> dict:
        if artifacts is None or isinstance(artifacts, str):
            raise StoreError("artifacts must be a list of tags, e.g. ['tongue', 'grass']")
        vocab = self.vocabulary()
        tags = sorted({a.strip() for a in artifacts})
        unknown = [a for a in tags if a not in vocab]
        if unknown:
            raise StoreError(
                f"unknown artifact tag(s) {', '.join(unknown)}; use {', '.join(vocab)} "
                "(or add the tag to the vocabulary first)"
            )
        size = self.image_size(image) if regions else None
        try:
            regs = validate_regions(regions, vocabulary=vocab, image_size=size)
        except ValueError as exc:
            raise StoreError(f"{image}: {exc}") from exc
        stray = sorted({r["artifact"] for r in regs} - set(tags))
        if stray:
            raise StoreError(
                f"{image}: region(s) marked {', '.join(stray)} but the artifact list does not "
                "contain it; add the tag to the artifacts or remove the region"
            )
        return {"artifacts": json.dumps(tags), "regions": regions_json(regs)}

    def image_size(self, image: str) -> tuple[int, int] | None:
        """Displayed (EXIF-rotated) ``(width, height)``; None without a dataset."""
        if self._dataset is None:
            return None
        path = self._dataset.path(image)
        try:
            with Image.open(path) as img:
                width, height = img.size
                if img.getexif().get(0x0112) in (5, 6, 7, 8):
                    width, height = height, width
        except OSError as exc:
            raise StoreError(f"{image}: cannot read the image size from {path} ({exc})") from exc
        return width, height


def check_annotator(annotator: Any) -> str:
    if not isinstance(annotator, str) or not annotator.strip():
        raise StoreError("every event needs an annotator name (who made the decision)")
    if len(annotator) > 200:
        raise StoreError("the annotator name is longer than 200 characters")
    return annotator.strip()


def check_human(annotator: Any) -> str:
    """An annotator name a person may use: ``detector:...`` is reserved for machine tags."""
    annotator = check_annotator(annotator)
    if annotator.startswith(DETECTOR_PREFIX):
        raise StoreError(
            f"{annotator!r}: names starting with {DETECTOR_PREFIX!r} sign detections (machine "
            "tags); a person tags under their own name"
        )
    return annotator


def parse_detector(detector: Any) -> tuple[str, str]:
    """``(name, version)`` of a machine-tag signature ``detector:NAME@VERSION``."""
    match = _DETECTOR_RE.match(detector) if isinstance(detector, str) else None
    if match is None:
        raise StoreError(
            f"{detector!r} is not a detector signature; detections sign as "
            "detector:NAME@VERSION, e.g. detector:hands@1"
        )
    return match.group(1), match.group(2)


def check_score(value: Any, what: str) -> float:
    """A detection score or threshold in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise StoreError(f"the detection {what} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise StoreError(f"the detection {what} must lie in [0, 1], got {value}")
    return value


def check_tag_name(tag: Any) -> str:
    if not isinstance(tag, str) or not _TAG_RE.match(tag):
        raise StoreError(
            f"invalid tag name {tag!r}: use lowercase letters, digits and '-', "
            "e.g. 'text-overlay' (at most 64 characters)"
        )
    return tag


def check_flags(flags: Any) -> list[str]:
    if flags is None or isinstance(flags, str):
        raise StoreError(f"flags must be a list drawn from {', '.join(FLAGS)}")
    flags = sorted(set(flags))
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise StoreError(f"unknown flag(s) {', '.join(unknown)}; use {', '.join(FLAGS)}")
    return flags


def check_note(note: Any) -> str | None:
    if note is not None and not isinstance(note, str):
        raise StoreError(f"a note must be text, not {type(note).__name__}")
    return note


def check_model(model: Any) -> str | None:
    if model is not None and (not isinstance(model, str) or len(model) > 500):
        raise StoreError("model must be a short text naming the checkpoint (or series) on screen")
    return model


def check_epoch(epoch: Any) -> int | None:
    if epoch is None:
        return None
    if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
        raise StoreError(f"epoch must be a non-negative whole number, got {epoch!r}")
    return int(epoch)
