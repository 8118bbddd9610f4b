"""Reposts, near-copies through local keypoints, query/gallery leakage in the metrics and in the
duplicates rule, and the trivial baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.dataset import load_dataset, load_folder
from curation.reposts import TRANSFORMS, build_reposts, repost
from curation.rules.duplicates import duplicates
from explain.retrieval.baselines import evaluate_baselines, hash_features
from explain.retrieval.colour import colour_histogram
from explain.retrieval.copies import compare, local_features
from explain.retrieval.duplicates import find_duplicates
from explain.retrieval.leakage import find_leaks, query_gallery_leaks, top1_by_copy
from explain.retrieval.metrics import evaluate, rank_metrics


def animal(seed: int, size: tuple[int, int] = (128, 256)) -> Image.Image:
    """A textured blob on black: coarse colour, fine detail (SIFT needs texture), a silhouette."""
    rng = np.random.default_rng(seed)
    w, h = size
    coarse = Image.fromarray(rng.integers(0, 256, (8, 4, 3), dtype=np.uint8)).resize(
        size, Image.BICUBIC
    )
    fine = Image.fromarray(rng.integers(0, 256, (h // 4, w // 4, 3), dtype=np.uint8)).resize(
        size, Image.BICUBIC
    )
    arr = (np.asarray(coarse, np.float32) * 0.6 + np.asarray(fine, np.float32) * 0.4).astype(
        np.uint8
    )
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = w / 2 + rng.uniform(-8, 8), h / 2 + rng.uniform(-16, 16)
    inside = ((xx - cx) / (w * 0.42)) ** 2 + ((yy - cy) / (h * 0.4)) ** 2 < 1
    arr[~inside] = 0
    return Image.fromarray(arr)


def test_every_repost_transform_changes_the_photo_deterministically():
    img = animal(0)
    for t in TRANSFORMS:
        a, b = repost(img, t, seed=3), repost(img, t, seed=3)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        if a.size == img.size:
            assert np.abs(np.asarray(a, np.int16) - np.asarray(img, np.int16)).mean() > 0.3, t
    assert repost(img, "half").size == (64, 128)
    assert repost(img, "crop80", seed=1).size == (102, 205)
    with pytest.raises(ValueError, match="unknown repost transform 'blur'"):
        repost(img, "blur")


def test_build_reposts_writes_a_loadable_manifest(tmp_path: Path):
    src = tmp_path / "src"
    src.mkdir()
    animal(1).save(src / "5_1.png")
    table = build_reposts([("5", "5_1", src / "5_1.png")], tmp_path / "out", transforms=("text",))
    assert table["transform"].tolist() == ["original", "text"]
    ds = load_dataset(tmp_path / "out")
    assert ds.table["image"].tolist() == ["source/5_1.jpg", "repost/5_1__text.jpg"]
    assert ds.table["photo"].tolist() == [1, 2]


def test_local_keypoints_tell_a_crop_from_another_animal():
    img = animal(2)
    a = local_features(np.asarray(img))
    crop = compare(a, local_features(np.asarray(repost(img, "crop65", seed=4))))
    text = compare(a, local_features(np.asarray(repost(img, "text", seed=4))))
    other = compare(a, local_features(np.asarray(animal(3))))
    assert crop.inliers >= 25 and text.inliers >= 25
    assert other.inliers < 10
    assert 1.2 < crop.scale < 1.9  # the crop is blown up to the same working size
    with pytest.raises(ValueError, match="uint8"):
        local_features(np.zeros((8, 8), np.uint8))


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    """Query 1_1, its post-mate 1_2 and a crop of the query itself (1_3) in the gallery, a
    recoloured copy of the query under another post (9_1), and two unrelated posts."""
    root = tmp_path / "data"
    (root / "query").mkdir(parents=True)
    (root / "gallery").mkdir()
    q = animal(10)
    q.save(root / "query" / "1_1.png")
    animal(11).save(root / "gallery" / "1_2.png")
    repost(q, "crop80", seed=2).save(root / "gallery" / "1_3.png")
    repost(q, "colour", seed=2).save(root / "gallery" / "9_1.png")
    animal(12).save(root / "query" / "2_1.png")
    animal(13).save(root / "gallery" / "2_2.png")
    animal(14).save(root / "gallery" / "3_1.png")
    return root


def test_the_finder_flags_the_query_copies_and_nothing_else(leaky: Path):
    ds = load_folder(leaky)
    dup = find_duplicates(ds)
    pairs = set(zip(dup.pairs["image_a"], dup.pairs["image_b"], strict=True))
    assert pairs == {
        ("gallery/1_3.png", "query/1_1.png"),
        ("gallery/9_1.png", "query/1_1.png"),
        ("gallery/1_3.png", "gallery/9_1.png"),
    }
    assert (dup.pairs["inliers"] >= 25).all()
    leaks = query_gallery_leaks(dup.groups)
    assert leaks[["query", "gallery"]].values.tolist() == [
        ["query/1_1.png", "gallery/1_3.png"],
        ["query/1_1.png", "gallery/9_1.png"],
    ]
    assert find_leaks(ds)[["query", "gallery"]].equals(leaks[["query", "gallery"]])
    crossing = find_duplicates(ds, between=("query", "gallery")).pairs
    assert set(zip(crossing["image_a"], crossing["image_b"], strict=True)) == pairs - {
        ("gallery/1_3.png", "gallery/9_1.png")}  # fmt: skip


def test_a_query_never_matches_its_own_copy_silently(leaky: Path):
    ds = load_folder(leaky)
    query, gallery = ds.split("query"), ds.split("gallery")
    leaks = find_leaks(ds)
    # a model that sees a copy as the query itself, and the post-mate only loosely
    rng = np.random.default_rng(0)
    base = {img: rng.standard_normal(8) for img in ds.table["image"]}
    base["gallery/1_3.png"] = base["query/1_1.png"] + 0.01
    base["gallery/1_2.png"] = base["query/1_1.png"] + 1.5 * rng.standard_normal(8)
    unit = {k: (v / np.linalg.norm(v)).astype(np.float32) for k, v in base.items()}
    qf = np.stack([unit[i] for i in query["image"]])
    gf = np.stack([unit[i] for i in gallery["image"]])
    with_leaks = evaluate(qf, gf, query, gallery)
    assert with_leaks.per_query.set_index("query").at["query/1_1.png", "top1_image"] == (
        "gallery/1_3.png"
    )
    assert top1_by_copy(with_leaks.per_query, leaks) == ["query/1_1.png"]
    clean = evaluate(qf, gf, query, gallery, exclude=leaks)
    row = clean.per_query.set_index("query").loc["query/1_1.png"]
    assert "gallery/1_3.png" not in row["top_images"] and "gallery/9_1.png" not in row["top_images"]
    assert row["excluded"] == 2
    assert top1_by_copy(clean.per_query, leaks) == []
    assert with_leaks.summary["rank1"] >= clean.summary["rank1"]
    # the only true match left for query 1_1 is its post-mate 1_2
    sims = gf @ qf[0]
    g_images = gallery["image"].tolist()
    mate = sims[g_images.index("gallery/1_2.png")]
    expected_rank = 1 + sum(
        s > mate for img, s in zip(g_images, sims, strict=True) if img not in {
            "gallery/1_2.png", "gallery/1_3.png", "gallery/9_1.png"}
    )  # fmt: skip
    assert row["rank"] == expected_rank


def test_excluded_pairs_score_as_if_removed_from_the_gallery():
    rng = np.random.default_rng(5)
    dist = rng.random((6, 20))
    q_pids, g_pids = rng.integers(0, 4, 6), rng.integers(0, 4, 20)
    q_cams, g_cams = np.zeros(6, int), np.ones(20, int)
    extra = np.zeros((6, 20), bool)
    extra[0, 3] = extra[0, 7] = extra[2, 11] = True
    g_pids[3], g_pids[7] = q_pids[0], (q_pids[0] + 1) % 4  # a true match and another animal
    dist[0, 3] = dist[0, 7] = 0.0  # both nearest: scored as they are, they would lead
    got = rank_metrics(dist, q_pids, g_pids, q_cams, g_cams, max_rank=5, extra_junk=extra)
    for q in range(6):
        keep = ~extra[q]
        if not (g_pids[keep] == q_pids[q]).any():
            assert got.first[q] == 0
            continue
        args = (q_pids[q : q + 1], g_pids[keep], q_cams[:1], g_cams[keep])
        one = rank_metrics(dist[q : q + 1, keep], *args, max_rank=5)
        assert got.first[q] == one.first[0]
        assert got.ap[q] == pytest.approx(one.ap[0])
        assert got.inp[q] == pytest.approx(one.inp[0])


def test_the_duplicates_rule_drops_a_query_s_gallery_copy(leaky: Path):
    ds = load_folder(leaky)
    removed = duplicates(find_duplicates(ds).groups, ds.table)
    qg = removed[removed["cause"] == "query-gallery"]
    assert sorted(qg["image"]) == ["gallery/1_3.png", "gallery/9_1.png"]
    assert qg["reason"].str.contains("copy of query query/1_1.png").all()
    assert "query/1_1.png" not in set(removed["image"])


def test_baselines_go_through_the_metrics_code(leaky: Path):
    ds = load_folder(leaky)
    h = colour_histogram(np.asarray(animal(1)))
    assert h.shape == (480,) and np.linalg.norm(h) == pytest.approx(1.0, abs=1e-5)
    black = np.zeros((16, 16, 3), np.uint8)
    assert np.linalg.norm(colour_histogram(black)) == pytest.approx(1.0, abs=1e-5)
    feats = hash_features(np.array([0, 2**64 - 1, 1], dtype=np.uint64))
    assert feats.shape == (3, 64)
    assert float(feats[0] @ feats[1]) == pytest.approx(-1.0)
    assert float(feats[0] @ feats[2]) == pytest.approx(1 - 2 / 64)
    results = dict(evaluate_baselines(ds))
    assert set(results) == {"colour histogram", "perceptual hash"}
    colour = results["colour histogram"]
    # the recoloured and cropped copies are the query's nearest colours: found at rank 1
    assert colour.per_query.set_index("query").at["query/1_1.png", "top1_image"] in {
        "gallery/1_3.png", "gallery/9_1.png", "gallery/1_2.png"}  # fmt: skip
    excluded = dict(evaluate_baselines(ds, exclude=find_leaks(ds)))["colour histogram"]
    assert excluded.per_query.set_index("query").at["query/1_1.png", "excluded"] == 2
    assert isinstance(excluded.per_query, pd.DataFrame)


def test_evaluate_prints_the_leak_free_headline_and_the_baselines(leaky: Path, tmp_path: Path):
    import torch
    from click.testing import CliRunner

    from explain.models.adapter import build_model
    from workbench.cli import main

    series = tmp_path / "series"
    series.mkdir()
    torch.manual_seed(0)
    state = {"state_dict": build_model("osnet_x0_25", 3).state_dict(), "epoch": 1}
    torch.save({**state, "height": 64, "width": 32}, series / "model.pth.tar-1")
    args = ["evaluate", "--data", str(leaky), "--checkpoints", str(series), "--cache",
            str(tmp_path / "cache"), "--device", "cpu", "--threads", "1"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("HEADLINE: 2 query/gallery near-copy pair(s) (1 queries) are left out")
    head, leaky_part = out.split("with the near-copies counted")
    rows = [ln.split()[0] for ln in head.splitlines() if ln.startswith(("epoch", "colour", "perc"))]
    assert rows == ["epoch", "colour", "perceptual"]
    assert "better than a trivial matcher? the last checkpoint (epoch 1)" in head
    assert "top-1 = own copy" in leaky_part
    assert "query/1_1.png -> gallery/1_3.png" in leaky_part
    off = CliRunner().invoke(main, [*args, "--no-leaks", "--no-baselines"])
    assert off.exit_code == 0, off.output
    assert "not checked (--no-leaks)" in off.stdout and "colour histogram" not in off.stdout


def test_pair_caveat_says_when_a_pair_map_is_noise():
    from explain.heatmaps.pair_check import copy_inliers, pair_caveat

    assert pair_caveat(0.71) is None
    assert pair_caveat(None, inliers=3) is None
    assert "same file" in pair_caveat(0.5, same_file=True)
    assert "at its ceiling" in pair_caveat(0.995)
    img = animal(20)
    crop = np.asarray(repost(img, "crop80", seed=1))
    n = copy_inliers(np.asarray(img), crop)
    assert n >= 25
    assert f"one picture ({n} keypoints match" in pair_caveat(0.9, inliers=n)
    assert copy_inliers(np.asarray(img), np.asarray(animal(21))) < 25
    with pytest.raises(ValueError, match="cosine in \\[-1, 1\\]"):
        pair_caveat(3.0)
