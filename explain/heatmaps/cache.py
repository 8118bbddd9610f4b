"""Heatmaps on disk, keyed by content hashes, shared by the app, the CLI and batch jobs.

A key (:func:`heatmap_key`) is made of the checkpoint's SHA-1, the image file's SHA-1
(:func:`curation.images.file_sha1`), the method name, its canonical parameters
(:func:`explain.heatmaps.catalog.canonical_params`: defaults filled in, execution-only options
such as ``batch_size`` left out, ``layer=None`` resolved to the default layer), the target reference
(``"self"``, ``"pair:<reference image sha1>"``) and the input size. Entries live in an
:class:`explain.storage.cache.DiskCache` (namespace ``heatmaps``; written to a temporary file and
renamed, so concurrent readers and writers are safe): ``map`` as float16, ``raw`` as float16 scaled
by its largest magnitude (``raw_scale``), and the method, parameters, score and diagnostics as JSON.

A batch job (e.g. Ray workers) writes the same entries with :func:`heatmap_key` and
:meth:`HeatmapCache.put`; the app then reads them with :meth:`HeatmapCache.get_or_compute`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from explain.heatmaps.base import Heatmap
from explain.heatmaps.catalog import canonical_params, get_method, jsonable, split_params
from explain.heatmaps.targets import as_target
from explain.storage.cache import DiskCache, make_key

NAMESPACE = "heatmaps"
DEFAULT_CACHE_DIR = Path(".workbench") / "cache"
FORMAT_VERSION = 2  # bump when a method's output or the key's parameters change


def heatmap_key(
    checkpoint_sha1: str,
    image_sha1: str,
    method: str,
    params: dict[str, Any],
    target_ref: str,
    size: tuple[int, int],
    *,
    model: nn.Module | None = None,
    default_layer: str | None = None,
) -> str:
    """The cache key of one heatmap (hex SHA-1). ``size`` is the input ``(H, W)``; ``params``
    are made canonical first (:func:`explain.heatmaps.catalog.canonical_params`, which resolves
    ``layer=None`` with ``model`` or ``default_layer``), so equal maps share one key."""
    for name, value in (("checkpoint_sha1", checkpoint_sha1), ("image_sha1", image_sha1)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty hex string, not {value!r}")
    return make_key(
        NAMESPACE,
        version=FORMAT_VERSION,
        checkpoint=checkpoint_sha1,
        image=image_sha1,
        method=method,
        params=canonical_params(method, params, model=model, default_layer=default_layer),
        target=str(target_ref),
        size=[int(size[0]), int(size[1])],
    )


def encode(heatmap: Heatmap) -> dict[str, np.ndarray]:
    """A heatmap as the arrays of one cache entry (float16 maps)."""
    raw = np.asarray(heatmap.raw, dtype=np.float32)
    scale = float(np.abs(raw).max()) if raw.size else 0.0
    meta = {
        "method": heatmap.method,
        "params": jsonable(heatmap.params),
        "score": heatmap.score,
        "info": {k: v for k, v in heatmap.info.items() if _is_plain(v)},
    }
    return {
        "map": np.asarray(heatmap.map, dtype=np.float16),
        "raw": (raw / scale if scale > 0 else raw).astype(np.float16),
        "raw_scale": np.array(scale if scale > 0 else 1.0, dtype=np.float32),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }


def _is_plain(value: Any) -> bool:
    try:
        jsonable(value)
    except ValueError:
        return False
    return True


def decode(arrays: dict[str, np.ndarray]) -> Heatmap:
    """The heatmap stored in a cache entry (float32 again; precision of float16)."""
    try:
        meta = json.loads(str(arrays["meta"]))
        raw = arrays["raw"].astype(np.float32) * float(arrays["raw_scale"])
        return Heatmap(
            map=np.clip(arrays["map"].astype(np.float32), 0.0, 1.0),
            raw=raw,
            method=meta["method"],
            params=meta["params"],
            score=meta["score"],
            info={**meta["info"], "cached": True},
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(
            f"a heatmap cache entry is malformed ({exc}): arrays that are not a heatmap"
        ) from exc


class HeatmapCache:
    """Heatmaps under ``root/heatmaps/`` (default root ``.workbench/cache``)."""

    def __init__(self, root: str | Path = DEFAULT_CACHE_DIR, namespace: str = NAMESPACE):
        self.disk = DiskCache(root, namespace)

    @property
    def root(self) -> Path:
        return self.disk.root

    def get(self, key: str) -> Heatmap | None:
        """The heatmap stored under ``key``; None when absent or damaged (an entry that is no
        readable archive is deleted and logged once, see :class:`explain.storage.cache.DiskCache`).

        An archive that reads but is no heatmap entry (other arrays, written by other code)
        raises ValueError naming the file, which is left in place.
        """
        arrays = self.disk.get(key)
        if arrays is None:
            return None
        try:
            return decode(arrays)
        except ValueError as exc:
            raise ValueError(
                f"{self.disk.path(key)}: {exc}; delete that file to recompute it"
            ) from exc

    def put(self, key: str, heatmap: Heatmap) -> Path:
        return self.disk.put(key, encode(heatmap))

    def __contains__(self, key: str) -> bool:
        return key in self.disk

    def key_for(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: object,
        method: str,
        *,
        checkpoint_sha1: str,
        image_sha1: str,
        target_ref: str | None = None,
        **params,
    ) -> tuple[str, dict, dict]:
        """``(key, canonical parameters, execution-only parameters)`` of the heatmap
        :meth:`get_or_compute` would read or store for these arguments."""
        target = as_target(target)
        size = (int(x.shape[-2]), int(x.shape[-1]))
        decisive, execution = split_params(method, params)
        canonical = canonical_params(method, decisive, model=model)
        key = heatmap_key(
            checkpoint_sha1, image_sha1, method, canonical, target_ref or target.key(), size
        )
        return key, canonical, execution

    def get_or_compute(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: object,
        method: str,
        *,
        checkpoint_sha1: str,
        image_sha1: str,
        target_ref: str | None = None,
        **params,
    ) -> Heatmap:
        """The cached heatmap, or compute it with ``method`` and store it.

        ``target_ref`` defaults to ``target.key()``; pass the reference image's SHA-1
        (``"pair:<sha1>"``) for pair targets so the key does not depend on float bits.
        """
        target = as_target(target)
        key, canonical, execution = self.key_for(
            model, x, target, method, checkpoint_sha1=checkpoint_sha1, image_sha1=image_sha1,
            target_ref=target_ref, **params,
        )  # fmt: skip
        hit = self.get(key)
        if hit is not None:
            return hit
        heatmap = get_method(method)(model, x, target, **canonical, **execution)
        self.put(key, heatmap)
        return heatmap


def get_or_compute(
    cache: HeatmapCache | None,
    model: nn.Module,
    x: torch.Tensor,
    target: object,
    method: str,
    *,
    checkpoint_sha1: str | None = None,
    image_sha1: str | None = None,
    target_ref: str | None = None,
    **params,
) -> Heatmap:
    """:meth:`HeatmapCache.get_or_compute`, or a plain computation when ``cache`` is None.

    With a cache, both hashes are required (ValueError otherwise).
    """
    if cache is None:
        return get_method(method)(model, x, as_target(target), **params)
    if not checkpoint_sha1 or not image_sha1:
        raise ValueError(
            "caching a heatmap needs checkpoint_sha1 and image_sha1 (LoadedModel.sha1, "
            "curation.images.file_sha1(path)); pass cache=None to compute without caching"
        )
    return cache.get_or_compute(
        model,
        x,
        target,
        method,
        checkpoint_sha1=checkpoint_sha1,
        image_sha1=image_sha1,
        target_ref=target_ref,
        **params,
    )
