"""Scanning a dataset folder: split folders, file names, posts from subfolders, and a report of
everything that was not understood.

Layouts (split folders matched without regard to case: ``query/``, ``Query/``, ``TRAIN/``):

``ROOT/SPLIT/POSTID_PHOTONUM.jpg``   the post and photo come from the name
                                     (:class:`curation.names.NamePattern`)
``ROOT/SPLIT/POST/anything.jpg``     with ``post_from="folder"``: the subfolder is the post, its
                                     photos are numbered 1, 2, ... in name order

What could not be read is reported grouped by cause — one finding per cause with the count,
a few examples and the fix — so a folder of 2,000 phone photos gives one message, not 2,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from curation.findings import DatasetError, Finding
from curation.images import IMAGE_EXTENSIONS
from curation.names import NAME_PATTERN_ENV, NamePattern, examples

POST_FROM = ("name", "folder")
_PATTERN_FIX = (
    f"give a name pattern (--name-pattern REGEX or {NAME_PATTERN_ENV}, with the groups "
    "(?P<post>...) and (?P<photo>...)), take the post from subfolders (--post-from-folder), "
    "or describe the photos in a manifest.csv (image, post_id, photo, split, camid)"
)


@dataclass
class _Scan:
    rows: list[dict] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unread: dict[str, list[str]] = field(default_factory=dict)  # cause -> images
    copies: list[str] = field(default_factory=list)
    subfolders: list[tuple[str, int]] = field(default_factory=list)  # (folder, images inside)


def split_folders(root: Path, splits: tuple[str, ...]) -> dict[str, Path]:
    """``split -> folder`` for the children of ``root`` named like a split in any case; two
    spellings of one split (``query/`` and ``Query/``) are refused (DatasetError)."""
    found: dict[str, Path] = {}
    for child in sorted(root.iterdir()):
        split = child.name.lower()
        if split not in splits or not child.is_dir():
            continue
        if split in found:
            raise DatasetError(
                f"{root}: both {found[split].name}/ and {child.name}/ would be the {split} split; "
                "merge them into one folder"
            )
        found[split] = child
    return found


def scan_folder(
    root: Path,
    splits: tuple[str, ...],
    *,
    max_rows: int,
    name_pattern: str | NamePattern | None = None,
    post_from: str = "name",
) -> tuple[pd.DataFrame, list[Finding]]:
    """Rows (``image``, ``post_id``, ``photo``, ``split``, ``camid``; plus ``copy_of`` when a
    file is a saved-again copy such as ``10040_1 (1).jpg``) and findings of a folder dataset."""
    if post_from not in POST_FROM:
        raise ValueError(f"post_from must be 'name' or 'folder', not {post_from!r}")
    pattern = name_pattern if isinstance(name_pattern, NamePattern) else NamePattern(name_pattern)
    folders = split_folders(root, splits)
    if not folders:
        raise DatasetError(
            f"{root} has none of the folders train/, query/, gallery/ (in any case) and no "
            "manifest.csv; use torchreid's layout ROOT/{train,query,gallery}/POSTID_PHOTONUM.jpg "
            "or a manifest"
        )
    scan = _Scan()
    for split in splits:
        if split in folders:
            _scan_split(scan, split, folders[split], pattern, post_from, max_rows, root)
    _mark_copies(scan)
    return pd.DataFrame(scan.rows), scan.findings + _report(scan, pattern, post_from)


def _too_many(scan: _Scan, max_rows: int, root: Path) -> None:
    if len(scan.rows) >= max_rows:
        raise DatasetError(
            f"{root}: more than {max_rows:,} images, the cap; split the dataset "
            "or raise WORKBENCH_MAX_MANIFEST_ROWS"
        )


def _scan_split(scan, split, folder: Path, pattern, post_from, max_rows, root) -> None:
    for file in sorted(folder.iterdir()):
        rel = f"{folder.name}/{file.name}"
        if file.is_dir() and not file.name.startswith("."):
            if post_from == "folder":
                _scan_post(scan, split, file, rel, max_rows, root)
            else:
                scan.subfolders.append((rel, sum(1 for p in file.rglob("*") if _is_image(p))))
            continue
        if not _usable(scan, file, rel):
            continue
        _too_many(scan, max_rows, root)
        _name_row(scan, split, file, rel, pattern)


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _usable(scan: _Scan, file: Path, rel: str) -> bool:
    """False (with a finding) for hidden files and non-images."""
    if file.name.startswith("."):
        scan.findings.append(
            Finding("warning", "hidden-file", f"{rel}: hidden file ignored", (rel,))
        )
        return False
    if file.suffix.lower() not in IMAGE_EXTENSIONS:
        scan.findings.append(
            Finding(
                "error",
                "not-an-image",
                f"{rel}: not an image file (extension {file.suffix or 'none'}); "
                "move it out of the dataset folder",
                (rel,),
            )
        )
        return False
    return True


def _name_row(scan: _Scan, split: str, file: Path, rel: str, pattern: NamePattern) -> None:
    stem = file.stem
    if pattern.camera_like(stem):
        scan.unread.setdefault("camera-name", []).append(rel)
        return
    parsed = pattern.parse(stem)
    if parsed is None:
        scan.unread.setdefault("bad-name", []).append(rel)
        return
    row = {"image": rel, "post_id": parsed.post, "photo": parsed.photo, "split": split,
           "camid": parsed.photo}  # fmt: skip
    if parsed.copy:
        row["copy_of"] = f"{split}|{parsed.post}|{parsed.photo}"
        scan.copies.append(rel)
    scan.rows.append(row)


def _scan_post(scan: _Scan, split: str, folder: Path, rel_folder: str, max_rows, root) -> None:
    photo = 0
    for file in sorted(folder.iterdir()):
        rel = f"{rel_folder}/{file.name}"
        if file.is_dir():
            n = sum(1 for p in file.rglob("*") if _is_image(p))
            scan.subfolders.append((rel, n))
            continue
        if not _usable(scan, file, rel):
            continue
        _too_many(scan, max_rows, root)
        photo += 1
        scan.rows.append(
            {"image": rel, "post_id": folder.name, "photo": photo, "split": split, "camid": photo}
        )


def _mark_copies(scan: _Scan) -> None:
    """``copy_of``: the image the copy repeats when it is in the same split, else empty."""
    if not scan.copies:
        return
    originals = {
        f"{r['split']}|{r['post_id']}|{r['photo']}": r["image"]
        for r in scan.rows
        if "copy_of" not in r
    }
    for r in scan.rows:
        r.setdefault("copy_of", "")
        if r["copy_of"]:
            r["copy_of"] = originals.get(r["copy_of"], "(original not in the folder)")


def _report(scan: _Scan, pattern: NamePattern, post_from: str) -> list[Finding]:
    out: list[Finding] = []
    camera = scan.unread.get("camera-name", [])
    if camera:
        out.append(
            Finding(
                "error",
                "camera-name",
                f"{len(camera)} file(s) carry camera or phone names, not POSTID_PHOTONUM "
                f"({examples(camera)}): a name like IMG_2034 says nothing about the post; "
                + _PATTERN_FIX,
                tuple(camera),
            )
        )
    bad = scan.unread.get("bad-name", [])
    if bad:
        expected = (
            f"the pattern {pattern.text!r}"
            if pattern.custom
            else "POSTID_PHOTONUM.jpg, GROUP_POST_PHOTONUM.jpg or POSTID-PHOTONUM.jpg"
        )
        out.append(
            Finding(
                "error",
                "bad-name",
                f"{len(bad)} file name(s) not understood: cannot read the post and photo number "
                f"from {examples(bad)}; expected {expected}; rename them, or " + _PATTERN_FIX,
                tuple(bad),
            )
        )
    if scan.copies:
        out.append(
            Finding(
                "warning",
                "copy-name",
                f"{len(scan.copies)} file(s) are saved-again copies ({examples(scan.copies)}): "
                "each is read as the photo it copies (same post, photo number and camid, so it "
                "never counts as a true match of that photo); `workbench duplicates` shows "
                "whether it is the same picture",
                tuple(scan.copies),
            )
        )
    if scan.subfolders:
        names = [f"{f}/ ({n} image(s))" for f, n in scan.subfolders]
        total = sum(n for _, n in scan.subfolders)
        fix = (
            "nested folders are not read; move the photos up one level"
            if post_from == "folder"
            else "if each subfolder is one post (SPLIT/POST/photo.jpg), load with "
            "--post-from-folder (post_from='folder')"
        )
        out.append(
            Finding(
                "warning",
                "subfolder",
                f"{len(scan.subfolders)} subfolder(s) ignored, {total} image(s) inside: "
                f"{examples(names)}; {fix}",
                tuple(f for f, _ in scan.subfolders),
            )
        )
    return out
