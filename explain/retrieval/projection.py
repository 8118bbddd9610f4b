"""2-D maps of embeddings: UMAP (umap-learn) or PCA, deterministic for a given seed.

:func:`project` turns ``(N, D)`` embeddings into ``(N, 2)`` points and says which method made
them; ``method="auto"`` takes UMAP when umap-learn is installed and the set has at least
:data:`MIN_UMAP` rows, else PCA (and says why in ``note``). :func:`cached_project` keeps the
result in a :class:`explain.storage.cache.DiskCache` keyed by the embeddings' content (SHA-1 of
their float32 bytes), the method actually used and its parameters, so a map is computed once
and is the same on every visit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from typing import NamedTuple

import numpy as np

from explain.storage.cache import DiskCache, make_key

METHODS = ("auto", "umap", "pca")
MIN_UMAP = 16  # below this many rows UMAP's neighbour graph says little: auto takes PCA
NAMESPACE = "projections"
VERSION = 1  # bump when a method's output changes: old cache entries stop matching


class Projection(NamedTuple):
    """``points``: ``(N, 2)`` float32; ``method``: ``"umap"`` or ``"pca"`` (what was used);
    ``note``: why ``auto`` chose PCA, "" otherwise."""

    points: np.ndarray
    method: str
    note: str = ""


def umap_available() -> bool:
    """True when umap-learn can be imported."""
    return importlib.util.find_spec("umap") is not None


def _checked(embeddings: object) -> np.ndarray:
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(
            f"embeddings must be a 2-D array (N photos, D features), got shape {x.shape}; "
            "stack one feature vector per row"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"embeddings of shape {x.shape} hold nothing to project")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"embeddings must be real numbers, not {x.dtype}")
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x).all(axis=1)).sum())
        raise ValueError(f"{bad} embedding row(s) hold NaN or Inf; recompute those features")
    return x


def choose(n: int, method: str = "auto") -> tuple[str, str]:
    """The method :func:`project` uses for ``n`` rows and the reason when ``auto`` falls back
    to PCA (``""`` otherwise). ValueError for an unknown method, or UMAP asked for explicitly
    when it cannot run."""
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; use one of {', '.join(METHODS)}")
    if method == "pca":
        return "pca", ""
    if method == "umap":
        if not umap_available():
            raise ValueError("UMAP needs umap-learn: pip install umap-learn (or use method='pca')")
        if n < 3:
            raise ValueError(f"UMAP needs at least 3 rows, got {n}; use method='pca'")
        return "umap", ""
    if not umap_available():
        return "pca", "umap-learn is not installed (pip install umap-learn)"
    if n < MIN_UMAP:
        return "pca", f"only {n} photos (UMAP from {MIN_UMAP})"
    return "umap", ""


def _pca(x: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    n, d = x.shape
    out = np.zeros((n, 2), dtype=np.float32)
    k = min(2, n, d)
    if n >= 2:
        # full SVD: exact and deterministic (sklearn fixes the signs of the components)
        out[:, :k] = PCA(n_components=k, svd_solver="full").fit_transform(x.astype(np.float64))
    return out


def _umap(x: np.ndarray, seed: int, n_neighbors: int, min_dist: float) -> np.ndarray:
    import umap

    neighbours = max(2, min(n_neighbors, x.shape[0] - 1))
    reducer = umap.UMAP(
        n_components=2, n_neighbors=neighbours, min_dist=min_dist, random_state=seed, n_jobs=1,
        init="spectral" if x.shape[0] > neighbours + 1 else "random",
    )  # fmt: skip
    with warnings.catch_warnings():
        # with random_state set umap-learn runs on one thread and says so on every call
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def project(
    embeddings: np.ndarray,
    method: str = "auto",
    seed: int = 0,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
) -> Projection:
    """2-D points of ``embeddings`` (``(N, D)``, any real dtype, computed in float32).

    ``method``: ``"umap"``, ``"pca"`` or ``"auto"`` (see :func:`choose`); ``seed`` fixes UMAP's
    random state (the same input and seed give the same points); ``n_neighbors`` (at least 2,
    capped at N - 1) and ``min_dist`` (in [0, 1]) are UMAP's. PCA centres the rows and returns
    their coordinates on the first two principal axes (a second column of zeros when the data
    has one dimension or two rows). ValueError for a bad shape, NaN/Inf rows or parameters.
    """
    x = _checked(embeddings)
    if not isinstance(n_neighbors, int) or n_neighbors < 2:
        raise ValueError(f"n_neighbors must be a whole number of at least 2, not {n_neighbors}")
    if not 0.0 <= float(min_dist) <= 1.0:
        raise ValueError(f"min_dist must lie in [0, 1], not {min_dist}")
    used, note = choose(x.shape[0], method)
    points = _umap(x, seed, n_neighbors, float(min_dist)) if used == "umap" else _pca(x)
    return Projection(points, used, note)


def embeddings_sha1(embeddings: np.ndarray) -> str:
    """SHA-1 of the embeddings as C-ordered float32 bytes, with their shape."""
    x = np.ascontiguousarray(np.asarray(embeddings, dtype=np.float32))
    h = hashlib.sha1(str(x.shape).encode())
    h.update(x.tobytes())
    return h.hexdigest()


def projection_key(embeddings: np.ndarray, method: str, seed: int, **params: object) -> str:
    """The cache key of one projection: embeddings' SHA-1 + the method used + seed + params."""
    return make_key(
        NAMESPACE, version=VERSION, embeddings=embeddings_sha1(embeddings), method=method,
        seed=int(seed), params=params,
    )  # fmt: skip


def cached_project(
    embeddings: np.ndarray,
    cache: DiskCache | None,
    method: str = "auto",
    seed: int = 0,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
) -> tuple[Projection, bool]:
    """:func:`project` through ``cache`` (None: no cache); returns ``(projection, cached)``.

    The key holds the method :func:`choose` resolves ``auto`` to, so installing umap-learn
    later gives a new map rather than the old PCA one.
    """
    x = _checked(embeddings)
    used, note = choose(x.shape[0], method)
    params = {"n_neighbors": n_neighbors, "min_dist": float(min_dist)} if used == "umap" else {}
    key = projection_key(x, used, seed, **params)
    if cache is not None:
        hit = cache.get(key)
        if hit is not None:
            points = np.asarray(hit["points"], dtype=np.float32)
            if points.shape != (x.shape[0], 2):
                raise ValueError(
                    f"cache entry {cache.path(key)} holds points of shape {points.shape} for "
                    f"{x.shape[0]} photos; delete it and it will be recomputed"
                )
            return Projection(points, used, note), True
    out = project(x, used, seed, n_neighbors=n_neighbors, min_dist=min_dist)
    if cache is not None:
        cache.put(key, {"points": out.points})
    return Projection(out.points, used, note), False
