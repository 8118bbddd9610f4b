"""Duplicates and reposts: the same photo twice in a post, in two posts, or in train and test.

Evidence per pair of images, computed on the animal's bounding box (pixels brighter than
:data:`DARK`; the whole image when nothing is dark):

- ``hash_distance``: Hamming distance of the perceptual hashes (pHash, 64 bits; re-encoding or
  resizing moves it by a few bits). On segmented photos pHash alone is not enough: it sees grey
  levels only, and different animals in the same pose collide (measured on the sample data: 31
  pairs of different posts within 4 bits when hashing the whole black-background image, a few
  even within 2 bits);
- ``pixel_difference``: mean absolute difference of 16×8 RGB thumbnails, 0..255 (colour; the
  same photo re-posted smaller and re-encoded stays below ~5, different animals rarely do);
- ``similarity``: cosine similarity of the embeddings, when given;
- ``inliers``: local keypoints of one photo that a single shift-scale-rotation maps onto the
  other (:mod:`~explain.retrieval.copies`): crops, resizes, overlays, colour shifts and a new
  segmentation keep the same picture's keypoints in place, another photo of the animal does not.
  Computed for the pairs inside a post, each photo's nearest photos by colour, and the pHash
  candidates.

A pair is ``exact`` when the decoded pixels are identical (same photo, whatever the file format),
``near`` when all of ``hash_distance``, ``pixel_difference`` (and ``similarity``) pass the
thresholds of the pair's scope, or when ``inliers`` reaches ``copy_inliers`` (any scope).
Scopes: ``intra-post`` (same post; photos of one ad are legitimately alike — a burst of
shots — so its thresholds are strict), ``inter-post`` (two posts:
a repost of the same ad under another id) and ``train-test`` (one image in train, the other in
query/gallery: leakage); the last two share the inter-post thresholds.

Output for curation — :attr:`Duplicates.groups`, one row per image in a group, columns:

``group``             int, group number (connected images of one scope; an image can be in one
                      group per scope)
``image``             manifest path; ``post_id``, ``split`` from the manifest
``kind``              ``exact`` if the image has a pixel-identical partner in the group, else
                      ``near``
``scope``             ``intra-post``, ``inter-post`` or ``train-test`` (the group's)
``hash_distance``     smallest pHash distance to another image of the group (bits, 0..64)
``similarity``        cosine similarity of that closest pair (NaN without embeddings)
``pixel_difference``  thumbnail difference of that closest pair (0..255)
``inliers``           most local keypoints matched with another image of the group (0: none)

A query and a gallery photo in one group are *leakage* (:func:`explain.retrieval.leakage.
query_gallery_leaks`): the query would be matched by its own copy. Rows are sorted by group,
then image. :attr:`Duplicates.pairs` holds the flagged pairs themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from curation.dataset import Dataset
from curation.images import load_rgb
from explain.storage.cache import DiskCache, make_key
from explain.storage.hashing import content_hashes

SCOPES = ("intra-post", "inter-post", "train-test")
GROUP_COLUMNS = (
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
)
PAIR_COLUMNS = [
    "image_a",
    "image_b",
    "post_a",
    "post_b",
    "split_a",
    "split_b",
    "scope",
    "kind",
    "hash_distance",
    "similarity",
    "pixel_difference",
    "inliers",
]
HASH_VERSION = 2
DARK = 24  # 0..255: darker pixels count as (segmented-away) background
THUMB = (8, 16)  # thumbnail (width, height) for the colour check
COPY_INLIERS = 25  # chosen on generated reposts of real photos (benchmarks/bench_reposts.py)


@dataclass(frozen=True)
class Thresholds:
    """Near-duplicate thresholds per scope: pHash distance (bits, at most), thumbnail difference
    (0..255, at most), cosine similarity (at least; used with embeddings only). Strict inside a
    post, looser across posts (reposts are re-encoded, resized, re-cropped)."""

    intra_hash: int = 6
    intra_similarity: float = 0.97
    inter_hash: int = 10
    inter_similarity: float = 0.92
    intra_pixels: float = 3.0
    inter_pixels: float = 6.0
    copy_inliers: int = COPY_INLIERS  # local keypoints matched (at least); 0: no local check
    colour_neighbours: int = 10  # photos per photo compared locally besides its post-mates

    def for_scope(self, scope: str) -> tuple[int, float, float]:
        """``(max hash distance, max pixel difference, min similarity)``."""
        if scope == "intra-post":
            return self.intra_hash, self.intra_pixels, self.intra_similarity
        return self.inter_hash, self.inter_pixels, self.inter_similarity


@dataclass
class ImageHashes:
    """In ``images`` order: ``phash`` ``(N,)`` uint64 perceptual hashes, ``thumbs`` ``(N, 16, 8,
    3)`` uint8 thumbnails, ``pixels`` ``(N,)`` SHA-1 of the decoded RGB pixels (bytes)."""

    images: list[str]
    phash: np.ndarray
    thumbs: np.ndarray
    pixels: np.ndarray


def content_box(img: Image.Image) -> Image.Image:
    """The bounding box of the pixels brighter than :data:`DARK` (rows/columns where more than
    1% are), i.e. the animal of a segmented photo; the image itself when nothing is dark."""
    bright = np.asarray(img).max(axis=2) > DARK
    rows = np.flatnonzero(bright.mean(axis=1) > 0.01)
    cols = np.flatnonzero(bright.mean(axis=0) > 0.01)
    if len(rows) < 2 or len(cols) < 2:
        return img
    return img.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def _hash_one(path: Path) -> tuple[int, np.ndarray, bytes]:
    img = load_rgb(path)
    box = content_box(img)
    bits = imagehash.phash(box, hash_size=8).hash.ravel()
    value = int.from_bytes(np.packbits(bits).tobytes(), "big")
    thumb = np.asarray(box.resize(THUMB, Image.BILINEAR), dtype=np.uint8)
    digest = hashlib.sha1(f"{img.size}".encode() + img.tobytes()).hexdigest().encode()
    return value, thumb, digest


def image_hashes(
    dataset: Dataset,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImageHashes:
    """pHash and pixel digest of every image of ``dataset.table`` (cached by content hashes)."""
    images = dataset.table["image"].tolist()
    paths = [dataset.path(i) for i in images]
    cache = DiskCache(cache_dir, "phash") if cache_dir is not None else None
    key = make_key("phash", images=content_hashes(paths), version=HASH_VERSION)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        if progress:
            progress(len(images), len(images))
        return ImageHashes(images, hit["phash"], hit["thumbs"], hit["pixels"])
    phash = np.zeros(len(images), dtype=np.uint64)
    thumbs = np.zeros((len(images), THUMB[1], THUMB[0], 3), dtype=np.uint8)
    pixels = np.zeros(len(images), dtype="S40")
    for i, path in enumerate(paths):
        phash[i], thumbs[i], pixels[i] = _hash_one(path)
        if progress and (i + 1 == len(paths) or (i + 1) % 32 == 0):
            progress(i + 1, len(paths))
    if cache is not None:
        cache.put(key, {"phash": phash, "thumbs": thumbs, "pixels": pixels})
    return ImageHashes(images, phash, thumbs, pixels)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distances between uint64 hashes (broadcasting), 0..64."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


@dataclass
class Duplicates:
    """``pairs``: flagged pairs (``image_a`` < ``image_b``, ``post_a``, ``post_b``, ``split_a``,
    ``split_b``, ``scope``, ``kind``, ``hash_distance``, ``similarity``, ``pixel_difference``);
    ``groups``: see the module docstring."""

    pairs: pd.DataFrame
    groups: pd.DataFrame
    thresholds: Thresholds = field(default_factory=Thresholds)

    def summary(self) -> pd.DataFrame:
        """Groups and images per scope and kind."""
        g = self.groups
        if g.empty:
            return pd.DataFrame(columns=["scope", "kind", "groups", "images"])
        out = g.groupby(["scope", "kind"]).agg(
            groups=("group", "nunique"), images=("image", "size")
        )
        return out.reset_index()


def _scope(split_a: str, split_b: str, post_a: str, post_b: str) -> str:
    if split_a != split_b and "train" in (split_a, split_b):
        return "train-test"
    return "intra-post" if post_a == post_b else "inter-post"


def _candidate_pairs(phash: np.ndarray, max_hash: int, chunk: int = 1024):
    """``(i, j, distance)`` arrays of pairs i < j with pHash distance <= max_hash."""
    out_i, out_j, out_d = [], [], []
    n = len(phash)
    for start in range(0, n, chunk):
        block = hamming(phash[start : start + chunk, None], phash[None, :])
        ii, jj = np.nonzero(block <= max_hash)
        ii = ii + start
        keep = jj > ii
        out_i.append(ii[keep])
        out_j.append(jj[keep])
        out_d.append(block[ii[keep] - start, jj[keep]])
    if not out_i:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def _thumb_difference(thumbs: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> np.ndarray:
    """Mean absolute thumbnail difference (0..255) of the pairs ``(ii[k], jj[k])``."""
    out = np.empty(len(ii))
    for start in range(0, len(ii), 4096):
        a = thumbs[ii[start : start + 4096]].astype(np.float32)
        b = thumbs[jj[start : start + 4096]].astype(np.float32)
        out[start : start + 4096] = np.abs(a - b).mean(axis=(1, 2, 3))
    return out


def find_duplicates(
    dataset: Dataset,
    *,
    features: np.ndarray | None = None,
    thresholds: Thresholds = Thresholds(),
    cache_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    between: tuple[str, str] | None = None,
) -> Duplicates:
    """Exact and near duplicates among all images of ``dataset.table``.

    ``features``: ``(N, D)`` unit-norm embeddings aligned with ``dataset.table`` rows (e.g.
    ``embed_dataset(...).features``), or None to decide on pHash and thumbnails alone.
    ``between``: two splits, e.g. ``("query", "gallery")``: only pairs with one image in each
    are compared (keypoints are then computed only for the images of such candidate pairs).
    """
    table = dataset.table
    if features is not None and len(features) != len(table):
        raise ValueError(
            f"{len(features)} feature rows for {len(table)} images; embed every split "
            "(embed_dataset without splits)"
        )
    hashes = image_hashes(dataset, cache_dir=cache_dir, progress=progress)
    max_hash = max(thresholds.intra_hash, thresholds.inter_hash)
    ii, jj, dist = _candidate_pairs(hashes.phash, max_hash)
    images = table["image"].to_numpy()
    posts = table["post_id"].astype(str).to_numpy()
    splits = table["split"].to_numpy()
    if between is not None:
        keep = _crosses(splits, ii, jj, between)
        ii, jj, dist = ii[keep], jj[keep], dist[keep]
    inliers = np.zeros(len(ii), dtype=np.int64)
    if thresholds.copy_inliers > 0:
        from explain.retrieval.copies import local_evidence

        ii, jj, inliers = local_evidence(
            dataset, posts, (ii, jj), k=thresholds.colour_neighbours, cache_dir=cache_dir,
            progress=progress, keep=None if between is None else (
                lambda a, b: _crosses(splits, a, b, between)),
        )  # fmt: skip
        dist = hamming(hashes.phash[ii], hashes.phash[jj])
    pixel_diff = _thumb_difference(hashes.thumbs, ii, jj)
    rows = []
    for i, j, d, px, inl in zip(
        ii.tolist(), jj.tolist(), dist.tolist(), pixel_diff.tolist(), inliers.tolist(),
        strict=True,
    ):  # fmt: skip
        scope = _scope(splits[i], splits[j], posts[i], posts[j])
        max_d, max_px, min_sim = thresholds.for_scope(scope)
        exact = hashes.pixels[i] == hashes.pixels[j]
        sim = float(features[i] @ features[j]) if features is not None else float("nan")
        similar = features is None or sim >= min_sim
        local = thresholds.copy_inliers > 0 and inl >= thresholds.copy_inliers
        if not exact and not (d <= max_d and px <= max_px and similar) and not local:
            continue
        if images[i] > images[j]:
            i, j = j, i
        rows.append(
            {
                "image_a": images[i],
                "image_b": images[j],
                "post_a": posts[i],
                "post_b": posts[j],
                "split_a": splits[i],
                "split_b": splits[j],
                "scope": scope,
                "kind": "exact" if exact else "near",
                "hash_distance": int(d),
                "similarity": sim,
                "pixel_difference": px,
                "inliers": int(inl),
            }
        )
    pairs = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    pairs = pairs.sort_values(["scope", "image_a", "image_b"], ignore_index=True)
    return Duplicates(pairs, _groups(pairs, table), thresholds)


def _crosses(splits: np.ndarray, ii: np.ndarray, jj: np.ndarray, between) -> np.ndarray:
    """``(P,)`` bool: pair k has one image in each split of ``between``."""
    a, b = splits[ii], splits[jj]
    return ((a == between[0]) & (b == between[1])) | ((a == between[1]) & (b == between[0]))


def _components(edges) -> list[list[str]]:
    """Connected components of an undirected graph given as ``(a, b)`` edges, each sorted, in
    order of their first member."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[str, list[str]] = {}
    for node in sorted(parent):
        members.setdefault(find(node), []).append(node)
    return [members[root] for root in sorted(members)]


def _groups(pairs: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Connected components per scope, one row per (group, image) with its best evidence."""
    info = table.set_index("image")[["post_id", "split"]]
    out = []
    group = 0
    for scope in SCOPES:
        sub = pairs[pairs["scope"] == scope]
        for component in _components(zip(sub["image_a"], sub["image_b"], strict=True)):
            for img in component:
                mine = sub[(sub["image_a"] == img) | (sub["image_b"] == img)]
                best = mine.sort_values(
                    ["hash_distance", "similarity"], ascending=[True, False]
                ).iloc[0]
                out.append(
                    {
                        "group": group,
                        "image": img,
                        "post_id": info.at[img, "post_id"],
                        "split": info.at[img, "split"],
                        "kind": "exact" if (mine["kind"] == "exact").any() else "near",
                        "scope": scope,
                        "hash_distance": int(mine["hash_distance"].min()),
                        "similarity": float(best["similarity"]),
                        "pixel_difference": float(best["pixel_difference"]),
                        "inliers": int(mine["inliers"].max()),
                    }
                )
            group += 1
    return pd.DataFrame(out, columns=list(GROUP_COLUMNS))
