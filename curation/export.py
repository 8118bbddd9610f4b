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

Atomicity: everything is written to a temporary folder next to OUT, then swapped in (an atomic
exchange on Linux, two renames elsewhere); a crash or kill before the swap leaves the previous
export untouched, and the next export removes the leftovers (and restores a previous export
moved aside, should a crash fall between the two renames). Only a folder that holds a
workbench export (or an empty one) is ever replaced.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from curation.dataset import GT_ARTIFACTS, SPLITS
from curation.rules.base import REMOVAL_COLUMNS, removal_frame, summarise, tag_set

BUCKET_FOLDERS = ("worked", "missed", "spurious")
LAYOUTS = (None, "symlink", "copy")
PATH_COLUMNS = ("animal_mask", *(f"mask_{a}" for a in GT_ARTIFACTS), "counterfactual")
RESERVED = frozenset(
    {"manifest.csv", "manifest.parquet", "provenance.json", "removals.csv", "buckets.csv"}
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
    out_dir = Path(out_dir).expanduser().absolute()
    table = dataset.table
    removals = _check_removals(removals, table)
    kept = table[~table["image"].isin(set(removals["image"]))].reset_index(drop=True)
    if kept.empty:
        raise ExportError("the rules removed every image; nothing would be left to train on")
    manifest, files = _plan_files(dataset, kept, layout)
    bucket_rows = _plan_buckets(dataset, buckets, heatmaps, layout)
    extra = dict(provenance or {})
    _check_target(out_dir, Path(dataset.root))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _lock(out_dir):
        _recover(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            _materialise(tmp, files, copy=layout == "copy")
            _materialise(tmp, [(r["path"], r["src"]) for r in bucket_rows], copy=layout == "copy")
            for name in BUCKET_FOLDERS if buckets is not None else ():
                (tmp / name).mkdir(exist_ok=True)
            written = _write_tables(tmp, manifest, removals, bucket_rows, buckets is not None)
            prov = _provenance(dataset, kept, removals, layout, bucket_rows, written, extra)
            (tmp / "provenance.json").write_text(_json(prov))
            _before_swap(tmp)
            _swap(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # then re-raise: the old export stays
            raise
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


def _source(dataset, rel: str) -> Path:
    src = Path(os.path.realpath(dataset.path(rel)))
    if not src.is_file():
        raise ExportError(f"{rel}: file not found under {dataset.root}; cannot export it")
    return src


def _plan_files(dataset, kept: pd.DataFrame, layout: str | None):
    """The exported manifest and the (relative destination, source file) pairs."""
    manifest = kept.copy()
    files: dict[str, Path] = {}
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
    for new, old in zip(manifest["image"], kept["image"], strict=True):
        files[new] = _source(dataset, old)
    for col in (c for c in PATH_COLUMNS if c in kept.columns):
        for rel in kept[col]:
            if rel and rel not in files:
                files[rel] = _source(dataset, rel)
    for rel in files:
        if PurePosixPath(rel).parts[0] in RESERVED:
            raise ExportError(
                f"{rel}: the export uses the name {PurePosixPath(rel).parts[0]!r} itself; "
                "rename that folder in the source dataset"
            )
    return manifest, sorted(files.items())


def _plan_buckets(dataset, buckets, heatmaps, layout) -> list[dict]:
    if buckets is None:
        if heatmaps:
            raise ExportError("heatmaps are exported with the bucket folders; pass buckets too")
        return []
    if isinstance(buckets, Mapping):
        buckets = pd.DataFrame({"image": list(buckets), "bucket": list(buckets.values())})
    if not {"image", "bucket"} <= set(buckets.columns):
        raise ExportError("buckets need columns 'image' and 'bucket' (TagStore.current())")
    known = set(dataset.table["image"])
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
    post = dataset.table.set_index("image")["post_id"]
    rows = []
    tagged = buckets[buckets["bucket"].isin(BUCKET_FOLDERS)].sort_values("image")
    for rec in tagged.to_dict("records"):
        image, bucket = rec["image"], rec["bucket"]
        base = {"image": image, "post_id": post[image], "bucket": bucket,
                "artifacts": ";".join(sorted(tag_set(rec.get("artifacts")))),
                "annotator": rec.get("annotator") or "", "note": rec.get("note") or ""}  # fmt: skip
        rows.append({**base, "kind": "image", "path": f"{bucket}/{image}",
                     "src": _source(dataset, image)})  # fmt: skip
        stem = PurePosixPath(image).with_suffix("").as_posix()
        seen: set[str] = set()
        for i, png in enumerate(heatmaps.get(image, ())):
            png = Path(png)
            if not png.is_file():
                raise ExportError(f"heatmap {png} for {image} not found")
            name = png.name if png.name not in seen else f"{i}-{png.name}"
            seen.add(name)
            rows.append({**base, "kind": "heatmap", "path": f"{bucket}/{stem}__{name}",
                         "src": Path(os.path.realpath(png))})  # fmt: skip
    return rows


def _check_target(out_dir: Path, root: Path) -> None:
    real_out, real_root = Path(os.path.realpath(out_dir)), Path(os.path.realpath(root))
    if real_root == real_out or real_out in real_root.parents:
        raise ExportError(
            f"{out_dir} holds the source dataset ({root}); replacing it would delete the "
            "source; export to another folder"
        )
    if not out_dir.exists():
        return
    if not out_dir.is_dir() or out_dir.is_symlink():
        raise ExportError(f"{out_dir} exists and is not a folder; choose another --out")
    if any(out_dir.iterdir()) and not _is_export(out_dir):
        raise ExportError(
            f"{out_dir} is not empty and holds no workbench export (no provenance.json from "
            "`workbench export`); refusing to replace it; choose a new or empty folder"
        )


def _is_export(folder: Path) -> bool:
    try:
        prov = json.loads((folder / "provenance.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(prov, dict) and prov.get("tool") == MARKER


# -- writing -----------------------------------------------------------------------------------


def _materialise(base: Path, files: Sequence[tuple[str, Path]], *, copy: bool) -> None:
    for rel, src in files:
        dest = base / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if copy:
            shutil.copyfile(src, dest)
        else:
            os.symlink(src, dest)


def _write_tables(tmp, manifest, removals, bucket_rows, with_buckets) -> dict[str, str]:
    manifest.to_csv(tmp / "manifest.csv", index=False, lineterminator="\n")
    manifest.to_parquet(tmp / "manifest.parquet", index=False)
    removals.to_csv(tmp / "removals.csv", index=False, lineterminator="\n")
    names = ["manifest.csv", "manifest.parquet", "removals.csv"]
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
        df.to_csv(tmp / "buckets.csv", index=False, lineterminator="\n")
        names.append("buckets.csv")
    return {n: _file_sha256(tmp / n) for n in names}


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


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# -- swapping ----------------------------------------------------------------------------------


def _before_swap(tmp: Path) -> None:
    """Called when the new export is complete, just before it replaces the old one."""


@contextlib.contextmanager
def _lock(out_dir: Path) -> Iterator[None]:
    """Serialise exports to the same folder (a lock file next to it)."""
    lock = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _recover(out_dir: Path) -> None:
    """Remove leftovers of interrupted exports; restore an export moved aside mid-swap."""
    parent, name = out_dir.parent, out_dir.name
    olds = sorted(parent.glob(f".{name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not out_dir.exists():
        os.rename(olds.pop(), out_dir)
    for stale in [*olds, *parent.glob(f".{name}.tmp-*")]:
        shutil.rmtree(stale)


def _swap(tmp: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    if _exchange(tmp, out_dir):
        shutil.rmtree(tmp)  # now holds the previous export
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    os.rmdir(old)
    os.rename(out_dir, old)
    os.rename(tmp, out_dir)
    shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux's renameat2(RENAME_EXCHANGE); False if unsupported."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: two renames instead
    raise OSError(err, f"cannot swap {a} and {b}: {os.strerror(err)}")
