"""File names and folder layouts: every form the folder loader reads, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.dataset import load_dataset, load_folder, parse_name
from curation.findings import DatasetError
from curation.names import NamePattern, NamePatternError
from tests.conftest import write_image


def _make(root: Path, files: list[str]) -> Path:
    for i, f in enumerate(files):
        write_image(root / f, seed=i)
    return root


def _rows(ds) -> list[tuple]:
    t = ds.table
    return sorted(zip(t["image"], t["post_id"], t["photo"], t["split"], t["camid"], strict=True))


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("10631_2", ("10631", 2)),
        ("7_10631_12", ("7_10631", 12)),
        ("123-4", ("123", 4)),
        ("10040_1 (1)", ("10040", 1)),
        ("abc-def_3", ("abc-def", 3)),
        ("IMG_2034", None),
        ("DSC_0001", None),
        ("PXL_20230101_123456", None),
        ("20230101_123456", None),
        ("10631", None),
        ("a_b_c_1", None),
    ],
)
def test_default_forms(stem: str, expected):
    assert parse_name(stem) == expected


def test_every_default_form_in_one_tree(tmp_path: Path):
    root = _make(
        tmp_path / "d",
        ["query/10631_1.jpg", "query/123-4.jpg", "gallery/10631_2.jpg", "gallery/7_55_3.jpg",
         "gallery/123-5.JPG", "gallery/10040_1.jpg", "gallery/10040_1 (1).jpg"],
    )  # fmt: skip
    ds = load_folder(root)
    assert _rows(ds) == [
        ("gallery/10040_1 (1).jpg", "10040", 1, "gallery", 1),
        ("gallery/10040_1.jpg", "10040", 1, "gallery", 1),
        ("gallery/10631_2.jpg", "10631", 2, "gallery", 2),
        ("gallery/123-5.JPG", "123", 5, "gallery", 5),
        ("gallery/7_55_3.jpg", "7_55", 3, "gallery", 3),
        ("query/10631_1.jpg", "10631", 1, "query", 1),
        ("query/123-4.jpg", "123", 4, "query", 4),
    ]
    copies = ds.table.set_index("image")["copy_of"]
    assert copies["gallery/10040_1 (1).jpg"] == "gallery/10040_1.jpg"
    assert copies["gallery/10040_1.jpg"] == ""
    (copy,) = [f for f in ds.findings if f.code == "copy-name"]
    assert copy.level == "warning" and copy.images == ("gallery/10040_1 (1).jpg",)
    assert "1 file(s) are saved-again copies" in copy.message


def test_camera_names_are_refused_never_read_as_a_post(tmp_path: Path):
    root = _make(
        tmp_path / "d",
        ["query/IMG_2034.jpg", "query/10631_1.jpg", "gallery/DSC_0001.jpg",
         "gallery/PXL_20230101_123456.jpg", "gallery/IMG_2035.jpg", "gallery/10631_2.jpg"],
    )  # fmt: skip
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    (camera,) = [f for f in info.value.findings if f.code == "camera-name"]
    assert camera.level == "error" and len(camera.images) == 4
    assert "4 file(s) carry camera or phone names" in camera.message
    assert "and 1 more" in camera.message  # grouped: three examples, then a count
    assert "--name-pattern" in camera.message and "manifest" in camera.message
    # dropping them keeps the understood photos and never makes a post "IMG"
    ds = load_folder(root, errors="drop")
    assert set(ds.table["post_id"]) == {"10631"}


def test_custom_pattern_reads_what_the_default_refuses(tmp_path: Path):
    root = _make(tmp_path / "d", ["query/ad17-photo1.jpg", "gallery/ad17-photo2.jpg"])
    with pytest.raises(NamePatternError, match="not a regular expression"):
        NamePattern("(?P<post>")
    with pytest.raises(NamePatternError, match=r"needs the named groups \(\?P<post>"):
        NamePattern(r"(?P<id>\d+)")
    with pytest.raises(DatasetError) as info:
        load_folder(root)
    (bad,) = [f for f in info.value.findings if f.code == "bad-name"]
    assert "2 file name(s) not understood" in bad.message and "--name-pattern" in bad.message
    wrong = r"ad(?P<post>\d+)_(?P<photo>\d+)"
    with pytest.raises(DatasetError, match="expected the pattern"):
        load_folder(root, name_pattern=wrong)
    ds = load_folder(root, name_pattern=r"ad(?P<post>\d+)-photo(?P<photo>\d+)")
    assert _rows(ds) == [
        ("gallery/ad17-photo2.jpg", "17", 2, "gallery", 2),
        ("query/ad17-photo1.jpg", "17", 1, "query", 1),
    ]


def test_custom_pattern_with_group_and_camera_names_trusted(tmp_path: Path):
    root = _make(tmp_path / "d", ["query/IMG_2034.jpg", "gallery/IMG_2035.jpg", "gallery/X_7.jpg"])
    ds = load_folder(root, name_pattern=r"(?P<post>[A-Z]+)_(?P<photo>\d+)")
    assert _rows(ds) == [
        ("gallery/IMG_2035.jpg", "IMG", 2035, "gallery", 2035),
        ("gallery/X_7.jpg", "X", 7, "gallery", 7),
        ("query/IMG_2034.jpg", "IMG", 2034, "query", 2034),
    ]
    root2 = _make(tmp_path / "e", ["query/a-1-2.jpg", "gallery/a-1-3.jpg"])
    ds2 = load_folder(root2, name_pattern=r"(?P<group>\w)-(?P<post>\d+)-(?P<photo>\d+)")
    assert set(ds2.table["post_id"]) == {"a_1"}


def test_split_folders_in_any_case(tmp_path: Path):
    root = _make(tmp_path / "d", ["Query/1_1.jpg", "Gallery/1_2.jpg", "TRAIN/2_1.jpg"])
    ds = load_dataset(root)
    assert ds.counts()["images"].to_dict() == {"train": 1, "query": 1, "gallery": 1}
    assert set(ds.table["image"]) == {"Query/1_1.jpg", "Gallery/1_2.jpg", "TRAIN/2_1.jpg"}
    assert ds.path("Query/1_1.jpg") == root / "Query" / "1_1.jpg"
    _make(root, ["query/3_1.jpg"])
    with pytest.raises(DatasetError, match="both Query/ and query/ would be the query split"):
        load_dataset(root)


def test_post_from_subfolder_numbers_photos_in_name_order(tmp_path: Path):
    root = _make(
        tmp_path / "d",
        ["query/rex/b.jpg", "gallery/rex/a.jpg", "gallery/rex/c.png", "gallery/rex/B2.jpg",
         "gallery/milo/IMG_1.jpg", "gallery/milo/deeper/x.jpg"],
    )  # fmt: skip
    ds = load_folder(root, post_from="folder")
    assert _rows(ds) == [
        ("gallery/milo/IMG_1.jpg", "milo", 1, "gallery", 1),
        ("gallery/rex/B2.jpg", "rex", 1, "gallery", 1),
        ("gallery/rex/a.jpg", "rex", 2, "gallery", 2),
        ("gallery/rex/c.png", "rex", 3, "gallery", 3),
        ("query/rex/b.jpg", "rex", 1, "query", 1),
    ]
    (sub,) = [f for f in ds.findings if f.code == "subfolder"]
    assert "gallery/milo/deeper/ (1 image(s))" in sub.message and "nested" in sub.message


def test_subfolders_without_the_option_are_reported_with_the_fix(tmp_path: Path):
    root = _make(tmp_path / "d", ["query/1_1.jpg", "gallery/1_2.jpg", "gallery/rex/a.jpg",
                                 "gallery/rex/b.jpg", "gallery/milo/a.jpg"])  # fmt: skip
    ds = load_folder(root)
    (sub,) = [f for f in ds.findings if f.code == "subfolder"]
    assert sub.level == "warning"
    assert sub.message.startswith("2 subfolder(s) ignored, 3 image(s) inside")
    assert "--post-from-folder" in sub.message
    with pytest.raises(ValueError, match="post_from must be 'name' or 'folder'"):
        load_folder(root, post_from="subdir")
