"""The dataset model: one manifest schema for every source of images.

A manifest is a table with one row per image:

``image``    path relative to the dataset root, POSIX separators (``query/10631_2.jpg``)
``post_id``  identity: one ad (post) shows one animal (torchreid's ``pid``)
``photo``    index of the photo within its post
``split``    ``train``, ``query`` or ``gallery``
``camid``    torchreid's camera id; the folder loader uses the photo index, so a query photo and
             the other photos of its post never share a camid and stay valid true matches

Optional ground-truth columns (written by the sample generator, read when present):
``species``, ``look``, ``animal_mask`` (mask path), ``artifacts`` (``;``-joined names),
``mask_<artifact>`` (mask path per artifact), ``counterfactual`` (same photo without its
artifacts), ``homogeneous_artifact``, ``polluted``, ``decoy_of``.

Two loaders produce the same :class:`Dataset`: :func:`load_folder` for torchreid's layout
``ROOT/{train,query,gallery}/POSTID_PHOTONUM.jpg`` and :func:`load_manifest` for CSV/Parquet.
:func:`load_dataset` picks one from the path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from curation.findings import DatasetError, Finding, errors_of
from curation.manifest_io import Limits, read_table
from curation.names import NamePattern
from curation.paths import LinkPolicy, is_path_column, path_columns, resolve
from curation.rowchecks import duplicate_findings, path_findings
from curation.values import MAX_INDEX, Checker, id_column, text_column, truthy_cell, whole_cell
from curation.vocabulary import GT_ARTIFACTS, SPLITS

REQUIRED_COLUMNS = ("image", "post_id", "photo", "split", "camid")
OPTIONAL_TEXT_COLUMNS = (
    "species",
    "look",
    "animal_mask",
    "artifacts",
    *(f"mask_{a}" for a in GT_ARTIFACTS),
    "counterfactual",
    "homogeneous_artifact",
    "decoy_of",
    "copy_of",
)
MANIFEST_NAMES = ("manifest.csv", "manifest.parquet")
CHECKS = ("none", "header", "full")


@dataclass
class Dataset:
    """A validated manifest plus the root its paths are relative to.

    ``table`` is sorted by split (train, query, gallery), post_id, photo; ``findings`` holds the
    warnings the loader reported (errors raise :class:`DatasetError` instead, unless dropped).
    ``follow_links``: False (default) refuses files reached through a symbolic link that points
    outside ``root``; True allows any link; a list of folders allows links into those.
    """

    root: Path
    table: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    source: str = ""
    follow_links: LinkPolicy = False

    def __post_init__(self) -> None:
        if not isinstance(self.follow_links, bool):
            self.follow_links = tuple(Path(p) for p in self.follow_links)

    def path(self, entry: str) -> Path:
        """Real path of a manifest entry (``image``, a mask, a counterfactual) under ``root``.

        The one way the workbench turns an entry into a file: raises
        :class:`curation.paths.PathError` for an entry that is absolute, holds ``..``, or resolves
        outside the root through a link (unless ``follow_links`` allows it). Opens nothing.
        """
        return resolve(self.root, entry, follow_links=self.follow_links)

    def split(self, name: str) -> pd.DataFrame:
        """Rows of one split, in manifest order."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {', '.join(SPLITS)}")
        return self.table[self.table["split"] == name]

    def counts(self) -> pd.DataFrame:
        """Posts and images per split (index: split; columns: posts, images)."""
        grouped = self.table.groupby("split", sort=False)
        out = pd.DataFrame({"posts": grouped["post_id"].nunique(), "images": grouped.size()})
        return out.reindex([s for s in SPLITS if s in out.index])

    @property
    def has_ground_truth(self) -> bool:
        """True when the manifest carries artifact ground truth (masks, artifact names)."""
        return "artifacts" in self.table.columns

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]


def parse_name(stem: str, pattern: str | NamePattern | None = None) -> tuple[str, int] | None:
    """``'10631_2'`` -> ``('10631', 2)``; ``'7_10631_2'`` -> ``('7_10631', 2)``; ``'123-4'`` ->
    ``('123', 4)``; None when the name is not understood or is a camera name (``IMG_2034``)."""
    pattern = pattern if isinstance(pattern, NamePattern) else NamePattern(pattern)
    parsed = None if pattern.camera_like(stem) else pattern.parse(stem)
    return None if parsed is None else (parsed.post, parsed.photo)


def load_dataset(
    path: str | Path,
    *,
    root: str | Path | None = None,
    check: str = "header",
    errors: str = "raise",
    follow_links: LinkPolicy = False,
    limits: Limits | None = None,
    name_pattern: str | NamePattern | None = None,
    post_from: str = "name",
) -> Dataset:
    """Load a dataset folder (manifest inside or torchreid layout) or a manifest file.

    A folder holding ``manifest.csv``/``manifest.parquet`` is read through the manifest (it
    carries the ground truth); any other folder is scanned as torchreid's layout.
    ``check``: ``"none"`` (no file is touched: paths are checked as text only, and
    :meth:`Dataset.path` still refuses an outside file when it is read), ``"header"`` (resolve
    every path, open each image's header) or ``"full"`` (also decode the pixels).
    ``errors``: ``"raise"`` (default) or ``"drop"`` (drop bad rows, report them as warnings).
    ``follow_links``: see :class:`Dataset`. ``limits``: manifest caps (default: from the
    environment, :class:`curation.manifest_io.Limits`). ``name_pattern``, ``post_from``: how a
    folder's file names give posts and photos (:func:`load_folder`; a manifest names them itself).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"{path} does not exist; point to a dataset folder (with train/, query/, gallery/) "
            "or to a manifest .csv/.parquet file"
        )
    opts = {"check": check, "errors": errors, "follow_links": follow_links, "limits": limits}
    if path.is_dir():
        for name in MANIFEST_NAMES:
            if (path / name).is_file():
                return load_manifest(path / name, root=root or path, **opts)
        return load_folder(path, name_pattern=name_pattern, post_from=post_from, **opts)
    return load_manifest(path, root=root, **opts)


def load_folder(
    root: str | Path,
    *,
    check: str = "header",
    errors: str = "raise",
    follow_links: LinkPolicy = False,
    limits: Limits | None = None,
    name_pattern: str | NamePattern | None = None,
    post_from: str = "name",
) -> Dataset:
    """Scan torchreid's layout ``ROOT/{train,query,gallery}/POSTID_PHOTONUM.ext`` (split folders
    in any case). ``name_pattern``: a regular expression with the groups ``post`` and ``photo``
    (:mod:`curation.names`; None: the default forms). ``post_from="folder"``: photos in
    ``SPLIT/POST/`` subfolders belong to post ``POST``, numbered in name order
    (:mod:`curation.folders`)."""
    from curation.folders import scan_folder

    root = Path(root)
    limits = limits or Limits.from_env()
    table, findings = scan_folder(
        root, SPLITS, max_rows=limits.max_rows, name_pattern=name_pattern, post_from=post_from
    )
    if table.empty:
        table = pd.DataFrame(columns=list(REQUIRED_COLUMNS))
    return _finish(
        root, table, findings, check=check, errors=errors, source=f"folder {root}",
        follow_links=follow_links,
    )  # fmt: skip


def load_manifest(
    path: str | Path,
    *,
    root: str | Path | None = None,
    check: str = "header",
    errors: str = "raise",
    follow_links: LinkPolicy = False,
    limits: Limits | None = None,
) -> Dataset:
    """Read a CSV or Parquet manifest; paths are relative to ``root`` (default: its folder).

    Rows are numbered from 1 in messages, the header not counted (row 1 is line 2 of a CSV).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"manifest {path} not found; check the path")
    if not path.is_file():
        raise DatasetError(f"manifest {path} is not a file; give a .csv or .parquet file")
    table = read_table(path, limits or Limits.from_env()).reset_index(drop=True)
    root = Path(root) if root is not None else path.parent
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; a manifest needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    table, findings = _coerce(table)
    return _finish(
        root, table, findings, check=check, errors=errors, source=f"manifest {path}",
        follow_links=follow_links,
    )  # fmt: skip


def _coerce(table: pd.DataFrame) -> tuple[pd.DataFrame, list[Finding]]:
    """One type per known column (see :mod:`curation.values`); bad cells become findings."""
    if table.empty:
        return table, []  # nothing to check: the loader says the manifest holds no images
    check = Checker(table)
    out = table.copy()
    for col in table.columns:
        if col == "post_id" or col == "decoy_of":
            out[col] = id_column(check, col, required=col == "post_id")
        elif col in ("photo", "camid"):
            prefix = f"{col} must be a whole number from 0 to {MAX_INDEX}: "
            values = check.column(col, whole_cell, prefix)
            out[col] = pd.array([-1 if v is None else v for v in values], dtype="int64")
        elif col == "polluted":
            values = check.column(col, truthy_cell, "polluted ")
            out[col] = [bool(v) for v in values]
        elif col in ("image", "split"):
            code = "bad-path" if col == "image" else "bad-split"
            out[col] = text_column(check, col, required=True, missing_code=code)
        elif col in OPTIONAL_TEXT_COLUMNS or is_path_column(col):
            out[col] = text_column(check, col, required=False)
    out["split"] = out["split"].str.strip()
    for idx in out.index[~out["split"].isin(SPLITS) & (out["split"] != "")]:
        check.bad(idx, "split", f"{out.at[idx, 'split'][:40]!r}: split must be one of "
                  f"{', '.join(SPLITS)}", "bad-split")  # fmt: skip
    for col in path_columns(out.columns):
        out[col] = out[col].str.strip()
    return out, check.findings


def _finish(
    root: Path,
    table: pd.DataFrame,
    findings: list[Finding],
    *,
    check: str,
    errors: str,
    source: str,
    follow_links: LinkPolicy,
) -> Dataset:
    if check not in CHECKS:
        raise ValueError(f"check must be 'none', 'header' or 'full', not {check!r}")
    if errors not in ("raise", "drop"):
        raise ValueError(f"errors must be 'raise' or 'drop', not {errors!r}")
    if not isinstance(follow_links, bool):
        follow_links = tuple(Path(p) for p in follow_links)
    findings = list(findings)
    if table.empty and not findings:
        raise DatasetError(f"{source}: no images found; nothing to load")
    manifest = source.startswith("manifest")
    table = table.copy()
    findings += path_findings(root, table, check, follow_links, manifest)
    findings += duplicate_findings(table)
    errs = errors_of(findings)
    if errs and errors == "raise":
        raise DatasetError.from_findings(source, findings)
    if errs:
        bad = _bad_rows(table, errs)
        findings = [f.as_warning() if f.level == "error" else f for f in findings]
        table = table.drop(index=sorted(bad))
        if table.empty:
            raise DatasetError(
                f"{source}: every row is bad, nothing is left to load; fix the problems "
                f"listed (first: {errs[0].message})",
                findings,
            )
    table = _sorted(table)
    findings += _identity_findings(table)
    return Dataset(
        root=root, table=table, findings=findings, source=source, follow_links=follow_links
    )


def _bad_rows(table: pd.DataFrame, errs: list[Finding]) -> set[int]:
    bad: set[int] = set()
    by_image: dict[str, list[int]] | None = None
    for f in errs:
        if f.rows:
            bad.update(f.rows)
            continue
        if by_image is None:
            by_image = {}
            for idx, image in table["image"].items():
                by_image.setdefault(image, []).append(idx)
        for image in f.images:
            bad.update(by_image.get(image, ()))
    return bad


def _identity_findings(table: pd.DataFrame) -> list[Finding]:
    findings: list[Finding] = []
    query_posts = set(table.loc[table["split"] == "query", "post_id"])
    gallery_posts = set(table.loc[table["split"] == "gallery", "post_id"])
    train_posts = set(table.loc[table["split"] == "train", "post_id"])
    if query_posts and gallery_posts:
        absent = sorted(query_posts - gallery_posts)
        if absent:
            images = tuple(
                table.loc[table["post_id"].isin(absent) & (table["split"] == "query"), "image"]
            )
            findings.append(
                Finding(
                    "warning",
                    "query-without-gallery",
                    f"{len(absent)} query post(s) have no photo in the gallery and can never be "
                    f"found: {_preview(absent)}",
                    images,
                )
            )
    leaked = sorted(train_posts & (query_posts | gallery_posts))
    if leaked:
        findings.append(
            Finding(
                "warning",
                "train-test-overlap",
                f"{len(leaked)} post(s) appear both in train and in query/gallery, which inflates "
                f"the metrics: {_preview(leaked)}",
                tuple(table.loc[table["post_id"].isin(leaked), "image"]),
            )
        )
    return findings


def _preview(items: Iterable[str], n: int = 8) -> str:
    items = list(items)
    head = ", ".join(items[:n])
    return head + (f" and {len(items) - n} more" if len(items) > n else "")


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    order = {s: i for i, s in enumerate(SPLITS)}
    out = table.assign(_split_order=table["split"].map(order))
    out = out.sort_values(["_split_order", "post_id", "photo", "image"], kind="mergesort")
    return out.drop(columns="_split_order").reset_index(drop=True)
