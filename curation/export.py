"""Export a cleaned dataset: manifest (CSV + Parquet), image files, bucket folders, provenance.

What an export folder holds::

    OUT/
      manifest.csv, manifest.parquet   kept rows, sorted (split, post, photo), POSIX paths
                                       relative to OUT; `load_dataset(OUT)` and
                                       `workbench train --data OUT` read them directly
      train/ query/ gallery/ ...       the kept images (and their mask/counterfactual files)
      worked/ missed/ spurious/        tagged images per bucket, with their heatmap PNGs
      buckets.csv                      what is in the bucket folders
      removals.csv                     every removal: image, post, split, rule, cause, reason
      provenance.json                  input hashes, rules and parameters, counts, version, time

Where the manifest's paths point: always inside OUT, so an export is a dataset of its own.
``layout=None`` (default) mirrors the source's relative paths as symbolic links to the source
files, so image ids (and the tags keyed by them) stay the same. ``layout="symlink"`` or
``"copy"`` writes torchreid's folder layout ``{train,query,gallery}/POSTID_PHOTONUM.ext`` (links
or real copies) that torchreid users can train on unchanged; when a source id differs from that
name, the manifest's ``image`` is the new name and ``source_image`` keeps the old one. Ground
truth files (masks, counterfactuals) are mirrored at their relative paths, linked or copied
the same way. Links point to absolute paths of the source files: moving the source breaks a
linked export; ``"copy"`` makes it self-contained.

Safety: every path the manifest gives (``image``, masks, counterfactuals) must resolve, links
followed, to a regular file inside the dataset folder, or the export refuses naming the row and
column; every destination is checked to stay inside the export's own temporary folder (see
:class:`curation.owned.Staging`): nothing is written or linked anywhere else.

Atomicity and ownership: everything is written to a temporary folder next to OUT, recorded in
``written.json`` (every file with its size and SHA-256, every link with its target), flushed to
disk and swapped in (an atomic exchange on Linux, two renames elsewhere); a crash or kill
before the swap leaves the previous export untouched, and the next export removes the leftovers
that their record proves ours (and restores a previous export moved aside, should a crash fall
between the two renames). OUT is replaced only when it is empty or holds exactly what an
earlier export recorded there: a file added to it, or changed, and the export refuses and lists
it. Folders get the mode the umask gives (not mkdtemp's 0700). A full disk is reported with
the path; the previous export stays.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from curation.export_plan import (
    BUCKET_FOLDERS,
    LAYOUTS,
    MARKER,
    ExportError,
    check_removals,
    check_target,
    plan_buckets,
    plan_entries,
    plan_files,
)
from curation.replace import replace_folder
from curation.rules.base import summarise
from curation.vocabulary import SPLITS


@dataclass
class ExportResult:
    """Where an export went and what it holds."""

    out_dir: Path
    manifest_csv: Path
    manifest_parquet: Path
    provenance: Path
    removals_csv: Path
    buckets_csv: Path | None
    kept_images: int
    removed_images: int
    summary: pd.DataFrame = field(repr=False)
    bucket_counts: dict[str, int] = field(default_factory=dict)
    layout: str | None = None
    kept_aside: Path | None = None  # the previous export, when files were added to it meanwhile


def export(
    dataset,
    removals: pd.DataFrame,
    out_dir: str | Path,
    *,
    layout: str | None = None,
    buckets: pd.DataFrame | Mapping[str, str] | None = None,
    heatmaps: Mapping[str, Sequence[str | Path]] | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write ``dataset`` minus ``removals`` to ``out_dir`` (see the module docstring).

    ``removals``: a removal table (:mod:`curation.rules`); its images must be in the dataset.
    ``layout``: ``None`` (mirror the source paths with links), ``"symlink"`` or ``"copy"``
    (torchreid layout). ``buckets``: the store's :meth:`~TagStore.current` (``image, bucket``
    and optionally ``artifacts, annotator, note``) or a mapping image -> bucket; fills
    ``worked/ missed/ spurious/``. ``heatmaps``: image -> heatmap PNG paths, copied or linked
    next to the image in its bucket folder. ``provenance``: extra JSON-ready entries for
    ``provenance.json`` (e.g. ``rules``, ``tags``).
    """
    if layout not in LAYOUTS:
        raise ExportError(f"layout must be None, 'symlink' or 'copy', not {layout!r}")
    out_dir = Path(os.path.abspath(Path(out_dir).expanduser()))
    root = Path(dataset.root)
    table = dataset.table
    removals = check_removals(removals, table)
    kept = table[~table["image"].isin(set(removals["image"]))].reset_index(drop=True)
    if kept.empty:
        raise ExportError("the rules removed every image; nothing would be left to train on")
    manifest, files = plan_files(root, kept, layout)
    bucket_rows = plan_buckets(root, dataset.table, buckets, heatmaps, layout)
    extra = dict(provenance or {})
    check_target(out_dir, root)
    copy = layout == "copy"
    items = [*files, *((r["path"], r["src"]) for r in bucket_rows)]
    folders = BUCKET_FOLDERS if buckets is not None else ()
    tables = ["manifest.csv", "manifest.parquet", "removals.csv", "provenance.json"]
    tables += ["buckets.csv"] if buckets is not None else []
    plan = plan_entries(items, folders, tables, copy)
    with replace_folder(out_dir, MARKER, what="workbench export", plan=plan, error=ExportError,
                        before_swap=lambda tmp: _before_swap(tmp)) as st:  # fmt: skip
        for rel, src in items:
            if copy:
                st.copy(rel, src.path, src.stat)
            else:
                st.link(rel, src.path)
        for name in folders:
            if name not in st.entries:
                st.mkdir(name)
        written = _write_tables(st, manifest, removals, bucket_rows, buckets is not None)
        prov = _provenance(dataset, kept, removals, layout, bucket_rows, written, extra)
        st.write_bytes("provenance.json", _json(prov).encode())
    counts = {b: sum(r["bucket"] == b for r in bucket_rows if r["kind"] == "image")
              for b in BUCKET_FOLDERS}  # fmt: skip
    return ExportResult(
        out_dir=out_dir,
        manifest_csv=out_dir / "manifest.csv",
        manifest_parquet=out_dir / "manifest.parquet",
        provenance=out_dir / "provenance.json",
        removals_csv=out_dir / "removals.csv",
        buckets_csv=out_dir / "buckets.csv" if buckets is not None else None,
        kept_images=len(kept),
        removed_images=int(removals["image"].nunique()),
        summary=summarise(removals),
        bucket_counts=counts if buckets is not None else {},
        layout=layout,
        kept_aside=st.kept_aside,
    )


def tags_provenance(store) -> dict[str, Any]:
    """What identifies a tag store's state for ``provenance.json``: its URL (password hidden),
    the SHA-256 of its current state (:meth:`~curation.store.TagStore.snapshot_sha256`) and
    its number of events."""
    return {"store": store.url, "snapshot_sha256": store.snapshot_sha256(), "events": store.count()}


def canonical_sha256(table: pd.DataFrame) -> str:
    """SHA-256 of a table's canonical CSV (as given: columns and row order matter)."""
    blob = table.to_csv(index=False, lineterminator="\n").encode()
    return hashlib.sha256(blob).hexdigest()


def _write_tables(st, manifest, removals, bucket_rows, with_buckets) -> dict[str, str]:
    """Write the tables through the staging folder; returns their SHA-256 by name."""
    parquet = io.BytesIO()
    manifest.to_parquet(parquet, index=False)
    blobs = {
        "manifest.csv": manifest.to_csv(index=False, lineterminator="\n").encode(),
        "manifest.parquet": parquet.getvalue(),
        "removals.csv": removals.to_csv(index=False, lineterminator="\n").encode(),
    }
    if with_buckets:
        cols = ["image", "post_id", "bucket", "artifacts", "annotator", "note", "path", "heatmaps"]
        images = [r for r in bucket_rows if r["kind"] == "image"]
        maps: dict[str, list[str]] = {}
        for r in bucket_rows:
            if r["kind"] == "heatmap":
                maps.setdefault(r["image"], []).append(r["path"])
        df = pd.DataFrame(
            [{**r, "heatmaps": ";".join(maps.get(r["image"], []))} for r in images], columns=cols
        )
        df = df.sort_values(["bucket", "image"], kind="mergesort")
        blobs["buckets.csv"] = df.to_csv(index=False, lineterminator="\n").encode()
    for name, blob in blobs.items():
        st.write_bytes(name, blob)
    return {name: st.entries[name]["sha256"] for name in blobs}


def _version() -> str:
    """The installed reid-workbench version (read from the package metadata, as the CLI's
    ``--version`` is; ``0.0.0+source`` for a source tree that was never installed)."""
    try:
        return version("reid-workbench")
    except PackageNotFoundError:
        return "0.0.0+source"


def _provenance(dataset, kept, removals, layout, bucket_rows, written, extra) -> dict:
    table = dataset.table
    summary = summarise(removals)
    prov = {
        "tool": MARKER,
        "version": _version(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {
            "root": str(Path(dataset.root).absolute()),
            "description": dataset.source,
            "manifest_sha256": canonical_sha256(table),
            "images": len(table),
            "posts": int(table["post_id"].nunique()),
        },
        "kept": {
            "images": len(kept),
            "posts": int(kept["post_id"].nunique()),
            "per_split": _per_split(kept),
        },
        "removed": {
            "images": int(removals["image"].nunique()),
            "posts_entirely": len(set(table["post_id"]) - set(kept["post_id"])),
            "per_split": _per_split(removals.drop_duplicates("image")),
            "by_reason": summary.to_dict("records"),
        },
        "layout": layout or "mirror-symlinks",
        "paths": "relative to this folder (POSIX); files are "
        + ("copies" if layout == "copy" else "symbolic links to the source files"),
        "buckets": {
            b: sum(r["bucket"] == b for r in bucket_rows if r["kind"] == "image")
            for b in BUCKET_FOLDERS
        },
        "files_sha256": written,
    }
    clash = sorted(set(extra) & set(prov))
    if clash:
        raise ExportError(f"provenance entries {', '.join(clash)} are written by the export")
    return {**prov, **extra}


def _per_split(df: pd.DataFrame) -> dict[str, int]:
    counts = df["split"].value_counts()
    return {s: int(counts.get(s, 0)) for s in SPLITS}


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, indent=2, default=str) + "\n"


# -- swapping ----------------------------------------------------------------------------------


def _before_swap(tmp: Path) -> None:
    """Called when the new export is complete, just before it replaces the old one."""
