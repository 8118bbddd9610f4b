"""Manifest paths: one spelling per file, nothing outside the root; cell values of a manifest."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest

from curation.paths import PathError, is_path_column, normalise, path_columns, resolve
from curation.values import MAX_INDEX, BadValue, text_cell, truthy_cell, whole_cell


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("query/x.jpg", "query/x.jpg"),
        ("./query/x.jpg", "query/x.jpg"),
        ("query//x.jpg", "query/x.jpg"),
        ("query/./x.jpg", "query/x.jpg"),
        ("query/x.jpg/", "query/x.jpg"),
        (" query\\x.jpg ", "query/x.jpg"),
        ("~/x.jpg", "~/x.jpg"),  # a folder named "~" inside the root: no expansion
        ("file:/etc/passwd", "file:/etc/passwd"),  # a relative name, not a URL
    ],
)
def test_normalise_gives_one_spelling(entry, expected):
    assert normalise(entry) == expected


@pytest.mark.parametrize(
    ("entry", "code", "words"),
    [
        ("", "bad-path", "the path is empty"),
        ("   ", "bad-path", "the path is empty"),
        (".", "bad-path", "names the dataset root itself"),
        ("/etc/passwd", "escapes-root", "'/etc/passwd' is an absolute path"),
        ("\\\\server\\share\\x.jpg", "escapes-root", "is an absolute path"),
        ("C:\\x.jpg", "escapes-root", "is an absolute path"),
        ("c:x.jpg", "escapes-root", "is an absolute path"),
        ("../x.jpg", "escapes-root", "holds '..'"),
        ("a/../x.jpg", "escapes-root", "holds '..'"),  # refused even when it stays inside
        ("a/..", "escapes-root", "holds '..'"),
        ("x\x00.jpg", "bad-path", "holds a control character"),
        ("x\n.jpg", "bad-path", "holds a control character"),
        ("x" * 1025, "bad-path", "path of 1025 characters (more than 1024)"),
    ],
)
def test_normalise_refuses(entry, code, words):
    with pytest.raises(PathError) as info:
        normalise(entry)
    assert info.value.code == code and words in str(info.value)


def test_normalise_refuses_non_text():
    with pytest.raises(PathError, match="b'x.jpg' is not a path \\(a bytes\\)"):
        normalise(b"x.jpg")


def test_resolve_inside_outside_and_link_policies(tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a" / "x.jpg").write_bytes(b"x")
    (outside / "y.jpg").write_bytes(b"y")
    (root / "in.jpg").symlink_to(root / "a" / "x.jpg")
    (root / "out.jpg").symlink_to(outside / "y.jpg")
    (root / "dir").symlink_to(outside, target_is_directory=True)
    assert resolve(root, "a//x.jpg") == Path(os.path.realpath(root / "a" / "x.jpg"))
    assert resolve(root, "in.jpg") == Path(os.path.realpath(root / "a" / "x.jpg"))
    assert resolve(root, "a/missing.jpg") == Path(os.path.realpath(root)) / "a" / "missing.jpg"
    for entry in ("out.jpg", "dir/y.jpg"):
        with pytest.raises(PathError) as info:
            resolve(root, entry)
        assert info.value.code == "link-outside-root"
        assert f"leads through a symbolic link to {os.path.realpath(outside)}/y.jpg" in str(
            info.value
        )
        assert resolve(root, entry, follow_links=True) == Path(os.path.realpath(outside / "y.jpg"))
        assert resolve(root, entry, follow_links=[outside]).name == "y.jpg"
        with pytest.raises(PathError):
            resolve(root, entry, follow_links=[root / "a"])
    with pytest.raises(PathError, match="holds '..'"):
        resolve(root, "dir/../outside/y.jpg", follow_links=True)  # '..' never passes


def test_a_root_that_is_itself_a_link(tmp_path: Path):
    real = tmp_path / "real"
    (real / "q").mkdir(parents=True)
    (real / "q" / "x.jpg").write_bytes(b"x")
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    assert resolve(tmp_path / "alias", "q/x.jpg") == Path(os.path.realpath(real / "q" / "x.jpg"))


def test_path_columns():
    cols = ["post_id", "mask_collar", "image", "counterfactual", "animal_mask", "masked"]
    assert path_columns(cols) == ["image", "mask_collar", "counterfactual", "animal_mask"]
    assert is_path_column("mask_tongue") and not is_path_column("masked")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3), (" 3 ", 3), ("+3", 3), ("3.0", 3), ("3e0", 3), (3, 3), (np.int64(3), 3),
     (3.0, 3), (np.float32(3.0), 3), ("0", 0), (str(MAX_INDEX), MAX_INDEX)],
)  # fmt: skip
def test_whole_cell_reads(value, expected):
    assert whole_cell(value) == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "is empty"),
        (None, "is empty"),
        (math.nan, "is empty (NaN)"),
        ("inf", "'inf' is not a finite number"),
        ("-Infinity", "is not a finite number"),
        (math.inf, "inf is not a finite number"),
        ("nan", "'nan' is not a finite number"),
        ("1e23", "'1e23' is out of range"),
        (1e23, "1e+23 is out of range"),
        ("9" * 30, "is out of range"),
        ("9" * 5000, "is out of range"),
        (str(MAX_INDEX + 1), "is out of range"),
        ("-1", "'-1' is out of range"),
        (-1, "-1 is out of range"),
        ("1.5", "'1.5' is not a whole number"),
        ("one", "'one' is not a number"),
        ("0x10", "'0x10' is not a number"),
        (True, "True is true/false, not a number"),
        ([1], "a list (a Parquet list column) where one number is expected"),
        ({"a": 1}, "a dict"),
        (b"1", "bytes where one number is expected"),
    ],
)
def test_whole_cell_refuses(value, words):
    with pytest.raises(BadValue) as info:
        whole_cell(value)
    assert words in str(info.value)


def test_text_and_truthy_cells():
    assert text_cell("x") == "x" and text_cell(7) == "7" and text_cell(True) == "True"
    assert text_cell(None) is text_cell(math.nan)  # both "missing"
    for bad, words in ((b"x", "bytes"), (["x"], "a list"), (np.array(["x"]), "a list")):
        with pytest.raises(BadValue, match=words):
            text_cell(bad)
    assert [truthy_cell(v) for v in ("True", "yes", "1", 1, True, np.bool_(True))] == [True] * 6
    assert [truthy_cell(v) for v in ("false", "No", "0", "", None, math.nan, 0)] == [False] * 7
    with pytest.raises(BadValue, match="'maybe' is not true or false"):
        truthy_cell("maybe")
    with pytest.raises(BadValue, match="2 is not true or false"):
        truthy_cell(2)


def test_resolve_refuses_what_is_not_a_regular_file(tmp_path: Path):
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe.jpg")
    for entry in ("folder", "pipe.jpg"):
        with pytest.raises(PathError) as info:
            resolve(tmp_path, entry)
        assert info.value.code == "not-a-file"
        assert f"{entry!r} is not a regular file (a folder, pipe or device)" in str(info.value)
