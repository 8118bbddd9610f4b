"""2-D projection of embeddings: PCA exact on a known input, UMAP stable for a seed, bad input
refused with a message, and the disk cache keyed by content + method."""

from __future__ import annotations

import numpy as np
import pytest

from explain.retrieval import projection
from explain.retrieval.projection import MIN_UMAP, cached_project, choose, project
from explain.storage.cache import DiskCache


def known_plane() -> tuple[np.ndarray, np.ndarray]:
    """Rows on a plane in 5-D: coordinates (a, b) along two orthonormal axes, centred, with
    a's spread larger than b's, so PCA must recover (±a, ±b)."""
    rng = np.random.default_rng(1)
    coords = np.stack([rng.normal(0, 5.0, 40), rng.normal(0, 1.0, 40)], axis=1)
    coords -= coords.mean(axis=0)
    # make the two coordinates exactly uncorrelated, so the axes are the principal ones
    coords[:, 1] -= coords[:, 0] * (coords[:, 0] @ coords[:, 1]) / (coords[:, 0] @ coords[:, 0])
    q, _ = np.linalg.qr(rng.normal(size=(5, 2)))
    return (coords @ q.T + 3.0).astype(np.float32), coords


def test_pca_recovers_the_coordinates_of_a_known_plane():
    x, coords = known_plane()
    out = project(x, "pca")
    assert out.method == "pca" and out.note == ""
    assert out.points.shape == (40, 2) and out.points.dtype == np.float32
    for j in range(2):  # each axis up to its sign
        sign = np.sign(out.points[:, j] @ coords[:, j])
        np.testing.assert_allclose(out.points[:, j], sign * coords[:, j], atol=1e-4)


def test_pca_of_one_dimension_and_of_one_row():
    x = np.array([[1.0], [2.0], [4.0]], dtype=np.float32)
    pts = project(x, "pca").points
    np.testing.assert_allclose(np.abs(pts[:, 0]), np.abs(x[:, 0] - x[:, 0].mean()), atol=1e-6)
    np.testing.assert_array_equal(pts[:, 1], 0.0)
    np.testing.assert_array_equal(project(np.ones((1, 8)), "pca").points, [[0.0, 0.0]])


def test_auto_takes_pca_for_a_tiny_set_and_says_why():
    out = project(np.random.default_rng(0).normal(size=(MIN_UMAP - 1, 8)), "auto")
    assert out.method == "pca"
    assert f"only {MIN_UMAP - 1} photos" in out.note


def test_auto_without_umap_learn_says_how_to_install(monkeypatch):
    monkeypatch.setattr(projection, "umap_available", lambda: False)
    assert choose(500, "auto") == ("pca", "umap-learn is not installed (pip install umap-learn)")
    with pytest.raises(ValueError, match="pip install umap-learn"):
        choose(500, "umap")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(5), "2-D array"),
        (np.zeros((2, 3, 4)), "2-D array"),
        (np.zeros((0, 4)), "nothing to project"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "1 embedding row"),
        (np.array([["a", "b"]]), "real numbers"),
    ],
)
def test_bad_embeddings_are_refused_with_a_message(bad, message):
    with pytest.raises(ValueError, match=message):
        project(bad, "pca")


def test_bad_method_and_parameters_are_refused():
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="unknown projection method 'tsne'"):
        project(x, "tsne")
    with pytest.raises(ValueError, match="n_neighbors"):
        project(x, "pca", n_neighbors=1)
    with pytest.raises(ValueError, match="min_dist"):
        project(x, "pca", min_dist=2.0)


@pytest.mark.skipif(not projection.umap_available(), reason="umap-learn is not installed")
def test_umap_is_deterministic_with_the_seed_and_keeps_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, size=(3, 16))
    x = np.concatenate([c + rng.normal(0, 0.3, size=(20, 16)) for c in centres]).astype(np.float32)
    a, b = project(x, "umap", seed=7), project(x, "umap", seed=7)
    assert a.method == "umap" and a.points.shape == (60, 2) and a.points.dtype == np.float32
    np.testing.assert_array_equal(a.points, b.points)
    # each cluster's points lie closer to their own centroid than to any other cluster's
    labels = np.repeat(np.arange(3), 20)
    cents = np.stack([a.points[labels == i].mean(axis=0) for i in range(3)])
    nearest = np.argmin(((a.points[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
    assert (nearest == labels).all()


def test_the_cache_returns_the_stored_points_and_keys_on_content(tmp_path, monkeypatch):
    cache = DiskCache(tmp_path, "projections")
    x, _ = known_plane()
    first, hit = cached_project(x, cache, "pca")
    assert not hit
    calls = []
    monkeypatch.setattr(projection, "_pca", lambda arr: calls.append(1) or np.zeros((40, 2)))
    again, hit = cached_project(x.copy(), cache, "pca")
    assert hit and calls == []
    np.testing.assert_array_equal(again.points, first.points)
    changed = x.copy()
    changed[0, 0] += 1.0
    _, hit = cached_project(changed, cache, "pca")
    assert not hit and calls == [1]
