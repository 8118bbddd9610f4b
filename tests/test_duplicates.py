"""Duplicates: exact copies, re-encoded reposts, train/test leakage; separate thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from curation.dataset import load_folder
from explain.retrieval.duplicates import Thresholds, find_duplicates, hamming, image_hashes


def smooth(seed: int, size: tuple[int, int] = (64, 128)) -> Image.Image:
    """A smooth random picture (a 4×8 colour grid blown up), so that pHash is meaningful."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (8, 4, 3), dtype=np.uint8)
    return Image.fromarray(grid).resize(size, Image.BILINEAR)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for split in ("train", "query", "gallery"):
        (root / split).mkdir(parents=True)
    a = smooth(1)
    a.save(root / "query" / "100_1.jpg", quality=95)
    decoded = Image.open(root / "query" / "100_1.jpg").convert("RGB")
    decoded.save(root / "gallery" / "100_2.png")  # same pixels, other format: exact, intra-post
    smooth(2).save(root / "gallery" / "100_3.jpg")
    repost = decoded.resize((58, 116), Image.BILINEAR)  # re-posted: smaller, re-encoded
    repost.save(root / "gallery" / "200_1.jpg", quality=60)
    smooth(3).save(root / "gallery" / "300_1.jpg")
    (root / "train" / "900_1.jpg").write_bytes((root / "gallery" / "300_1.jpg").read_bytes())
    smooth(4).save(root / "train" / "900_2.jpg")
    smooth(5).save(root / "train" / "901_1.jpg")
    return root


def test_hamming():
    a = np.array([0b1011, 0], dtype=np.uint64)
    assert hamming(a, np.uint64(0b0001)).tolist() == [2, 1]
    assert hamming(np.uint64(2**64 - 1), np.uint64(0)) == 64


def test_exact_near_and_leakage(root: Path, tmp_path: Path):
    ds = load_folder(root)
    dup = find_duplicates(ds, cache_dir=tmp_path / "cache")
    p = dup.pairs
    got = {(r.image_a, r.image_b): (r.scope, r.kind) for r in p.itertuples(index=False)}
    assert got[("gallery/100_2.png", "query/100_1.jpg")] == ("intra-post", "exact")
    assert got[("gallery/200_1.jpg", "query/100_1.jpg")] == ("inter-post", "near")
    assert got[("gallery/100_2.png", "gallery/200_1.jpg")] == ("inter-post", "near")
    assert got[("gallery/300_1.jpg", "train/900_1.jpg")] == ("train-test", "exact")
    assert len(got) == 4  # the unrelated pictures are not flagged
    g = dup.groups
    assert list(g.columns) == [
        "group",
        "image",
        "post_id",
        "split",
        "kind",
        "scope",
        "hash_distance",
        "similarity",
        "pixel_difference",
        "inliers",
    ]
    by_scope = {s: sorted(g.loc[g["scope"] == s, "image"]) for s in set(g["scope"])}
    assert by_scope == {
        "intra-post": ["gallery/100_2.png", "query/100_1.jpg"],
        "inter-post": ["gallery/100_2.png", "gallery/200_1.jpg", "query/100_1.jpg"],
        "train-test": ["gallery/300_1.jpg", "train/900_1.jpg"],
    }
    inter = g[g["scope"] == "inter-post"].set_index("image")
    assert (inter["kind"] == "near").all() and inter["group"].nunique() == 1
    assert inter["hash_distance"].between(1, 8).all()
    assert g.loc[g["scope"] == "train-test", "split"].tolist() == ["gallery", "train"]
    assert g.loc[g["scope"] == "intra-post", "hash_distance"].tolist() == [0, 0]
    assert g["similarity"].isna().all()  # no embeddings given
    summary = dup.summary().set_index(["scope", "kind"])
    assert summary.loc[("inter-post", "near"), "images"] == 3


def test_intra_and_inter_thresholds_are_separate(root: Path):
    ds = load_folder(root)
    h = image_hashes(ds)
    idx = {img: i for i, img in enumerate(h.images)}
    d = int(hamming(h.phash[idx["query/100_1.jpg"]], h.phash[idx["gallery/200_1.jpg"]]))
    assert 1 <= d <= 8
    # move the repost into post 100: the same pair is now judged by the intra-post threshold
    (root / "gallery" / "200_1.jpg").rename(root / "gallery" / "100_9.jpg")
    ds = load_folder(root)
    strict = find_duplicates(
        ds, thresholds=Thresholds(intra_hash=d - 1, inter_hash=d, intra_pixels=255)
    )
    assert not (strict.pairs["image_a"] == "gallery/100_9.jpg").any()
    assert not (strict.pairs["image_b"] == "gallery/100_9.jpg").any()
    loose = find_duplicates(ds, thresholds=Thresholds(intra_hash=d, inter_hash=0, intra_pixels=255))
    near = loose.pairs[loose.pairs["kind"] == "near"]
    assert set(near["scope"]) == {"intra-post"} and len(near) == 2


def test_embedding_similarity_gates_near_pairs(root: Path):
    ds = load_folder(root)
    images = ds.table["image"].tolist()
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((len(images), 16)).astype(np.float32)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    exact_copy = {"gallery/100_2.png": "query/100_1.jpg", "train/900_1.jpg": "gallery/300_1.jpg"}
    for img, src in exact_copy.items():
        feats[images.index(img)] = feats[images.index(src)]
    dissimilar = find_duplicates(ds, features=feats)
    assert set(dissimilar.pairs["kind"]) == {"exact"}  # the repost looks unlike its source
    feats[images.index("gallery/200_1.jpg")] = feats[images.index("query/100_1.jpg")] * 0.99
    feats[images.index("gallery/200_1.jpg")] += 0.01 * feats[images.index("gallery/100_3.jpg")]
    similar = find_duplicates(ds, features=feats)
    near = similar.pairs[similar.pairs["kind"] == "near"]
    assert len(near) == 2 and (near["similarity"] > 0.95).all()
    with pytest.raises(ValueError, match="feature rows"):
        find_duplicates(ds, features=feats[:3])


def test_hashes_are_cached(root: Path, tmp_path: Path):
    ds = load_folder(root)
    calls = []
    first = image_hashes(ds, cache_dir=tmp_path / "c", progress=lambda d, t: calls.append(d))
    again = image_hashes(ds, cache_dir=tmp_path / "c", progress=lambda d, t: calls.append(d))
    np.testing.assert_array_equal(first.phash, again.phash)
    np.testing.assert_array_equal(first.pixels, again.pixels)
    assert calls == [8, 8]  # computed (one report for 8 images), then read at once


def test_colour_and_position_on_black(tmp_path: Path):
    """Segmented photos: the animal's box is compared, so a shifted copy is found, and colour
    separates two animals that pHash (grey levels) cannot tell apart."""
    root = tmp_path / "data"
    animal = smooth(7, (40, 60))
    grey = animal.convert("L").convert("RGB")  # same grey levels, no colour: another cat
    for name, img, offset in (
        ("1_1", animal, (10, 20)),
        ("2_1", animal, (70, 150)),
        ("3_1", grey, (40, 90)),
    ):
        canvas = Image.new("RGB", (128, 256))
        canvas.paste(img, offset)
        (root / "gallery").mkdir(parents=True, exist_ok=True)
        canvas.save(root / "gallery" / f"{name}.png")
    dup = find_duplicates(load_folder(root))
    assert dup.pairs[["image_a", "image_b", "kind"]].values.tolist() == [
        ["gallery/1_1.png", "gallery/2_1.png", "near"]
    ]
    assert dup.pairs["hash_distance"].tolist() == [0]
    assert dup.pairs["pixel_difference"].tolist() == [0.0]
    h = image_hashes(load_folder(root))
    assert int(hamming(h.phash[0], h.phash[2])) == 0  # pHash alone would confuse them
    assert np.abs(h.thumbs[0].astype(float) - h.thumbs[2]).mean() > 6
