"""File checks of a table's rows: every path column inside the root, the image files themselves
(present, regular, decodable), and one row per file (duplicate rows and spellings, links and
their targets, duplicate photo numbers)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from curation.findings import Finding
from curation.images import IMAGE_EXTENSIONS, check_image
from curation.paths import LinkPolicy, PathError, normalise, path_columns, real_path, resolve


def path_findings(
    root: Path, table: pd.DataFrame, check: str, follow_links: LinkPolicy, manifest: bool
) -> list[Finding]:
    """Normalise every path column in place; refuse entries that escape the root (as text, and
    with ``check`` other than none, through links); check the image files themselves.

    ``table`` has a RangeIndex (row ``idx + 1`` in messages)."""
    findings: list[Finding] = []
    seen_files: dict[tuple[int, int], str] = {}
    real_root = real_path(root) if check != "none" else ""
    images: list[str] = []
    for col in path_columns(table.columns):
        values = table[col].tolist()
        if col == "image":
            images = values
        for idx, entry in enumerate(values):
            if not entry:
                continue  # optional and empty, or an empty image the value checks reported
            try:
                values[idx] = norm = normalise(entry)
                if check != "none":
                    real = resolve(root, norm, follow_links=follow_links, real_root=real_root)
            except PathError as exc:
                where = _where(manifest, idx, col, images[idx], entry)
                findings.append(
                    Finding("error", exc.code, f"{where}: {exc}", (images[idx],), (idx,))
                )
                continue
            if check == "none":
                continue
            if col == "image":
                problem = _image_problem(norm, real, root, check, seen_files)
                if problem is not None:
                    code, message = problem
                    findings.append(Finding("error", code, message, (norm,), (idx,)))
            elif not os.path.isfile(real):
                where = _where(manifest, idx, col, images[idx], entry)
                findings.append(
                    Finding(
                        "warning",
                        "missing-file",
                        f"{where}: {norm} not found under {root}; steps that read this column "
                        "(the sanity report, comparisons) will fail on this row",
                        (images[idx],),
                    )
                )
        table[col] = values
    return findings


def _where(manifest: bool, idx: int, col: str, image: str, entry: str) -> str:
    if not manifest:
        return str(entry)
    label = f" ({image})" if col != "image" and isinstance(image, str) and len(image) < 200 else ""
    return f"row {idx + 1}{label}, column {col}"


def _image_problem(
    image: str, real: Path, root: Path, check: str, seen: dict[tuple[int, int], str]
) -> tuple[str, str] | None:
    try:
        st = os.stat(real)  # a regular file or missing: resolve() refused anything else
    except FileNotFoundError:
        return "missing-file", f"{image}: file not found under {root}"
    except OSError as exc:
        return "unreadable", f"{image}: cannot read the file ({exc.strerror})"
    key = (st.st_dev, st.st_ino)
    if seen.get(key) == image:
        return None  # one entry listed twice: a duplicate row, reported as such
    if key in seen:
        return "same-file", (
            f"{image}: the same file as {seen[key]} (a link or a second spelling of it); "
            "keep one row"
        )
    seen[key] = image
    suffix = Path(image).suffix
    if suffix.lower() not in IMAGE_EXTENSIONS:
        return "not-an-image", f"{image}: not an image file (extension {suffix or 'none'})"
    reason = check_image(real, full=check == "full")
    if reason is not None:
        return "unreadable", f"{image}: {reason}"
    return None


def duplicate_findings(table: pd.DataFrame) -> list[Finding]:
    findings: list[Finding] = []
    dup = table[table.duplicated("image", keep="first") & (table["image"] != "")]
    for image, group in dup.groupby("image", sort=True):
        findings.append(
            Finding(
                "error",
                "duplicate-row",
                f"{image}: listed more than once (spellings such as ./{image} count as the same "
                "file); keep one row",
                (image,),
                tuple(group.index),
            )
        )
    key = ["split", "post_id", "photo"]
    valid = table[(table["post_id"] != "") & (table["photo"] >= 0)]  # bad values: reported
    if "copy_of" in valid.columns:  # a saved-again copy repeats its photo's number on purpose
        valid = valid[valid["copy_of"].fillna("") == ""]
    dup_key = valid[valid.duplicated(key, keep=False) & ~valid.duplicated("image", keep=False)]
    for _, group in dup_key.groupby(key):
        images = tuple(group["image"])
        findings.append(
            Finding(
                "error",
                "duplicate-photo",
                f"{', '.join(images)}: same split, post and photo number; renumber the photos",
                images,
                tuple(group.index),
            )
        )
    return findings
