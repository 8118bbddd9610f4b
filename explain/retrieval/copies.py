"""Near-copy evidence that survives crops, resizes, re-encodes, overlays and colour shifts.

pHash and thumbnails compare whole pictures, so a repost cropped to the animal's head, or the
same photo segmented again with a slightly different mask, moves them as far as another photo
of the same animal does. Here two photos are matched by their local structure instead:

1. SIFT keypoints on the animal (pixels brighter than ``DARK``, the photo's longer side scaled
   to :data:`SIDE` pixels);
2. Lowe's ratio test, then a similarity transform (shift, scale 0.4-2.5, rotation up to 20°)
   fitted with RANSAC; ``inliers`` counts the distinct keypoints it explains;
   (the same picture keeps dozens to hundreds; another photo of the same animal, even a frame
   of the same burst, keeps fewer: the animal moved).

Thresholds are chosen on reposts generated from real photos (``benchmarks/bench_reposts.py``,
the README gives the numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

SIDE = 512  # pixels of the longer side features are computed at
DARK = 24  # 0..255, as in explain.retrieval.duplicates: darker pixels are segmented-away background
MAX_FEATURES = 500
RATIO = 0.75
MIN_SCALE, MAX_SCALE, MAX_ROTATION = 0.4, 2.5, 20.0
VERSION = 1
REPROJ = 6.0  # pixels at the working size


@dataclass
class LocalFeatures:
    """Keypoints ``points`` ``(K, 2)`` float32 (x, y at the working size) and their SIFT
    ``descriptors`` ``(K, 128)`` float32."""

    points: np.ndarray
    descriptors: np.ndarray


@dataclass(frozen=True)
class CopyEvidence:
    """``inliers``: distinct keypoints the fitted transform explains (0 when none fits);
    ``scale``: size of the second photo's content relative to the first's (NaN: no fit)."""

    inliers: int
    scale: float


NO_EVIDENCE = CopyEvidence(0, float("nan"))


def local_features(rgb: np.ndarray) -> LocalFeatures:
    """SIFT features of an ``(H, W, 3)`` uint8 photo, on the animal only."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    f = SIDE / max(h, w)
    size = (max(8, round(w * f)), max(8, round(h * f)))
    interp = cv2.INTER_CUBIC if f > 1 else cv2.INTER_AREA
    small = cv2.resize(rgb, size, interpolation=interp)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    mask = small.max(axis=2) > DARK
    if mask.mean() < 0.01:  # nothing dark: not segmented, use the whole photo
        mask = np.ones_like(mask)
    eroded = cv2.erode(mask.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    sift = cv2.SIFT_create(nfeatures=MAX_FEATURES)
    kps, des = sift.detectAndCompute(grey, eroded)
    if des is None or not kps:
        return LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    return LocalFeatures(np.float32([k.pt for k in kps]), des.astype(np.float32))


def _distinct(points: np.ndarray) -> int:
    return len(np.unique(np.round(points / 4.0), axis=0))


def compare(a: LocalFeatures, b: LocalFeatures) -> CopyEvidence:
    """How much ``b`` looks like a transformed copy of ``a`` (see the module docstring)."""
    if len(a.descriptors) < 5 or len(b.descriptors) < 5:
        return NO_EVIDENCE
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(a.descriptors, b.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    if len(good) < 5:
        return NO_EVIDENCE
    src = a.points[[g.queryIdx for g in good]]
    dst = b.points[[g.trainIdx for g in good]]
    m, inl = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=REPROJ, maxIters=2000, confidence=0.99,
        refineIters=10,
    )  # fmt: skip
    if m is None:
        return NO_EVIDENCE
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    rotation = abs(float(np.degrees(np.arctan2(m[1, 0], m[0, 0]))))
    if not MIN_SCALE <= scale <= MAX_SCALE or rotation > MAX_ROTATION:
        return NO_EVIDENCE
    keep = inl.ravel().astype(bool)
    return CopyEvidence(min(_distinct(src[keep]), _distinct(dst[keep])), scale)


def compare_pairs(
    features: list[LocalFeatures],
    ii: np.ndarray,
    jj: np.ndarray,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """``(P,)`` int64 inliers of the pairs ``(ii[k], jj[k])`` (indices into ``features``)."""
    inliers = np.zeros(len(ii), dtype=np.int64)
    for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist(), strict=True)):
        inliers[k] = compare(features[i], features[j]).inliers
        if progress and (k + 1 == len(ii) or (k + 1) % 256 == 0):
            progress(k + 1, len(ii))
    return inliers


def candidate_pairs(
    posts: np.ndarray, colour: np.ndarray, phash_pairs: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(ii, jj)``, ``ii < jj``, worth a local comparison: every pair inside a post, each
    photo's ``k`` nearest photos by colour histogram (``colour``: ``(N, D)`` unit-norm), and
    the pHash candidates. Sorted, unique."""
    n = len(posts)
    chunks_i, chunks_j = [phash_pairs[0]], [phash_pairs[1]]
    codes = np.unique(posts, return_inverse=True)[1]
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    for members in np.split(order, bounds):
        if len(members) > 1:
            a, b = np.triu_indices(len(members), 1)
            chunks_i.append(members[a])
            chunks_j.append(members[b])
    kk = min(k, n - 1)
    for start in range(0, n, 512):
        sims = colour[start : start + 512] @ colour.T
        rows = np.arange(start, min(start + 512, n))
        sims[rows - start, rows] = -np.inf
        if kk > 0:
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            chunks_i.append(np.repeat(rows, kk))
            chunks_j.append(top.ravel())
    ii = np.concatenate(chunks_i).astype(np.int64)
    jj = np.concatenate(chunks_j).astype(np.int64)
    lo, hi = np.minimum(ii, jj), np.maximum(ii, jj)
    keep = lo != hi
    pairs = np.unique(np.stack([lo[keep], hi[keep]], axis=1), axis=0)
    if not len(pairs):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return pairs[:, 0], pairs[:, 1]


def local_evidence(
    dataset,
    posts: np.ndarray,
    phash_pairs: tuple[np.ndarray, np.ndarray],
    *,
    k: int = 10,
    cache_dir=None,
    progress: Callable[[int, int], None] | None = None,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ii, jj, inliers)`` for the :func:`candidate_pairs` of ``dataset.table`` (rows aligned
    with ``posts``); cached by the images' content hashes, ``k`` and the pHash pairs.
    ``keep(ii, jj) -> (P,) bool``: only these candidate pairs are compared."""
    import hashlib

    from curation.images import load_rgb
    from explain.retrieval.colour import colour_histograms
    from explain.storage.cache import DiskCache, make_key
    from explain.storage.hashing import content_hashes

    images = dataset.table["image"].tolist()
    paths = [dataset.path(i) for i in images]
    digest = hashlib.sha1(
        np.ascontiguousarray(phash_pairs[0]).tobytes() + b"|" + phash_pairs[1].tobytes()
    ).hexdigest()
    cache = DiskCache(cache_dir, "copies") if cache_dir is not None else None
    key = make_key("copies", images=content_hashes(paths), k=k, phash=digest, version=VERSION,
                   restricted=keep is not None)  # fmt: skip
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        return hit["ii"], hit["jj"], hit["inliers"]
    colour = colour_histograms(dataset, cache_dir=cache_dir)
    ii, jj = candidate_pairs(posts, colour, phash_pairs, k)
    if keep is not None:
        mask = keep(ii, jj)
        ii, jj = ii[mask], jj[mask]
    needed = np.unique(np.concatenate([ii, jj])) if len(ii) else np.zeros(0, np.int64)
    feats: list[LocalFeatures | None] = [None] * len(images)
    for n, idx in enumerate(needed.tolist()):
        feats[idx] = local_features(np.asarray(load_rgb(paths[idx])))
        if progress and (n + 1 == len(needed) or (n + 1) % 32 == 0):
            progress(n + 1, len(needed))
    inliers = compare_pairs(feats, ii, jj)  # type: ignore[arg-type]
    if cache is not None:
        cache.put(key, {"ii": ii, "jj": jj, "inliers": inliers})
    return ii, jj, inliers
