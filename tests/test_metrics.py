"""Metrics equal torchreid's evaluate_rank; exact values on a hand-made example; faiss top-k."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from curation.dataset import load_folder
from explain.models.adapter import build_model, evaluate_rank_reference
from explain.models.device import set_threads
from explain.retrieval.embeddings import extract
from explain.retrieval.index import build_index, search, similarity_matrix
from explain.retrieval.metrics import evaluate, rank_metrics

set_threads()  # WORKBENCH_THREADS=1 under pytest: two threads on a busy machine crawl


def reference(d, qp, gp, qc, gc, max_rank):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate_rank_reference(d, qp, gp, qc, gc, max_rank=max_rank, use_cython=False)


def assert_equal_to_torchreid(d, qp, gp, qc, gc, max_rank):
    cmc, mean_ap = reference(d, qp, gp, qc, gc, max_rank)
    ours = rank_metrics(d, qp, gp, qc, gc, max_rank=max_rank)
    np.testing.assert_allclose(ours.cmc[: len(cmc)], cmc, atol=1e-6, rtol=0)
    assert abs(ours.mAP - mean_ap) < 1e-6
    return ours


def test_hand_made_three_queries():
    # gallery: A cam1, A cam2, B cam1, B cam2, C cam1, A cam0 (junk for query 0: same post+cam)
    g_pids = np.array(["A", "A", "B", "B", "C", "A"])
    g_cams = np.array([1, 2, 1, 2, 1, 0])
    q_pids = np.array(["A", "B", "D"])  # D is not in the gallery
    q_cams = np.array([0, 0, 0])
    d = np.array(
        [
            [0.3, 0.6, 0.1, 0.5, 0.4, 0.05],  # kept order B A C B A -> true matches at 2 and 5
            [0.2, 0.9, 0.7, 0.1, 0.8, 0.3],  # order B A A B C A -> true matches at 1 and 4
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        ]
    )
    r = rank_metrics(d, q_pids, g_pids, q_cams, g_cams, max_rank=5)
    assert r.num_valid == 2
    assert r.first.tolist() == [2, 1, 0]
    np.testing.assert_allclose(r.ap[:2], [(1 / 2 + 2 / 5) / 2, (1 / 1 + 2 / 4) / 2])
    assert np.isnan(r.ap[2]) and np.isnan(r.inp[2])
    np.testing.assert_allclose(r.inp[:2], [2 / 5, 2 / 4])
    assert r.mAP == pytest.approx(0.6, abs=1e-12)
    assert r.mINP == pytest.approx(0.45, abs=1e-12)
    np.testing.assert_allclose(r.cmc, [0.5, 1.0, 1.0, 1.0, 1.0])
    assert r.rank(1) == 0.5
    # torchreid needs integer ids; the same example through it
    ids = {"A": 0, "B": 1, "C": 2, "D": 3}
    qp, gp = np.array([ids[p] for p in q_pids]), np.array([ids[p] for p in g_pids])
    assert_equal_to_torchreid(d, qp, gp, q_cams, g_cams, max_rank=5)


def random_case(rng, q, g, ids, cams, ties):
    gp, gc = rng.integers(0, ids, g), rng.integers(0, cams, g)
    qp, qc = rng.integers(0, ids, q), rng.integers(0, cams, q)
    if ties:
        d = rng.integers(0, 4, (q, g)).astype(np.float32)  # many exact ties
    else:
        d = rng.random((q, g), dtype=np.float32 if q % 2 else np.float64)
    return d, qp, gp, qc, gc


@pytest.mark.parametrize("ties", [False, True])
def test_equal_to_torchreid_on_random_matrices(ties):
    rng = np.random.default_rng(7 + ties)
    for _ in range(25):
        q, g = int(rng.integers(3, 80)), int(rng.integers(40, 400))
        case = random_case(rng, q, g, int(rng.integers(2, 30)), int(rng.integers(1, 6)), ties)
        try:
            reference(*case, max_rank=20)
        except (AssertionError, ValueError):  # no valid query, or torchreid's ragged CMC
            continue
        assert_equal_to_torchreid(*case, max_rank=20)


def test_equal_to_torchreid_with_many_true_matches_per_query():
    """More than 64 true matches per query takes the sorted-row path."""
    rng = np.random.default_rng(3)
    d, qp, gp, qc, gc = random_case(rng, 20, 600, 3, 2, ties=False)
    ours = assert_equal_to_torchreid(d, qp, gp, qc, gc, max_rank=20)
    assert ours.num_valid == 20


def test_max_rank_beyond_the_gallery_keeps_its_length():
    rng = np.random.default_rng(1)
    d, qp, gp, qc, gc = random_case(rng, 6, 8, 2, 3, ties=False)
    qc = np.full_like(qc, 9)  # no junk: torchreid clips its CMC to the 8 gallery items
    ours = assert_equal_to_torchreid(d, qp, gp, qc, gc, max_rank=20)
    assert len(ours.cmc) == 20 and ours.cmc[-1] == 1.0
    assert np.all(np.diff(ours.cmc) >= 0)
    qc[0] = gc[gp == qp[0]][0]  # now query 0 keeps fewer than 8 items: torchreid fails
    with pytest.raises(ValueError, match="inhomogeneous"):
        reference(d, qp, gp, qc, gc, max_rank=20)
    assert len(rank_metrics(d, qp, gp, qc, gc, max_rank=20).cmc) == 20


def test_input_errors():
    d = np.zeros((2, 3))
    with pytest.raises(ValueError, match="none of the 2 queries"):
        rank_metrics(d, [0, 1], [2, 3, 4], [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="g_pids has 2 entries"):
        rank_metrics(d, [0, 1], [2, 3], [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="NaN"):
        rank_metrics(np.full((2, 3), np.nan), [0, 1], [0, 1, 1], [0, 0], [1, 1, 1])


def test_equal_to_torchreid_on_real_photos(real_pets):
    ds = load_folder(real_pets)
    query, gallery = ds.split("query"), ds.split("gallery")
    torch.manual_seed(0)
    model = build_model("osnet_x0_25", 10).eval()
    feats = extract(model, [ds.path(i) for i in ds.table["image"]], height=64, width=32)
    n_q = len(query)
    qf, gf = feats[:n_q], feats[n_q:]
    d = 1.0 - similarity_matrix(qf, gf)
    codes = {p: i for i, p in enumerate(sorted(set(ds.table["post_id"])))}
    qp = np.array([codes[p] for p in query["post_id"]])
    gp = np.array([codes[p] for p in gallery["post_id"]])
    ours = assert_equal_to_torchreid(
        d, qp, gp, query["camid"].to_numpy(), gallery["camid"].to_numpy(), max_rank=20
    )
    assert ours.num_valid == n_q  # every real query has a gallery photo
    result = evaluate(qf, gf, query, gallery, k=5)
    assert result.summary["mAP"] == pytest.approx(ours.mAP, abs=1e-6)


def unit(deg: float) -> list[float]:
    return [np.cos(np.radians(deg)), np.sin(np.radians(deg))]


def test_evaluate_per_query_table():
    gallery = pd.DataFrame({"image": ["g/A_1", "g/B_1", "g/A_2", "g/C_1"]})
    gallery["post_id"], gallery["camid"] = ["A", "B", "A", "C"], [1, 1, 2, 1]
    query = pd.DataFrame({"image": ["q/A_0", "q/B_0", "q/D_0"]})
    query["post_id"], query["camid"] = ["A", "B", "D"], [0, 0, 0]
    gf = np.array([unit(10), unit(20), unit(40), unit(90)], dtype=np.float32)
    qf = np.array([unit(0), unit(35), unit(60)], dtype=np.float32)
    res = evaluate(qf, gf, query, gallery, k=2)
    t = res.per_query
    # q0 (0°): A_1 B_1 A_2 C; q1 (35°): A_2 B_1 A_1 C; q2 (60°): A_2 C B_1 A_1
    assert t["rank"].tolist()[:2] == [1, 2] and pd.isna(t["rank"].iloc[2])
    assert t["in_gallery"].tolist() == [True, True, False]
    assert t["found"].tolist() == [True, True, False]
    assert t["top_images"].iloc[0] == ["g/A_1", "g/B_1"]
    assert t["top_images"].iloc[1] == ["g/A_2", "g/B_1"]
    assert t["top_correct"].iloc[1] == [False, True]
    assert t["top1_correct"].tolist() == [True, False, False]
    cos = lambda deg: np.cos(np.radians(deg))  # noqa: E731
    np.testing.assert_allclose(t["top1_similarity"], [cos(10), cos(5), cos(20)], atol=1e-6)
    np.testing.assert_allclose(t["top_similarities"].iloc[0], [cos(10), cos(20)], atol=1e-6)
    np.testing.assert_allclose(t["top_distances"].iloc[0], [1 - cos(10), 1 - cos(20)], atol=1e-6)
    # margin: top-1 minus the best other identity (q0: B at 20°; q1: B at 15°; q2: A at 20°)
    np.testing.assert_allclose(
        t["margin"], [cos(10) - cos(20), cos(5) - cos(15), cos(20) - cos(30)], atol=1e-6
    )
    np.testing.assert_allclose(t["match_similarity"].iloc[:2], [cos(10), cos(15)], atol=1e-6)
    assert np.isnan(t["match_similarity"].iloc[2])
    s = res.summary
    assert s["num_valid"] == 2 and s["rank1"] == 0.5 and s["rank5"] == 1.0
    assert s["mINP"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert s["mAP"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert res.cmc.shape == (20,)


def test_faiss_search_equals_brute_force():
    rng = np.random.default_rng(0)
    g = rng.standard_normal((500, 32)).astype(np.float32)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    q = g[:30] + 0.01 * rng.standard_normal((30, 32)).astype(np.float32)
    for batch in (q[:3], q):  # below and above the BLAS switch
        sims, idx = search(build_index(g), batch, 5)
        brute = batch @ g.T
        np.testing.assert_array_equal(idx, np.argsort(-brute, axis=1)[:, :5])
        np.testing.assert_allclose(sims, np.take_along_axis(brute, idx, 1), atol=1e-5)
    assert search(g[:3], q[:2], 10)[1].shape == (2, 3)
    with pytest.raises(ValueError, match="dimensions"):
        search(g, q[:, :5], 3)


def test_evaluate_series_per_epoch(tree, tmp_path):
    from explain.models.series import load_series
    from explain.retrieval.series import evaluate_series

    series = tmp_path / "series"
    series.mkdir()
    for epoch in (12, 3):
        torch.manual_seed(epoch)
        model = build_model("osnet_x0_25", 3)
        state = {"state_dict": model.state_dict(), "epoch": epoch, "rank1": np.float64(0.5)}
        torch.save({**state, "height": 64, "width": 32}, series / f"model.pth.tar-{epoch}")
    ds = load_folder(tree)
    calls = []
    cache = tmp_path / "cache"
    out = evaluate_series(
        ds, series, cache_dir=cache, k=3, device="cpu", progress=lambda d, t: calls.append((d, t))
    )
    m = out.metrics
    assert m["epoch"].tolist() == [3, 12]
    assert m["num_query"].tolist() == [2, 2] and m["num_valid"].tolist() == [2, 2]
    assert m["rank1_file"].tolist() == [0.5, 0.5] and not m["cached"].any()
    assert calls[-1] == (12, 12)  # 6 query + gallery images, 2 checkpoints
    assert list(out.for_epoch(12)["query"]) == ["query/201_1.jpg", "query/7_202_1.jpg"]
    # the same numbers as torchreid's reference on the same features
    loaded = load_series(series, device="cpu")
    feats = extract(loaded[0].model, [ds.path(i) for i in ds.table["image"]], height=64, width=32)
    q, g = ds.split("query"), ds.split("gallery")
    rows = {img: i for i, img in enumerate(ds.table["image"])}
    qf, gf = feats[[rows[i] for i in q["image"]]], feats[[rows[i] for i in g["image"]]]
    codes = {p: i for i, p in enumerate(sorted(set(ds.table["post_id"])))}
    cmc, mean_ap = reference(
        1.0 - qf @ gf.T,
        np.array([codes[p] for p in q["post_id"]]),
        np.array([codes[p] for p in g["post_id"]]),
        q["camid"].to_numpy(),
        g["camid"].to_numpy(),
        max_rank=4,
    )
    assert m["mAP"].iloc[0] == pytest.approx(mean_ap, abs=1e-6)
    assert m["rank1"].iloc[0] == pytest.approx(cmc[0], abs=1e-6)
    again = evaluate_series(ds, loaded, cache_dir=cache, k=3)
    assert again.metrics["cached"].all()
    assert np.allclose(again.metrics["mAP"], m["mAP"], atol=1e-6)


def test_gallery_against_itself_leaves_each_photo_out():
    gallery = pd.DataFrame({"image": ["g/A_1", "g/A_2", "g/B_1", "g/B_2"]})
    gallery["post_id"], gallery["camid"] = ["A", "A", "B", "B"], [1, 2, 1, 2]
    feats = np.array([unit(0), unit(10), unit(30), unit(90)], dtype=np.float32)
    t = evaluate(feats, feats, gallery, gallery, k=2).per_query
    assert t["top1_image"].tolist() == ["g/A_2", "g/A_1", "g/A_2", "g/B_1"]
    assert t["rank"].tolist() == [1, 1, 3, 1]
    assert not any(q in top for q, top in zip(t["query"], t["top_images"], strict=True))


def test_evaluate_command_prints_a_table_per_epoch(tree, tmp_path):
    from click.testing import CliRunner

    from workbench.cli import main

    series = tmp_path / "log" / "run" / "model"
    series.mkdir(parents=True)
    for epoch in (2, 1):
        torch.manual_seed(epoch)
        state = {"state_dict": build_model("osnet_x0_25", 3).state_dict(), "epoch": epoch}
        torch.save({**state, "height": 64, "width": 32}, series / f"model.pth.tar-{epoch}")
    args = [
        "evaluate",
        "--data",
        str(tree),
        "--checkpoints",
        str(tmp_path / "log"),
        "--cache",
        str(tmp_path / "cache"),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith("epoch ")]
    assert [ln.split()[1] for ln in lines] == ["1", "2"]
    assert all("2/2" in ln for ln in lines)  # valid / queries
    missing = CliRunner().invoke(
        main, ["evaluate", "--data", str(tree), "--checkpoints", str(tmp_path / "nowhere")]
    )
    assert missing.exit_code != 0 and "does not exist" in missing.output


def test_query_whose_gallery_is_all_junk_has_no_top1():
    gallery = pd.DataFrame({"image": ["g/A_1"], "post_id": ["A"], "camid": [1]})
    query = pd.DataFrame({"image": ["q/A_1", "q/B_1"], "post_id": ["A", "B"], "camid": [1, 1]})
    feats = np.array([unit(0)], dtype=np.float32)
    with pytest.raises(ValueError, match="none of the 2 queries"):
        evaluate(np.array([unit(0), unit(5)], dtype=np.float32), feats, query, gallery)
    query.loc[1, "post_id"] = "A"
    query.loc[1, "camid"] = 2  # the second query can find g/A_1
    t = evaluate(np.array([unit(0), unit(5)], dtype=np.float32), feats, query, gallery).per_query
    assert pd.isna(t["top1_image"].iloc[0]) and t["top1_image"].iloc[1] == "g/A_1"
    assert pd.isna(t["top1_post_id"].iloc[0])
    assert t["top1_correct"].tolist() == [False, True] and t["top_images"].iloc[0] == []
    assert np.isnan(t["top1_similarity"].iloc[0]) and t["rank"].tolist()[1] == 1
