"""Dataset model: both loaders, every validation finding, image modes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.dataset import REQUIRED_COLUMNS, load_dataset, load_folder, load_manifest, parse_name
from curation.findings import DatasetError
from curation.images import ImageReadError, load_rgb
from tests.conftest import write_image


def codes(findings) -> list[str]:
    return sorted(f.code for f in findings)


def test_parse_name():
    assert parse_name("10631_2") == ("10631", 2)
    assert parse_name("7_10631_12") == ("7_10631", 12)
    assert parse_name("10631") is None
    assert parse_name("a_b_c_1") is None
    assert parse_name("10631_x") is None


def test_folder_loader_reads_torchreid_layout(tree: Path):
    ds = load_folder(tree)
    assert list(ds.table.columns) == list(REQUIRED_COLUMNS)
    assert len(ds.table) == 12
    assert ds.counts().to_dict() == {
        "posts": {"train": 3, "query": 2, "gallery": 3},
        "images": {"train": 6, "query": 2, "gallery": 4},
    }
    row = ds.table[ds.table["image"] == "gallery/7_202_2.jpg"].iloc[0]
    assert (row["post_id"], row["photo"], row["split"], row["camid"]) == ("7_202", 2, "gallery", 2)
    # sorted by split order, then post, then photo
    assert ds.table["split"].tolist() == ["train"] * 6 + ["query"] * 2 + ["gallery"] * 4
    assert ds.table["image"].tolist()[:2] == ["train/101_1.jpg", "train/101_2.jpg"]
    assert ds.findings == []
    assert ds.path("train/101_1.jpg") == tree / "train/101_1.jpg"


def test_manifest_roundtrip_csv_and_parquet(tree: Path, tmp_path: Path):
    ds = load_folder(tree)
    table = ds.table.assign(artifacts="", polluted=False)
    table.loc[0, "artifacts"] = "tongue"
    table.to_csv(tree / "manifest.csv", index=False)
    from_csv = load_dataset(tree)  # a folder with manifest.csv goes through the manifest
    assert from_csv.source.startswith("manifest")
    assert from_csv.has_ground_truth
    pd.testing.assert_frame_equal(from_csv.table[list(REQUIRED_COLUMNS)], ds.table)
    assert from_csv.table.loc[0, "artifacts"] == "tongue"
    table.to_parquet(tmp_path / "m.parquet", index=False)
    from_pq = load_manifest(tmp_path / "m.parquet", root=tree)
    pd.testing.assert_frame_equal(from_pq.table[list(REQUIRED_COLUMNS)], ds.table)


def _manifest(tree: Path, rows: list[dict]) -> Path:
    path = tree / "m.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _row(image: str, post: str = "201", photo: int = 1, split: str = "query") -> dict:
    return {"image": image, "post_id": post, "photo": photo, "split": split, "camid": photo}


@pytest.mark.parametrize(
    ("row", "code", "needle"),
    [
        (_row("query/404_1.jpg", "404"), "missing-file", "query/404_1.jpg: file not found"),
        (_row("../outside.jpg"), "escapes-root", "escapes the dataset root"),
        (_row("/etc/passwd"), "escapes-root", "escapes the dataset root"),
        (_row("notes.txt"), "not-an-image", "not an image file (extension .txt)"),
        (_row("broken.jpg"), "unreadable", "broken.jpg: not an image Pillow can read"),
        ({**_row("query/201_1.jpg"), "split": "test"}, "bad-split", "split must be one of"),
        ({**_row("query/201_1.jpg"), "photo": "one"}, "bad-photo", "photo must be a whole number"),
    ],
)
def test_manifest_errors_name_the_file_and_the_fix(tree: Path, row: dict, code: str, needle: str):
    (tree / "notes.txt").write_text("not a photo")
    (tree / "broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    path = _manifest(tree, [_row("gallery/201_2.jpg", photo=2, split="gallery"), row])
    with pytest.raises(DatasetError) as info:
        load_manifest(path)
    assert [f.code for f in info.value.findings if f.level == "error"] == [code]
    assert needle in str(info.value)


def test_duplicate_rows_and_photos(tree: Path):
    rows = [_row("query/201_1.jpg"), _row("query/201_1.jpg"), _row("gallery/201_2.jpg", photo=1)]
    rows[2]["split"] = "query"
    with pytest.raises(DatasetError) as info:
        load_manifest(_manifest(tree, rows))
    assert codes(info.value.findings) == ["duplicate-photo", "duplicate-row"]
    assert "query/201_1.jpg: listed more than once" in str(info.value)


def test_missing_columns(tree: Path):
    path = tree / "m.csv"
    pd.DataFrame({"image": ["query/201_1.jpg"], "post_id": ["201"]}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match="missing column\\(s\\) photo, split, camid"):
        load_manifest(path)


def test_folder_errors_bad_names_and_non_images(tree: Path):
    write_image(tree / "train" / "dog.jpg")
    (tree / "gallery" / "readme.txt").write_text("hello")
    (tree / "train" / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(DatasetError) as info:
        load_folder(tree)
    msg = str(info.value)
    assert "1 file name(s) not understood: cannot read the post and photo number" in msg
    assert "from train/dog.jpg; expected POSTID_PHOTONUM.jpg" in msg
    assert "gallery/readme.txt: not an image file" in msg
    assert codes(info.value.findings) == ["bad-name", "hidden-file", "not-an-image"]


def test_drop_bad_rows_keeps_the_rest(tree: Path):
    (tree / "query" / "201_1.jpg").write_bytes(b"garbage")
    ds = load_folder(tree, errors="drop")
    assert "query/201_1.jpg" not in set(ds.table["image"])
    assert len(ds.table) == 11
    dropped = [f for f in ds.findings if f.code == "unreadable"]
    assert dropped and dropped[0].level == "warning" and "(row dropped)" in dropped[0].message


def test_truncated_file_found_only_by_full_check(tree: Path):
    path = tree / "gallery" / "203_1.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert load_folder(tree, check="header").table.shape[0] == 12
    with pytest.raises(DatasetError, match="gallery/203_1.jpg: unreadable or truncated"):
        load_folder(tree, check="full")


def test_query_without_gallery_and_leakage_are_warnings(tree: Path):
    write_image(tree / "query" / "301_1.jpg", seed=99)
    write_image(tree / "gallery" / "101_5.jpg", seed=98)  # a train post in the gallery
    ds = load_folder(tree)
    by_code = {f.code: f for f in ds.findings}
    assert set(by_code) == {"query-without-gallery", "train-test-overlap"}
    assert by_code["query-without-gallery"].images == ("query/301_1.jpg",)
    assert (
        "1 query post(s) have no photo in the gallery" in by_code["query-without-gallery"].message
    )
    assert by_code["query-without-gallery"].level == "warning"


def test_load_dataset_messages_for_bad_paths(tmp_path: Path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="none of the folders train/, query/, gallery/"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "m.json").write_text("{}")
    with pytest.raises(DatasetError, match="unknown manifest format .json"):
        load_dataset(tmp_path / "m.json")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "1", "P", "CMYK", "I;16", "I", "F"])
def test_any_mode_becomes_rgb(tmp_path: Path, mode: str):
    rgb = np.zeros((8, 4, 3), dtype=np.uint8)
    rgb[:4] = (200, 100, 50)
    img = Image.fromarray(rgb)
    if mode == "I;16":
        arr = np.full((8, 4), 40000, dtype=np.uint16)
        img = Image.fromarray(arr)
        assert img.mode == "I;16"
    elif mode in ("I", "F"):
        img = Image.fromarray(rgb[..., 0].astype(np.int32 if mode == "I" else np.float32))
    else:
        img = img.convert(mode)
    ext = ".tif" if mode in ("CMYK", "I", "F") else ".png"
    path = tmp_path / f"x{ext}"
    img.save(path)
    out = load_rgb(path)
    assert out.mode == "RGB" and out.size == (4, 8)
    arr = np.asarray(out)
    if mode == "I;16":
        assert arr[0, 0, 0] == round(40000 / 65535 * 255)
    elif mode in ("RGBA", "CMYK"):
        assert np.abs(arr[0, 0].astype(int) - (200, 100, 50)).max() <= 2
        assert arr[-1, -1].tolist() == [0, 0, 0]


def test_transparent_pixels_become_black(tmp_path: Path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., :3] = 255
    rgba[:2, :, 3] = 255  # top half opaque white, bottom half transparent white
    Image.fromarray(rgba).save(tmp_path / "cut.png")
    arr = np.asarray(load_rgb(tmp_path / "cut.png"))
    assert arr[0, 0].tolist() == [255, 255, 255]
    assert arr[3, 0].tolist() == [0, 0, 0]


def test_decompression_bomb_guard_stays_on(tmp_path: Path, monkeypatch):
    path = write_image(tmp_path / "big.png", size=(64, 64))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 64 * 64 // 4)  # 4× over: Pillow refuses
    with pytest.raises(ImageReadError, match="too large to decode safely"):
        load_rgb(path)


def test_real_photos_load(real_pets: Path):
    ds = load_folder(real_pets, check="full")
    assert ds.counts().loc["query", "images"] > 0
    assert not [f for f in ds.findings if f.code == "query-without-gallery"]
    img = load_rgb(ds.path(ds.table["image"].iloc[0]))
    assert img.size == (128, 256) and img.mode == "RGB"
