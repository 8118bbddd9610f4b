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

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from curation.findings import DatasetError, Finding, errors_of
from curation.images import IMAGE_EXTENSIONS, check_image

SPLITS = ("train", "query", "gallery")
REQUIRED_COLUMNS = ("image", "post_id", "photo", "split", "camid")
GT_ARTIFACTS = ("tongue", "hands", "grass", "glare")
OPTIONAL_TEXT_COLUMNS = (
    "species",
    "look",
    "animal_mask",
    "artifacts",
    *(f"mask_{a}" for a in GT_ARTIFACTS),
    "counterfactual",
    "homogeneous_artifact",
    "decoy_of",
)
MANIFEST_NAMES = ("manifest.csv", "manifest.parquet")

# POSTID_PHOTONUM or GROUP_POST_PHOTONUM; the identity is everything before the photo number.
_NAME_RE = re.compile(r"^(?P<post>[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)?)_(?P<photo>\d+)$")


@dataclass
class Dataset:
    """A validated manifest plus the root its paths are relative to.

    ``table`` is sorted by split (train, query, gallery), post_id, photo; ``findings`` holds the
    warnings the loader reported (errors raise :class:`DatasetError` instead, unless dropped).
    """

    root: Path
    table: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    source: str = ""

    def path(self, image: str) -> Path:
        """Absolute path of a manifest ``image`` (or mask) entry."""
        return self.root / image

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


def parse_name(stem: str) -> tuple[str, int] | None:
    """``'10631_2'`` -> ``('10631', 2)``; ``'7_10631_2'`` -> ``('7_10631', 2)``; else None."""
    m = _NAME_RE.match(stem)
    if not m:
        return None
    return m.group("post"), int(m.group("photo"))


def load_dataset(
    path: str | Path,
    *,
    root: str | Path | None = None,
    check: str = "header",
    errors: str = "raise",
) -> Dataset:
    """Load a dataset folder (manifest inside or torchreid layout) or a manifest file.

    A folder holding ``manifest.csv``/``manifest.parquet`` is read through the manifest (it
    carries the ground truth); any other folder is scanned as torchreid's layout.
    ``check``: ``"none"``, ``"header"`` (open each file's header) or ``"full"`` (decode pixels).
    ``errors``: ``"raise"`` (default) or ``"drop"`` (drop bad rows, report them as warnings).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(
            f"{path} does not exist; point to a dataset folder (with train/, query/, gallery/) "
            "or to a manifest .csv/.parquet file"
        )
    if path.is_dir():
        for name in MANIFEST_NAMES:
            if (path / name).is_file():
                return load_manifest(path / name, root=root or path, check=check, errors=errors)
        return load_folder(path, check=check, errors=errors)
    return load_manifest(path, root=root, check=check, errors=errors)


def load_folder(root: str | Path, *, check: str = "header", errors: str = "raise") -> Dataset:
    """Scan torchreid's layout ``ROOT/{train,query,gallery}/POSTID_PHOTONUM.ext``."""
    root = Path(root)
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        raise DatasetError(
            f"{root} has none of the folders train/, query/, gallery/ and no manifest.csv; "
            "use torchreid's layout ROOT/{train,query,gallery}/POSTID_PHOTONUM.jpg or a manifest"
        )
    findings: list[Finding] = []
    rows: list[dict] = []
    for split in present:
        for file in sorted((root / split).iterdir()):
            rel = f"{split}/{file.name}"
            if file.name.startswith("."):
                findings.append(
                    Finding("warning", "hidden-file", f"{rel}: hidden file ignored", (rel,))
                )
                continue
            if file.is_dir():
                findings.append(
                    Finding("warning", "subfolder", f"{rel}/: subfolder ignored", (rel,))
                )
                continue
            if file.suffix.lower() not in IMAGE_EXTENSIONS:
                findings.append(
                    Finding(
                        "error",
                        "not-an-image",
                        f"{rel}: not an image file (extension {file.suffix or 'none'}); "
                        "move it out of the dataset folder",
                        (rel,),
                    )
                )
                continue
            parsed = parse_name(file.stem)
            if parsed is None:
                findings.append(
                    Finding(
                        "error",
                        "bad-name",
                        f"{rel}: cannot read the post and photo number from the name; "
                        "rename it POSTID_PHOTONUM.jpg (or GROUP_POST_PHOTONUM.jpg)",
                        (rel,),
                    )
                )
                continue
            post, photo = parsed
            rows.append(
                {"image": rel, "post_id": post, "photo": photo, "split": split, "camid": photo}
            )
    table = pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS))
    return _finish(root, table, findings, check=check, errors=errors, source=f"folder {root}")


def load_manifest(
    path: str | Path,
    *,
    root: str | Path | None = None,
    check: str = "header",
    errors: str = "raise",
) -> Dataset:
    """Read a CSV or Parquet manifest; paths are relative to ``root`` (default: its folder)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest {path} not found; check the path")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        elif suffix in (".parquet", ".pq"):
            table = pd.read_parquet(path)
        else:
            raise DatasetError(
                f"{path}: unknown manifest format {suffix or '(no extension)'}; "
                "use .csv or .parquet"
            )
    except DatasetError:
        raise
    except Exception as exc:  # pandas/pyarrow raise many types for a corrupt file
        raise DatasetError(
            f"{path}: cannot read the manifest ({exc}); is it a valid {suffix}?"
        ) from exc
    root = Path(root) if root is not None else path.parent
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing column(s) {', '.join(missing)}; a manifest needs "
            f"{', '.join(REQUIRED_COLUMNS)}"
        )
    table, findings = _coerce(table)
    return _finish(root, table, findings, check=check, errors=errors, source=f"manifest {path}")


def _coerce(table: pd.DataFrame) -> tuple[pd.DataFrame, list[Finding]]:
    """Normalise column types; report rows whose values cannot be used."""
    findings: list[Finding] = []
    table = table.copy()
    for col in ("image", "post_id", "split"):
        table[col] = table[col].astype(str).str.strip()
    table["image"] = table["image"].str.replace("\\", "/", regex=False)
    for col in ("photo", "camid"):
        num = pd.to_numeric(table[col], errors="coerce")
        bad = table.loc[num.isna() | (num != num.round()), "image"].tolist()
        for image in bad:
            findings.append(
                Finding("error", f"bad-{col}", f"{image}: {col} must be a whole number", (image,))
            )
        table[col] = num.fillna(-1).astype("int64")
    for image in table.loc[~table["split"].isin(SPLITS), "image"]:
        findings.append(
            Finding(
                "error",
                "bad-split",
                f"{image}: split must be one of {', '.join(SPLITS)}",
                (image,),
            )
        )
    for image in table.loc[table["post_id"].isin(["", "nan", "None"]), "image"]:
        findings.append(Finding("error", "no-post-id", f"{image}: post_id is empty", (image,)))
    for col in OPTIONAL_TEXT_COLUMNS:
        if col in table.columns:
            table[col] = table[col].fillna("").astype(str)
    if "polluted" in table.columns:
        table["polluted"] = table["polluted"].astype(str).str.lower().isin(["true", "1", "yes"])
    return table, findings


def _escapes_root(image: str) -> bool:
    """Lexical check (symlinked exports may point elsewhere on purpose)."""
    p = PurePosixPath(image)
    return (
        image == ""
        or p.is_absolute()
        or ".." in p.parts
        or re.match(r"^[A-Za-z]:", image) is not None
    )


def _finish(
    root: Path,
    table: pd.DataFrame,
    findings: list[Finding],
    *,
    check: str,
    errors: str,
    source: str,
) -> Dataset:
    if check not in ("none", "header", "full"):
        raise ValueError(f"check must be 'none', 'header' or 'full', not {check!r}")
    if errors not in ("raise", "drop"):
        raise ValueError(f"errors must be 'raise' or 'drop', not {errors!r}")
    findings = list(findings)
    if table.empty and not findings:
        raise DatasetError(f"{source}: no images found; nothing to load")
    findings += _row_findings(root, table, check)
    bad = set(img for f in errors_of(findings) for img in f.images)
    if bad and errors == "raise":
        raise DatasetError.from_findings(source, findings)
    if bad:
        findings = [f.as_warning() if f.level == "error" else f for f in findings]
        table = table[~table["image"].isin(bad)]
    table = _sorted(table)
    findings += _identity_findings(table)
    return Dataset(root=root, table=table, findings=findings, source=source)


def _row_findings(root: Path, table: pd.DataFrame, check: str) -> list[Finding]:
    findings: list[Finding] = []
    dup = table[table.duplicated("image", keep="first")]
    for image in dup["image"].unique():
        findings.append(
            Finding(
                "error", "duplicate-row", f"{image}: listed more than once; keep one row", (image,)
            )
        )
    key = ["split", "post_id", "photo"]
    dup_key = table[table.duplicated(key, keep=False) & ~table.duplicated("image", keep=False)]
    for _, group in dup_key.groupby(key):
        images = tuple(group["image"])
        findings.append(
            Finding(
                "error",
                "duplicate-photo",
                f"{', '.join(images)}: same split, post and photo number; renumber the photos",
                images,
            )
        )
    for image in table["image"]:
        if _escapes_root(image):
            findings.append(
                Finding(
                    "error",
                    "escapes-root",
                    f"{image!r}: path escapes the dataset root; use a path relative to {root}",
                    (image,),
                )
            )
            continue
        if check == "none":
            continue
        file = root / image
        if not file.is_file():
            findings.append(
                Finding("error", "missing-file", f"{image}: file not found under {root}", (image,))
            )
            continue
        if file.suffix.lower() not in IMAGE_EXTENSIONS:
            findings.append(
                Finding(
                    "error",
                    "not-an-image",
                    f"{image}: not an image file (extension {file.suffix or 'none'})",
                    (image,),
                )
            )
            continue
        reason = check_image(file, full=check == "full")
        if reason is not None:
            findings.append(Finding("error", "unreadable", f"{image}: {reason}", (image,)))
    return findings


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
