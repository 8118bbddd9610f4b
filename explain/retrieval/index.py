"""Exact cosine retrieval with faiss: an inner-product index over L2-normalised features.

faiss computes inner products either with its own SIMD loop or with BLAS (a matrix product).
The switch is ``faiss.cvar.distance_compute_blas_threshold``: in faiss 1.15 it defaults to
128000 and BLAS is used only when ``queries × dimensions`` reaches it (measured: with 512-d
features a batch needs 250 queries), so a batch of 100 queries over 55,000×512 features takes
the loop and runs ~6× slower than with BLAS (``benchmarks/bench_faiss.py``); older faiss
compared the query count with 20. :func:`search` picks the path itself, whatever the version:
BLAS from :data:`BLAS_MIN_QUERIES` queries on (the loop is faster for a handful), restoring the
global setting afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss
import numpy as np

from explain.models.device import default_threads

BLAS_MIN_QUERIES = 20  # from this many queries per batch on, search through BLAS
_NEVER = 2**31 - 1


def set_threads(n: int | None = None) -> int:
    """faiss's OpenMP threads (default :func:`explain.models.device.default_threads`)."""
    n = default_threads() if n is None else n
    if n < 1:
        raise ValueError(f"threads must be at least 1, not {n}")
    faiss.omp_set_num_threads(n)
    return n


def _features(x: np.ndarray, name: str) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a (N, D) array of features, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values; recompute the embeddings")
    return x


def build_index(gallery: np.ndarray) -> faiss.IndexFlatIP:
    """An exact inner-product index over ``gallery`` ``(G, D)`` (L2-normalised: cosine)."""
    gallery = _features(gallery, "gallery")
    index = faiss.IndexFlatIP(gallery.shape[1])
    index.add(gallery)
    return index


@contextlib.contextmanager
def blas_threshold(value: int) -> Iterator[None]:
    """Temporarily set ``faiss.cvar.distance_compute_blas_threshold``."""
    old = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = value
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = old


def search(
    index: faiss.Index | np.ndarray, queries: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery items per query by inner product (cosine for unit vectors).

    ``index``: from :func:`build_index`, or the gallery features themselves. Returns
    ``(similarities, indices)``, both ``(Q, min(k, G))``, best first; similarities in [-1, 1]
    for unit vectors, indices into the gallery rows.
    """
    if not isinstance(index, faiss.Index):
        index = build_index(index)
    queries = _features(queries, "queries")
    if queries.shape[1] != index.d:
        raise ValueError(
            f"queries have {queries.shape[1]} dimensions but the gallery has {index.d}; "
            "use embeddings from the same checkpoint"
        )
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    k = min(k, index.ntotal)
    if k == 0:
        return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
    with blas_threshold(1 if len(queries) >= BLAS_MIN_QUERIES else _NEVER):
        sims, idx = index.search(queries, k)
    return sims, idx


def similarity_matrix(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """All cosine similarities ``(Q, G)`` float32 of unit-norm features (one matrix product)."""
    q, g = _features(queries, "queries"), _features(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"queries have {q.shape[1]} dimensions but the gallery has {g.shape[1]}; "
            "use embeddings from the same checkpoint"
        )
    return q @ g.T
