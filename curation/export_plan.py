"""Planning an export before anything is written: the removals checked against the manifest,
every file to link or copy (resolved inside the dataset root, stat recorded), its destination in
the chosen layout, and the bucket folders' entries."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from curation.owned import RECORD, relative_parts
from curation.rules.base import REMOVAL_COLUMNS, removal_frame, tag_set
from curation.vocabulary import BUCKETS, GT_ARTIFACTS

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


@dataclass(frozen=True)
class Source:
    """A file to export: its real path and the stat it had when planned."""

    path: Path
    stat: os.stat_result


def check_removals(removals: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
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


def source_file(root: Path, rel: str, row: str, column: str, real_root: str = "") -> Source:
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
    return Source(Path(real), st)


def dest_path(rel: str, row: str, column: str) -> str:
    """A manifest path as a destination inside the export (normalised: ``./a//b`` -> ``a/b``)."""
    try:
        return "/".join(relative_parts(rel))
    except ValueError as exc:  # source_file refuses the same paths, with the longer message
        raise ExportError(f"row {row!r}, column {column!r}: {rel!r} {exc}") from exc


def plan_files(root: Path, kept: pd.DataFrame, layout: str | None):
    """The exported manifest and the (relative destination, source file) pairs."""
    manifest = kept.copy()
    files: dict[str, Source] = {}
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
        src = source_file(root, old, row, col, real_root)
        dest = dest_path(new, row, col)
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


def plan_entries(items, folders, tables, copy: bool) -> dict[str, dict]:
    """What the export will write (for the record a killed export leaves behind)."""
    plan: dict[str, dict] = {}
    for rel, src in items:
        plan[rel] = {"kind": "file"} if copy else {"kind": "link", "target": str(src.path)}
    for rel in list(plan) + list(folders):
        parts = rel.split("/")
        for i in range(1, len(parts) + (rel in folders)):
            plan["/".join(parts[:i])] = {"kind": "dir"}
    return {**plan, **{name: {"kind": "file"} for name in tables}}


def plan_buckets(root: Path, table: pd.DataFrame, buckets, heatmaps, layout) -> list[dict]:
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
        dest = f"{bucket}/{dest_path(image, image, 'image')}"
        rows.append({**base, "kind": "image", "path": dest,
                     "src": source_file(root, image, image, "image")})  # fmt: skip
        stem = PurePosixPath(dest_path(image, image, "image")).with_suffix("").as_posix()
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
                         "src": Source(real, st)})  # fmt: skip
    return rows


def check_target(out_dir: Path, root: Path) -> None:
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
