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
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from curation.owned import RECORD, relative_parts
from curation.replace import replace_folder
from curation.rules.base import REMOVAL_COLUMNS, removal_frame, summarise, tag_set
from curation.vocabulary import BUCKETS, GT_ARTIFACTS, SPLITS

BUCKET_FOLDERS = BUCKETS
LAYOUTS = (None, "symlink", "copy")
PATH_COLUMNS = ("animal_mask", *(f"mask_{a}" for a in GT_ARTIFACTS), "counterfactual")
RESERVED = frozenset(
    {"manifest.csv", "manifest.parquet", "provenance.json", "removals.csv", "buckets.csv", RECORD}
    | set(BUCKET_FOLDERS)
)
MARKER = "workbench export"
_TORCHREID_POST = re.compile(r"^[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)?$")


class ExportError(ValueError):
    """The export cannot be written as asked; the message says why and what to do."""


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


@dataclass(frozen=True)
class _Source:
    """A file to export: its real path and the stat it had when planned."""

    path: Path
    stat: os.stat_result


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
    removals = _check_removals(removals, table)
    kept = table[~table["image"].isin(set(removals["image"]))].reset_index(drop=True)
    if kept.empty:
        raise ExportError("the rules removed every image; nothing would be left to train on")
    manifest, files = _plan_files(root, kept, layout)
    bucket_rows = _plan_buckets(root, dataset.table, buckets, heatmaps, layout)
    extra = dict(provenance or {})
    _check_target(out_dir, root)
    copy = layout == "copy"
    items = [*files, *((r["path"], r["src"]) for r in bucket_rows)]
    folders = BUCKET_FOLDERS if buckets is not None else ()
    tables = ["manifest.csv", "manifest.parquet", "removals.csv", "provenance.json"]
    tables += ["buckets.csv"] if buckets is not None else []
    plan = _plan_entries(items, folders, tables, copy)
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


# -- planning (no writes) ----------------------------------------------------------------------


def _check_removals(removals: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REMOVAL_COLUMNS if c not in removals.columns]
    if missing:
        raise ExportError(
            f"the removal table lacks column(s) {', '.join(missing)}; pass what a rule or "
            "apply_rules() returned"
        )
    stray = sorted(set(removals["image"]) - set(table["image"]))
    if stray:
        raise ExportError(
            f"{len(stray)} removed image(s) are not in the dataset (e.g. {stray[0]}); "
            "were the rules run on another dataset?"
        )
    return removal_frame(removals[list(REMOVAL_COLUMNS)].to_dict("records"))


def _source(root: Path, rel: str, row: str, column: str, real_root: str = "") -> _Source:
    """The file a manifest path names: a regular file whose real path (links followed) is inside
    the dataset folder (``real_root``, its real path), else ExportError naming the row and
    column."""
    where = f"row {row!r}, column {column!r}"
    try:
        parts = relative_parts(rel)
    except ValueError as exc:
        raise ExportError(
            f"{where}: {rel!r} {exc}; paths in a manifest are relative to the dataset folder "
            f"{root} and stay inside it"
        ) from exc
    real_root = real_root or os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, *parts))
    if real == real_root or os.path.commonpath([real, real_root]) != real_root:
        raise ExportError(
            f"{where}: {rel!r} leads to {real}, outside the dataset folder {real_root} "
            "(through a symbolic link); the export reads only files inside the dataset folder: "
            "put the file there or fix the path"
        )
    try:
        st = os.stat(real)
    except OSError as exc:
        raise ExportError(f"{where}: {rel}: file not found under {root} ({exc.strerror}); "
                          "cannot export it") from exc  # fmt: skip
    if not stat.S_ISREG(st.st_mode):
        raise ExportError(f"{where}: {rel!r} is not a regular file (a folder, pipe or device); "
                          "point it at an image or mask file")  # fmt: skip
    return _Source(Path(real), st)


def _dest(rel: str, row: str, column: str) -> str:
    """A manifest path as a destination inside the export (normalised: ``./a//b`` -> ``a/b``)."""
    try:
        return "/".join(relative_parts(rel))
    except ValueError as exc:  # _source refuses the same paths, with the longer message
        raise ExportError(f"row {row!r}, column {column!r}: {rel!r} {exc}") from exc


def _plan_files(root: Path, kept: pd.DataFrame, layout: str | None):
    """The exported manifest and the (relative destination, source file) pairs."""
    manifest = kept.copy()
    files: dict[str, _Source] = {}
    if layout is not None:
        names = []
        for rec in kept[["image", "post_id", "photo", "split"]].to_dict("records"):
            if not _TORCHREID_POST.match(rec["post_id"]):
                raise ExportError(
                    f"post_id {rec['post_id']!r} cannot be written as a torchreid file name "
                    "POSTID_PHOTONUM (letters, digits, '-', at most one '_'); export with "
                    "layout=None (links at the source paths) instead"
                )
            suffix = PurePosixPath(rec["image"]).suffix.lower()
            names.append(f"{rec['split']}/{rec['post_id']}_{rec['photo']}{suffix}")
        if names != list(kept["image"]):
            manifest["source_image"] = kept["image"].to_numpy()
        manifest["image"] = names
    wanted = [(new, old, old, "image") for new, old in zip(manifest["image"], kept["image"],
                                                           strict=True)]  # fmt: skip
    for col in (c for c in PATH_COLUMNS if c in kept.columns):
        wanted += [(rel, rel, img, col) for img, rel in zip(kept["image"], kept[col], strict=True)
                   if rel]  # fmt: skip
    real_root = os.path.realpath(root)
    for new, old, row, col in wanted:
        src = _source(root, old, row, col, real_root)
        dest = _dest(new, row, col)
        if dest in files and files[dest].path != src.path:
            raise ExportError(
                f"row {row!r}, column {col!r}: {dest} would hold both {files[dest].path} and "
                f"{src.path}; give the files distinct paths"
            )
        files[dest] = src
    for rel in files:
        top = rel.split("/")[0]
        if top in RESERVED:
            raise ExportError(
                f"{rel}: the export uses the name {top!r} itself; "
                "rename that folder in the source dataset"
            )
        for i in range(1, rel.count("/") + 1):
            if "/".join(rel.split("/")[:i]) in files:
                raise ExportError(f"{rel}: {'/'.join(rel.split('/')[:i])} is a file in the "
                                  "export, it cannot also be a folder; rename one")  # fmt: skip
    return manifest, sorted(files.items())


def _plan_entries(items, folders, tables, copy: bool) -> dict[str, dict]:
    """What the export will write (for the record a killed export leaves behind)."""
    plan: dict[str, dict] = {}
    for rel, src in items:
        plan[rel] = {"kind": "file"} if copy else {"kind": "link", "target": str(src.path)}
    for rel in list(plan) + list(folders):
        parts = rel.split("/")
        for i in range(1, len(parts) + (rel in folders)):
            plan["/".join(parts[:i])] = {"kind": "dir"}
    return {**plan, **{name: {"kind": "file"} for name in tables}}


def _plan_buckets(root: Path, table: pd.DataFrame, buckets, heatmaps, layout) -> list[dict]:
    if buckets is None:
        if heatmaps:
            raise ExportError("heatmaps are exported with the bucket folders; pass buckets too")
        return []
    if isinstance(buckets, Mapping):
        buckets = pd.DataFrame({"image": list(buckets), "bucket": list(buckets.values())})
    if not {"image", "bucket"} <= set(buckets.columns):
        raise ExportError("buckets need columns 'image' and 'bucket' (TagStore.current())")
    known = set(table["image"])
    stray = sorted(set(buckets["image"]) - known)
    if stray:
        raise ExportError(
            f"{len(stray)} tagged image(s) are not in the dataset (e.g. {stray[0]}); "
            "use the tag store of this dataset"
        )
    heatmaps = dict(heatmaps or {})
    stray = sorted(set(heatmaps) - known)
    if stray:
        raise ExportError(f"heatmaps given for image(s) not in the dataset: {stray[0]} ...")
    post = table.set_index("image")["post_id"]
    rows = []
    tagged = buckets[buckets["bucket"].isin(BUCKET_FOLDERS)].sort_values("image")
    for rec in tagged.to_dict("records"):
        image, bucket = rec["image"], rec["bucket"]
        base = {"image": image, "post_id": post[image], "bucket": bucket,
                "artifacts": ";".join(sorted(tag_set(rec.get("artifacts")))),
                "annotator": rec.get("annotator") or "", "note": rec.get("note") or ""}  # fmt: skip
        rows.append({**base, "kind": "image", "path": f"{bucket}/{_dest(image, image, 'image')}",
                     "src": _source(root, image, image, "image")})  # fmt: skip
        stem = PurePosixPath(_dest(image, image, "image")).with_suffix("").as_posix()
        seen: set[str] = set()
        for i, png in enumerate(heatmaps.get(image, ())):
            png = Path(png)
            real = Path(os.path.realpath(png))
            try:
                st = os.stat(real)
            except OSError as exc:
                raise ExportError(f"heatmap {png} for {image} not found") from exc
            if not stat.S_ISREG(st.st_mode):
                raise ExportError(f"heatmap {png} for {image} is not a regular file")
            name = png.name if png.name not in seen else f"{i}-{png.name}"
            seen.add(name)
            rows.append({**base, "kind": "heatmap", "path": f"{bucket}/{stem}__{name}",
                         "src": _Source(real, st)})  # fmt: skip
    return rows


def _check_target(out_dir: Path, root: Path) -> None:
    """Refuse an export folder that holds the dataset or lies inside it (what is in the folder
    is checked when it is replaced, :func:`curation.replace.check_replaceable`)."""
    real_root = Path(os.path.realpath(root))
    real_out = Path(os.path.realpath(out_dir.parent)) / out_dir.name
    if os.path.islink(real_out):
        return  # refused as a link, with its own message
    if real_root == real_out or real_out in real_root.parents:
        raise ExportError(
            f"{out_dir} holds the source dataset ({root}); replacing it would delete the "
            "source; export to another folder"
        )
    if real_root in real_out.parents:
        raise ExportError(
            f"{out_dir} is inside the source dataset ({root}); an export there would change "
            "the dataset it is made from; export to a folder outside it"
        )


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


def _provenance(dataset, kept, removals, layout, bucket_rows, written, extra) -> dict:
    from workbench import __version__

    table = dataset.table
    summary = summarise(removals)
    prov = {
        "tool": MARKER,
        "version": __version__,
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
