"""Hostile and careless datasets: every path column, symbolic links in and out of the root, two
spellings of one file, bad values of every kind, oversized manifests, truncated images met by
validate/train/duplicates, and garbage duplicate tables given to export.

Each bad input is one test case. Every case asserts the message (what was wrong, where, how to
fix it) and, for paths, that the file outside the root was neither opened nor changed (an audit
hook records every ``open``; :class:`TreeWatch` compares the outside folder before and after).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from curation.dataset import Dataset, load_dataset, load_folder, load_manifest
from curation.findings import DatasetError
from curation.manifest_io import Limits
from curation.paths import PathError
from explain.heatmaps.scores import masks_for_row
from tests.adversarial.conftest import assert_clean_error, workbench
from tests.conftest import write_image
from workbench.cli import main

# -- an audit hook: which files did this process open? -----------------------------------------

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_audit)


@contextlib.contextmanager
def opened_under(folder: Path):
    """The files under ``folder`` this process opened inside the block (a list, filled live)."""
    global _OPENED
    seen: list[str] = []
    _OPENED = seen
    inside: list[str] = []
    try:
        yield inside
    finally:
        _OPENED = None
        real = os.path.realpath(folder) + os.sep
        inside.extend(p for p in seen if p.startswith(real))


# -- the corpus's dataset ------------------------------------------------------------------------

FILES = ["train/101_1.jpg", "train/101_2.jpg", "train/102_1.jpg", "train/102_2.jpg",
         "query/201_1.jpg", "gallery/201_2.jpg", "gallery/202_1.jpg"]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """``root``: a small dataset with masks; ``victim``: a folder outside it that must stay
    unread and unchanged; ``link``: ``root/somelink``, a folder link to ``victim/a/b``, so
    ``somelink/../../../victim/important.txt`` really reaches ``victim/important.txt``."""
    root, victim = tmp_path / "data", tmp_path / "victim"
    for i, f in enumerate(FILES):
        write_image(root / f, seed=i)
        write_image(root / "masks" / f.replace(".jpg", ".png"), seed=50 + i)
    victim.mkdir()
    (victim / "important.txt").write_text("do not touch")
    for folder in (victim, victim / "a" / "b"):
        write_image(folder / "photo.jpg", seed=90)
        write_image(folder / "mask.png", seed=91)
    (root / "somelink").symlink_to(victim / "a" / "b", target_is_directory=True)
    assert (root / "somelink/../../../victim/important.txt").read_text() == "do not touch"
    return {"root": root, "victim": victim, "link": root / "somelink"}


def _rows(**extra) -> list[dict]:
    rows = []
    for f in FILES:
        split, name = f.split("/")
        post, photo = name[:-4].split("_")
        mask = "masks/" + f.replace(".jpg", ".png")
        rows.append({"image": f, "post_id": post, "photo": int(photo), "split": split,
                     "camid": int(photo), "animal_mask": mask})  # fmt: skip
    for k, v in extra.items():
        for r in rows:
            r.setdefault(k, v)
    return rows


def _csv(root: Path, rows: list[dict], name: str = "manifest.csv") -> Path:
    path = root / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _load_error(path: Path, **kw) -> DatasetError:
    with pytest.raises(DatasetError) as info:
        load_manifest(path, **kw)
    return info.value


# -- 1. paths in every column --------------------------------------------------------------------

# (id, column, entry, finding code, words of the message). Row 2 is gallery/201_2.jpg's row after
# the change; links: "somelink" points at the victim folder, outside the root.
PATH_CASES = [
    ("mask-through-link-dotdot", "animal_mask", "somelink/../../../victim/important.txt",
     "escapes-root", "holds '..' and escapes the dataset root"),
    ("mask-absolute", "animal_mask", "{victim}/mask.png", "escapes-root", "is an absolute path"),
    ("mask-dotdot", "animal_mask", "../victim/mask.png", "escapes-root", "holds '..'"),
    ("mask-through-folder-link", "animal_mask", "somelink/mask.png", "link-outside-root",
     "leads through a symbolic link to {victim}/a/b/mask.png, outside the dataset root"),
    ("mask-file-link", "animal_mask", "masks/out.png", "link-outside-root",
     "leads through a symbolic link to {victim}/mask.png"),
    ("mask-tongue-dotdot", "mask_tongue", "../victim/mask.png", "escapes-root", "holds '..'"),
    ("mask-any-artifact-absolute", "mask_collar", "{victim}/mask.png", "escapes-root",
     "absolute path"),
    ("mask-any-artifact-link", "mask_collar", "somelink/mask.png", "link-outside-root",
     "outside the dataset root"),
    ("counterfactual-absolute", "counterfactual", "{victim}/photo.jpg", "escapes-root",
     "absolute path"),
    ("counterfactual-link", "counterfactual", "somelink/photo.jpg", "link-outside-root",
     "outside the dataset root"),
    ("counterfactual-windows-drive", "counterfactual", "C:\\victim\\photo.jpg", "escapes-root",
     "absolute path"),
    ("image-dotdot-backslash", "image", "..\\victim\\photo.jpg", "escapes-root", "holds '..'"),
    ("image-through-folder-link", "image", "somelink/photo.jpg", "link-outside-root",
     "leads through a symbolic link"),
    ("image-file-link", "image", "gallery/201_9.jpg", "link-outside-root",
     "leads through a symbolic link to {victim}/photo.jpg"),
    ("image-nul-byte", "image", "gallery/201_2\x00.jpg", "bad-path", "holds a control character"),
    ("image-too-long", "image", "gallery/" + "x" * 2000 + ".jpg", "bad-path",
     "path of 2012 characters (more than 1024)"),
    ("image-root-itself", "image", "./", "bad-path", "names the dataset root itself"),
    ("image-fifo", "image", "gallery/201_8.jpg", "not-a-file",
     "'gallery/201_8.jpg' is not a regular file (a folder, pipe or device)"),
    ("mask-fifo", "animal_mask", "masks/pipe.png", "not-a-file", "is not a regular file"),
    ("mask-folder", "animal_mask", "masks/train", "not-a-file", "is not a regular file"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "entry", "code", "words"),
    [case[1:] for case in PATH_CASES],
    ids=[case[0] for case in PATH_CASES],
)
def test_hostile_path_refused_before_opening(world, watch, column, entry, code, words):
    root, victim = world["root"], world["victim"]
    (root / "masks" / "out.png").symlink_to(victim / "mask.png")
    (root / "gallery" / "201_9.jpg").symlink_to(victim / "photo.jpg")
    os.mkfifo(root / "gallery" / "201_8.jpg")  # opening a pipe would block the reader
    os.mkfifo(root / "masks" / "pipe.png")
    entry = entry.format(victim=victim)
    rows = _rows()
    rows[5][column] = entry  # gallery/201_2.jpg (row 6)
    path = _csv(root, rows)
    outside = watch(victim)
    with opened_under(victim) as opened:
        err = _load_error(path, check="full")
    errors = [f for f in err.findings if f.level == "error"]
    assert [f.code for f in errors] == [code], [f.message for f in errors]
    where = (
        "row 6, column image"
        if column == "image"
        else f"row 6 (gallery/201_2.jpg), column {column}"
    )
    assert errors[0].message.startswith(where), errors[0].message
    assert words.format(victim=os.path.realpath(victim)) in errors[0].message
    assert errors[0].rows == (5,)
    assert opened == []
    outside.assert_unchanged()


def test_too_long_mask_component_is_a_warning_not_a_crash(world):
    """A 300-character file name is legal text that no file system can hold."""
    rows = _rows()
    rows[5]["animal_mask"] = "masks/" + "y" * 300 + ".png"
    ds = load_manifest(_csv(world["root"], rows))
    (warning,) = [f for f in ds.findings if f.code == "missing-file"]
    assert warning.message.startswith("row 6 (gallery/201_2.jpg), column animal_mask: masks/yyy")


def test_paths_are_refused_as_text_even_without_file_checks(world):
    rows = _rows()
    rows[5]["animal_mask"] = "somelink/../../../victim/important.txt"
    err = _load_error(_csv(world["root"], rows), check="none")
    assert [f.code for f in err.findings] == ["escapes-root"]
    assert "row 6 (gallery/201_2.jpg), column animal_mask: " in str(err)
    assert "(to skip the bad rows instead: --drop-bad on the command line" in str(err)


def test_readers_refuse_an_outside_mask_before_opening_it(world, watch):
    """A Dataset built by hand (no loader checks) still never reads a mask outside the root."""
    root, victim = world["root"], world["victim"]
    table = pd.DataFrame(_rows())
    table.loc[0, "animal_mask"] = "somelink/mask.png"
    ds = Dataset(root=root, table=table)
    row = table.iloc[0].to_dict()
    outside = watch(victim)
    with opened_under(victim) as opened:
        with pytest.raises(PathError, match="leads through a symbolic link to .*victim/a/b/mask"):
            masks_for_row(ds, row, (8, 4))
        with pytest.raises(PathError, match="holds '..'"):
            masks_for_row(root, {**row, "animal_mask": "somelink/../../victim/mask.png"}, (8, 4))
        with pytest.raises(PathError, match="outside the dataset root"):
            ds.path("somelink/photo.jpg")
    assert opened == []
    outside.assert_unchanged()
    animal, _ = masks_for_row(ds, {**row, "animal_mask": table.loc[1, "animal_mask"]}, (8, 4))
    assert animal.shape == (8, 4)


def test_sanity_and_explorer_read_masks_through_the_dataset():
    """Every reader of a mask or counterfactual column goes through Dataset.path."""
    root = Path(__file__).resolve().parents[2]
    for name in (
        "explain/checks/ground_truth.py",
        "explain/heatmaps/explorer.py",
        "explain/compare/series.py",
    ):
        text = (root / name).read_text()
        assert "dataset.root /" not in text and "masks_for_row(dataset.root" not in text, name


# -- 2. symbolic links: in the root, out of the root, and the explicit option --------------------


def test_folder_image_linked_outside_is_refused_unless_allowed(world):
    root, victim = world["root"], world["victim"]
    (root / "gallery" / "203_1.jpg").symlink_to(victim / "photo.jpg")
    with opened_under(victim) as opened, pytest.raises(DatasetError) as info:
        load_folder(root, check="full")
    assert [f.code for f in info.value.findings if f.level == "error"] == ["link-outside-root"]
    assert "gallery/203_1.jpg: 'gallery/203_1.jpg' leads through a symbolic link to" in str(
        info.value
    )
    assert "--allow-external-links" in str(info.value)
    assert opened == []
    allowed = load_folder(root, follow_links=True)
    assert "gallery/203_1.jpg" in set(allowed.table["image"])
    assert allowed.path("gallery/203_1.jpg") == Path(os.path.realpath(victim / "photo.jpg"))
    into = load_folder(root, follow_links=[victim])  # links allowed into the named folders only
    assert len(into.table) == len(allowed.table)
    with pytest.raises(DatasetError, match="outside the dataset root"):
        load_folder(root, follow_links=[root / "train"])


def test_split_folder_linked_outside_is_refused(world, tmp_path):
    root = world["root"]
    elsewhere = tmp_path / "elsewhere"
    (root / "gallery").rename(elsewhere)
    (root / "gallery").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    codes = {f.code for f in info.value.findings if f.level == "error"}
    assert codes == {"link-outside-root"}
    assert len(load_folder(root, follow_links=True).split("gallery")) == 2


def test_link_loop_is_a_message(world):
    gallery = world["root"] / "gallery"
    (gallery / "203_1.jpg").symlink_to(gallery / "203_2.jpg")
    (gallery / "203_2.jpg").symlink_to(gallery / "203_1.jpg")
    with pytest.raises(DatasetError) as info:
        load_folder(world["root"])
    messages = [f.message for f in info.value.findings if f.level == "error"]
    assert messages == [
        "gallery/203_1.jpg: cannot read the file (Too many levels of symbolic links)",
        "gallery/203_2.jpg: cannot read the file (Too many levels of symbolic links)",
    ]


def test_links_inside_the_root_are_fine(world):
    root = world["root"]
    (root / "store").mkdir()
    write_image(root / "store" / "x.jpg", seed=7)
    (root / "gallery" / "203_1.jpg").symlink_to(root / "store" / "x.jpg")
    (root / "inner").symlink_to(root / "masks", target_is_directory=True)
    ds = load_folder(root, check="full")
    assert ds.path("gallery/203_1.jpg") == Path(os.path.realpath(root / "store" / "x.jpg"))
    rows = _rows()
    rows[0]["animal_mask"] = "inner/train/101_1.png"
    assert load_manifest(_csv(root, rows)).table.loc[0, "animal_mask"] == "inner/train/101_1.png"


def test_cli_option_allows_external_links(world):
    root, victim = world["root"], world["victim"]
    (root / "gallery" / "203_1.jpg").symlink_to(victim / "photo.jpg")
    runner = CliRunner()
    refused = runner.invoke(main, ["validate", str(root)])
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "error [link-outside-root]: gallery/203_1.jpg" in refused.output
    assert "1 error(s) in" in refused.output
    allowed = runner.invoke(main, ["validate", str(root), "--allow-external-links"])
    assert allowed.exit_code == 0, allowed.output
    assert "7 images" not in allowed.output and "8 images" in allowed.output
    for command in ("train", "export", "evaluate", "duplicates", "suggest", "confidence"):
        out = runner.invoke(main, [command, "--help"]).output
        assert "--allow-external-links" in out and "--drop-bad" in out, command


# -- 3. one file, one spelling ------------------------------------------------------------------

SPELLINGS = [
    ("dot-slash", "./query/201_1.jpg"),
    ("double-slash", "query//201_1.jpg"),
    ("dot-segment", "query/./201_1.jpg"),
    ("trailing-space", "query/201_1.jpg "),
    ("backslash", "query\\201_1.jpg"),
]


@pytest.mark.parametrize("spelling", [s for _, s in SPELLINGS], ids=[i for i, _ in SPELLINGS])
def test_two_spellings_of_one_file_are_one_file(world, spelling):
    """A query listed again in the gallery under another spelling would be matched against
    itself (rank-1 went from 0.571 to 0.714): it is a duplicate row."""
    rows = _rows()
    rows.append({**rows[4], "image": spelling, "split": "gallery", "photo": 9, "camid": 9})
    err = _load_error(_csv(world["root"], rows))
    (dup,) = [f for f in err.findings if f.level == "error"]
    assert dup.code == "duplicate-row" and dup.rows == (7,)
    assert dup.message.startswith("query/201_1.jpg: listed more than once")
    dropped = load_manifest(_csv(world["root"], rows), errors="drop")
    assert dropped.table["image"].tolist().count("query/201_1.jpg") == 1  # the first row stays
    assert dropped.split("query")["image"].tolist() == ["query/201_1.jpg"]


def test_a_single_odd_spelling_is_normalised(world):
    rows = _rows()
    rows[4]["image"] = "./query//201_1.jpg"
    rows[4]["animal_mask"] = "masks/./query/201_1.png"
    ds = load_manifest(_csv(world["root"], rows))
    row = ds.split("query").iloc[0]
    assert (row["image"], row["animal_mask"]) == ("query/201_1.jpg", "masks/query/201_1.png")


@pytest.mark.parametrize("kind", ["symlink", "hardlink"])
def test_a_link_and_its_target_are_one_file(world, kind):
    root = world["root"]
    make = os.symlink if kind == "symlink" else os.link
    make(root / "query" / "201_1.jpg", root / "gallery" / "201_9.jpg")
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    (same,) = [f for f in info.value.findings if f.level == "error"]
    assert same.code == "same-file"
    assert same.message == (
        "gallery/201_9.jpg: the same file as query/201_1.jpg (a link or a second spelling of "
        "it); keep one row"
    )


# -- 4. bad values -----------------------------------------------------------------------------


def _parquet(root: Path, table: pd.DataFrame) -> Path:
    path = root / "m.parquet"
    table.to_parquet(path, index=False)
    return path


def _base(**columns) -> pd.DataFrame:
    table = pd.DataFrame(_rows()).drop(columns="animal_mask")
    for k, v in columns.items():
        table[k] = v
    return table


N = len(FILES)
P = ["1", "2", "1", "2", "1", "2", "1"]  # the photo numbers of FILES
VALUE_CASES = [
    # (id, format, column, values for the 7 rows, finding code, message of row 2)
    ("post-id-nan-parquet", "parquet", "post_id", [101.0, np.nan, *[102.0] * 5], "no-post-id",
     "row 2 (train/101_2.jpg), column post_id: is empty; every row needs one"),
    ("post-id-none-parquet", "parquet", "post_id", ["101", None, *["102"] * 5], "no-post-id",
     "row 2 (train/101_2.jpg), column post_id: is empty; every row needs one"),
    ("post-id-string-NaN", "csv", "post_id", ["101", "NaN", *["102"] * 5], "no-post-id",
     "row 2 (train/101_2.jpg), column post_id: 'NaN' looks like a missing value, not an id"),
    ("post-id-string-nan", "csv", "post_id", ["101", "nan", *["102"] * 5], "no-post-id",
     "'nan' looks like a missing value"),
    ("post-id-string-None", "csv", "post_id", ["101", "None", *["102"] * 5], "no-post-id",
     "'None' looks like a missing value"),
    ("post-id-empty", "csv", "post_id", ["101", "", *["102"] * 5], "no-post-id",
     "row 2 (train/101_2.jpg), column post_id: is empty"),
    ("post-id-lone-float", "csv", "post_id", ["101", "101.0", *["102"] * 5], "bad-post-id",
     "'101.0' looks like a number written as a float; write 101"),
    ("post-id-fractional-float", "parquet", "post_id", [101.0, 101.5, *[102.0] * 5],
     "bad-post-id", "101.5 is not a whole number an id can be"),
    ("post-id-huge-float", "parquet", "post_id", [101.0, 1e23, *[102.0] * 5], "bad-post-id",
     "1e+23 is not a whole number an id can be"),
    ("post-id-list", "parquet", "post_id", [["101"], *[["102"]] * 6], "bad-post-id",
     "row 2 (train/101_2.jpg), column post_id: post_id holds a list (a Parquet list column)"),
    ("post-id-absurdly-long", "csv", "post_id", ["101", "9" * 300, *["102"] * 5], "bad-post-id",
     "an id of 300 characters (more than 256)"),
    ("post-id-control-char", "parquet", "post_id", ["101", "10\n1", *["102"] * 5],
     "bad-post-id", "holds a control character"),
    ("camid-inf", "csv", "camid", ["1", "inf", *["1"] * 5], "bad-camid",
     "camid must be a whole number from 0 to 2147483647: 'inf' is not a finite number"),
    ("camid-1e23-csv", "csv", "camid", ["1", "1e23", *["1"] * 5], "bad-camid",
     "camid must be a whole number from 0 to 2147483647: '1e23' is out of range"),
    ("camid-1e23-parquet", "parquet", "camid", [1.0, 1e23, *[1.0] * 5], "bad-camid",
     "1e+23 is out of range"),
    ("camid-negative", "csv", "camid", ["1", "-1", *["1"] * 5], "bad-camid",
     "'-1' is out of range"),
    ("camid-nan-parquet", "parquet", "camid", [1.0, np.nan, *[1.0] * 5], "bad-camid",
     "is empty (NaN)"),
    ("camid-dict", "parquet", "camid", [{"a": 1}] * N, "bad-camid",
     "a dict (a Parquet struct or map column) where one number is expected"),
    ("photo-beyond-int64", "csv", "photo", ["1", "9223372036854775808", *P[2:]],
     "bad-photo", "'9223372036854775808' is out of range"),
    ("photo-int64-max-parquet", "parquet", "photo", [1, 2**63 - 1, 1, 2, 1, 2, 1], "bad-photo",
     "9223372036854775807 is out of range"),
    ("photo-bool", "parquet", "photo", [True, False, *[True] * 5], "bad-photo",
     "False is true/false, not a number"),
    ("photo-fraction", "csv", "photo", ["1", "1.5", *P[2:]], "bad-photo",
     "'1.5' is not a whole number"),
    ("photo-empty", "csv", "photo", ["1", "", *P[2:]], "bad-photo", "photo must be a whole "
     "number from 0 to 2147483647: is empty"),
    ("photo-word", "csv", "photo", ["1", "two", *P[2:]], "bad-photo", "'two' is not a number"),
    ("split-empty", "csv", "split", ["train", "", *["train"] * 5], "bad-split",
     "row 2 (train/101_2.jpg), column split: is empty"),
    ("split-capitalised", "csv", "split", ["train", "Train", *["train"] * 5], "bad-split",
     "'Train': split must be one of train, query, gallery"),
    ("image-bytes", "parquet", "image", [f.encode() for f in FILES], "bad-path",
     "row 2, column image: image holds bytes where one value is expected"),
    ("image-list", "parquet", "image", [[f] for f in FILES], "bad-path",
     "image holds a list (a Parquet list column)"),
    ("image-empty", "csv", "image", [FILES[0], "", *FILES[2:]], "bad-path",
     "row 2, column image: is empty; every row needs one"),
    ("image-none-parquet", "parquet", "image", [FILES[0], None, *FILES[2:]], "bad-path",
     "row 2, column image: is empty"),
    ("polluted-unknown-word", "csv", "polluted", ["false", "maybe", *["false"] * 5],
     "bad-polluted", "polluted 'maybe' is not true or false"),
    ("mask-list", "parquet", "animal_mask", [["masks/x.png"]] * N, "bad-path",
     "animal_mask holds a list"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fmt", "column", "values", "code", "message"),
    [c[1:] for c in VALUE_CASES],
    ids=[c[0] for c in VALUE_CASES],
)
def test_bad_value_is_an_error_naming_row_and_column(world, fmt, column, values, code, message):
    table = _base(**{column: values})
    path = _parquet(world["root"], table) if fmt == "parquet" else world["root"] / "m.csv"
    if fmt == "csv":
        table.to_csv(path, index=False)
    err = _load_error(path)
    errors = [f for f in err.findings if f.level == "error"]
    assert errors and {f.code for f in errors} == {code}, [f.message for f in errors]
    assert any(message in f.message for f in errors), [f.message for f in errors]
    assert 1 in {r for f in errors for r in f.rows}  # row 2 is named
    bad = {r for f in errors for r in f.rows}
    if len(bad) == N:  # a whole column of bad values: nothing would be left
        with pytest.raises(DatasetError, match="every row is bad, nothing is left to load"):
            load_manifest(path, errors="drop")
    else:  # --drop-bad skips exactly the bad rows
        assert len(load_manifest(path, errors="drop").table) == N - len(bad)


def test_dropping_every_row_is_a_message(world):
    path = world["root"] / "m.csv"
    _base(camid=["inf"] * N).to_csv(path, index=False)
    with pytest.raises(DatasetError) as info:
        load_manifest(path, errors="drop")
    assert str(info.value).startswith(
        f"manifest {path}: every row is bad, nothing is left to load; fix the problems listed "
        "(first: row 1 (train/101_1.jpg), column camid: camid must be a whole number"
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_float_post_id_column_reads_as_whole_numbers_with_a_warning(world, fmt):
    ids = [float(f.split("/")[1].split("_")[0]) for f in FILES]
    table = _base(post_id=ids if fmt == "parquet" else [f"{i:.1f}" for i in ids])
    path = _parquet(world["root"], table) if fmt == "parquet" else world["root"] / "m.csv"
    if fmt == "csv":
        table.to_csv(path, index=False)
    ds = load_manifest(path)
    assert sorted(set(ds.table["post_id"])) == ["101", "102", "201", "202"]
    (warning,) = [f for f in ds.findings if f.code == "float-ids"]
    assert "7 value(s) like 10481.0 read as the whole number 10481" in warning.message


def test_integral_floats_for_photo_and_camid_are_read_as_numbers(world):
    table = _base(camid=[float(r["camid"]) for r in _rows()])
    ds = load_manifest(_parquet(world["root"], table))
    assert ds.table["camid"].dtype == np.int64 and set(ds.table["camid"]) == {1, 2}


MANIFEST_FILE_CASES = [
    ("binary-garbage-csv", "m.csv", bytes(range(256)) * 4, "not UTF-8 text"),
    ("garbage-parquet", "m.parquet", b"PAR1 this is not parquet", "not a readable Parquet file"),
    ("empty-csv", "m.csv", b"", "the file is empty; a table needs a header row"),
    ("duplicate-column", "m.csv", b"image,post_id,photo,split,camid,image\n",
     "column 'image' appears twice; keep one"),
    ("unnamed-column", "m.csv", b"image,,photo,split,camid\n", "a column has no name"),
    ("too-many-values", "m.csv",
     b"image,post_id,photo,split,camid\ntrain/101_1.jpg,101,1,train,1,extra\n",
     "line 2 has 6 values but the header has 5 columns; quote values that contain commas"),
    ("unterminated-quote", "m.csv", b'image,post_id,photo,split,camid\n"train/101_1.jpg,101\n',
     "is not valid CSV"),
    ("long-cell", "m.csv", b"image,post_id,photo,split,camid\n" + b"x" * 10_000 + b",1,1,train,1\n",
     "line 2 holds a value longer than 4096 characters"),
    ("long-quoted-cell-over-many-lines", "m.csv", b'image,post_id,photo,split,camid\n"' +
     (b"x" * 100 + b"\n") * 50 + b'",1,1,train,1\n', "holds a value longer than 4096"),
    ("long-line", "m.csv", b"image,post_id,photo,split,camid\n" + b"x," * 600_000 + b"\n",
     "line 2 is longer than 1,048,576 characters"),
    ("unknown-extension", "m.json", b"{}", "unknown manifest format .json; use .csv or .parquet"),
    ("header-only", "m.csv", b"image,post_id,photo,split,camid\n\n\n",
     "no images found; nothing to load"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [c[1:] for c in MANIFEST_FILE_CASES],
    ids=[c[0] for c in MANIFEST_FILE_CASES],
)
def test_unreadable_manifest_is_a_message(tmp_path, name, data, words):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DatasetError) as info:
        load_manifest(path)
    assert f"{path}: " in str(info.value) and words in str(info.value), str(info.value)


def test_manifest_that_is_a_folder_or_a_pipe(tmp_path):
    (tmp_path / "m.csv").mkdir()
    with pytest.raises(DatasetError, match="is not a file; give a .csv or .parquet file"):
        load_manifest(tmp_path / "m.csv")
    os.mkfifo(tmp_path / "p.csv")
    with pytest.raises(DatasetError, match="is not a file"):
        load_manifest(tmp_path / "p.csv")


# -- 5. sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "words"),
    [
        (
            Limits(max_rows=3),
            "more than 3 rows, the cap; split the manifest or raise WORKBENCH_MAX_MANIFEST_ROWS",
        ),
        (
            Limits(max_columns=4),
            "6 columns, above the cap of 4; drop the extra columns or raise "
            "WORKBENCH_MAX_MANIFEST_COLUMNS",
        ),
        (
            Limits(max_bytes=100),
            "above the cap of 100; split the manifest or raise WORKBENCH_MAX_MANIFEST_BYTES",
        ),
    ],
    ids=["rows", "columns", "bytes"],
)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest_caps(world, limits, words, fmt):
    table = pd.DataFrame(_rows())
    path = _parquet(world["root"], table) if fmt == "parquet" else _csv(world["root"], _rows())
    with pytest.raises(DatasetError) as info:
        load_manifest(path, limits=limits)
    assert words in str(info.value)


def test_folder_row_cap(world):
    with pytest.raises(DatasetError, match="more than 5 images, the cap"):
        load_folder(world["root"], limits=Limits(max_rows=5))


def test_caps_from_the_environment(world, monkeypatch):
    path = _csv(world["root"], _rows())
    monkeypatch.setenv("WORKBENCH_MAX_MANIFEST_ROWS", "2")
    with pytest.raises(DatasetError, match="more than 2 rows"):
        load_manifest(path)
    monkeypatch.setenv("WORKBENCH_MAX_MANIFEST_ROWS", "lots")
    with pytest.raises(DatasetError, match="WORKBENCH_MAX_MANIFEST_ROWS='lots' is not a whole"):
        load_manifest(path)


def test_parquet_that_expands_is_refused_before_it_is_read(world):
    """Compressed bytes that would expand to 70 MB of strings."""
    table = pd.DataFrame(_rows())
    table["note"] = ["z" * 10_000_000 + str(i) for i in range(N)]
    path = world["root"] / "bomb.parquet"
    table.to_parquet(path, index=False, compression="zstd")
    assert path.stat().st_size < 2_000_000
    with pytest.raises(DatasetError, match="the columns expand to .* bytes, above the cap"):
        load_manifest(path, limits=Limits(max_bytes=20_000_000))


@pytest.mark.slow
def test_huge_cell_does_not_eat_memory(tmp_path):
    """A 400 MB cell: pandas needed well over 1 GB for it; the reader stops at the first
    1,048,576 characters of the line (under a 700 MB heap cap, holding it would fail)."""
    path = tmp_path / "m.csv"
    with open(path, "wb") as fh:
        fh.write(b"image,post_id,photo,split,camid\n")
        fh.write(b'"')
        block = b"a" * (1 << 20)
        for _ in range(400):
            fh.write(block)
        fh.write(b'",1,1,train,1\n')
    proc = workbench("validate", str(path), memory_mb=700, timeout=120)
    assert_clean_error(proc, "line 2 is longer than 1,048,576 characters")


# -- 6. images: validate, train, duplicates ------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_validate_decodes_by_default_and_says_what_quick_skips(world):
    root = world["root"]
    _truncate(root / "gallery" / "202_1.jpg")
    runner = CliRunner()
    full = runner.invoke(main, ["validate", str(root)])
    assert full.exit_code == 1 and "Traceback" not in full.output
    assert "error [unreadable]: gallery/202_1.jpg: unreadable or truncated image" in full.output
    assert "1 error(s) in" in full.output and "(every image decoded)" in full.output
    quick = runner.invoke(main, ["validate", str(root), "--quick"])
    assert quick.exit_code == 0, quick.output
    assert (
        "no problems found (file headers only: pixels were not decoded, so truncated or "
        "corrupt images were not checked (run without --quick to check them))" in quick.output
    )
    helptext = runner.invoke(main, ["validate", "--help"]).output
    assert "0.5 ms per" in helptext and "--quick" in helptext


def test_validate_reports_the_critical_mask_path(world):
    """It said "no problems found" for it."""
    rows = _rows()
    rows[5]["animal_mask"] = "somelink/../../../victim/important.txt"
    _csv(world["root"], rows)
    r = CliRunner().invoke(main, ["validate", str(world["root"])])
    assert r.exit_code == 1 and "no problems found" not in r.output
    assert (
        "error [escapes-root]: row 6 (gallery/201_2.jpg), column animal_mask: "
        "'somelink/../../../victim/important.txt' holds '..' and escapes the dataset root"
    ) in r.output


def test_export_never_starts_on_the_critical_manifest(world, watch, tmp_path):
    """The attack of the finding: with ``--layout copy`` the old export copied the mask to
    ``OUT/../somelink/../../../victim/important.txt``, outside the export. The loader refuses the
    row before the export plans a single file (the export checks its destinations too, on its
    own), so nothing anywhere under tmp_path changes."""
    rows = _rows()
    rows[5]["animal_mask"] = "somelink/../../../victim/important.txt"
    _csv(world["root"], rows)
    everything = watch(tmp_path)
    out = tmp_path / "exports" / "x" / "export"
    proc = workbench("export", "--data", str(world["root"]), "--out", str(out), "--layout", "copy")
    assert_clean_error(proc, "row 6 (gallery/201_2.jpg), column animal_mask", "escapes the dataset")
    everything.assert_unchanged()


def test_drop_bad_hint_names_a_real_option(world):
    _truncate(world["root"] / "gallery" / "202_1.jpg")
    (world["root"] / "gallery" / "203_1.jpg").write_bytes(b"not an image")
    runner = CliRunner()
    r = runner.invoke(main, ["duplicates", "--data", str(world["root"]), "--no-cache"])
    assert r.exit_code == 1 and "--drop-bad on the command line" in r.output
    ok = runner.invoke(
        main, ["duplicates", "--data", str(world["root"]), "--no-cache", "--drop-bad"]
    )
    assert ok.exit_code == 0, ok.output
    assert "6 images" in ok.output  # both bad files dropped: the truncated one is decoded too
    assert "gallery/202_1.jpg: unreadable or truncated image" in ok.output
    assert "(row dropped)" in ok.output


def test_duplicates_meets_a_truncated_jpeg(world):
    _truncate(world["root"] / "gallery" / "202_1.jpg")
    proc = workbench("duplicates", "--data", str(world["root"]), "--no-cache", timeout=200)
    assert_clean_error(
        proc,
        f"{os.path.realpath(world['root'])}/gallery/202_1.jpg: unreadable or truncated image",
        "`workbench validate DATA` decodes every image and lists each such file",
        "--drop-bad skips them",
    )


@pytest.mark.slow
def test_train_meets_a_truncated_jpeg(world, tmp_path):
    for name in ("102_1.jpg", "102_2.jpg"):  # every batch holds a photo of post 102
        _truncate(world["root"] / "train" / name)
    out = tmp_path / "series"
    proc = workbench(
        "train", "--data", str(world["root"]), "--out", str(out), "--epochs", "1",
        "--batch-size", "8", "--threads", "1", timeout=300,
    )  # fmt: skip
    assert_clean_error(
        proc, f"{os.path.realpath(world['root'])}/train/102_", "unreadable or truncated image",
        "--drop-bad",
    )  # fmt: skip
    assert not list(out.glob("model.pth.tar-*"))


# -- 7. the duplicate table given to export ------------------------------------------------------

GOOD_DUPS = (
    "group,image,post_id,split,kind,scope,hash_distance,similarity\n"
    "0,train/101_1.jpg,101,train,exact,intra-post,0,\n"
    "0,train/101_2.jpg,101,train,exact,intra-post,0,\n"
)
DUP_CASES = [
    ("binary", "d.csv", bytes(range(256)) * 8, "not UTF-8 text"),
    ("empty", "d.csv", b"", "the file is empty"),
    ("wrong-columns", "d.csv", b"a,b\n1,2\n",
     "not a duplicate table, missing column(s) group, image, post_id, split, kind, scope, "
     "hash_distance, similarity (it has a, b)"),
    ("a-manifest-instead", "d.csv", b"image,post_id,photo,split,camid\ntrain/101_1.jpg,101,1,"
     b"train,1\n", "not a duplicate table, missing column(s) group, kind, scope"),
    ("garbage-parquet", "d.parquet", b"PAR1garbage", "not a readable Parquet file"),
    ("bad-number", "d.csv", GOOD_DUPS.replace(",0,\n", ",zero,\n", 1).encode(),
     "row 1, column hash_distance: 'zero' is not a number"),
    ("bad-scope", "d.csv", GOOD_DUPS.replace("intra-post", "everywhere", 1).encode(),
     "row 1, column scope: 'everywhere' is not one of intra-post, inter-post, train-test"),
    ("hostile-image", "d.csv", GOOD_DUPS.replace("train/101_1.jpg", "../../etc/passwd").encode(),
     "row 1, column image: '../../etc/passwd' holds '..'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "words"), [c[1:] for c in DUP_CASES], ids=[c[0] for c in DUP_CASES]
)
def test_garbage_duplicates_file_for_export(world, tmp_path, name, data, words):
    dup = tmp_path / name
    dup.write_bytes(data)
    out = tmp_path / "export"
    r = CliRunner().invoke(main, ["export", "--data", str(world["root"]), "--rules", "duplicates",
                                  "--duplicates", str(dup), "--out", str(out)])  # fmt: skip
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert words in r.output, r.output
    assert not out.exists()


def test_good_duplicates_file_still_works(world, tmp_path):
    dup = tmp_path / "d.csv"
    dup.write_text(GOOD_DUPS.replace("train/101_2.jpg", "./train//101_2.jpg"))
    out = tmp_path / "export"
    args = ["export", "--data", str(world["root"]), "--rules", "duplicates",
            "--duplicates", str(dup), "--out", str(out), "--layout", "copy"]  # fmt: skip
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "removed 1 of 7 images" in r.output
    back = load_dataset(out)
    assert "train/101_2.jpg" not in set(back.table["image"])
