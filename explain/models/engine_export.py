"""ONNX exports of models, kept on disk so that the next process does not export again.

Exporting OSNet x0.25 to ONNX takes about 1.1 s per checkpoint. :func:`onnx_bytes` keeps the
exported bytes in the project's disk cache (:class:`explain.storage.cache.DiskCache`, namespace
``onnx-exports``: written to a temporary file, fsynced and renamed, so readers never see half an
entry) under a key made of the SHA-1 of the weights and buffers, the architecture (class, tensor
names, shapes and dtypes), the input shape, the opset and the torch and onnx versions. Each entry
also holds the SHA-1 of its bytes: an entry whose bytes do not match (or that does not open) is
deleted and the model exported again. The engine still checks every session built from these
bytes against the eager model, cached or not.

The folder: :func:`set_export_cache` when it was called (None turns the disk cache off), else
``WORKBENCH_CACHE``, else ``<project>/.workbench/cache`` — the defaults of the embedding and
heatmap caches. A cache that cannot be written is said (a RuntimeWarning and the engine's note),
not fatal: the export in memory is used.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from explain.storage.cache import CacheError, DiskCache, make_key

NAMESPACE = "onnx-exports"
OPSET = 17
FORMAT_VERSION = 1  # bump when the export's options change
PROJECT = Path(__file__).resolve().parents[2]
_UNSET = object()
_folder: object = _UNSET
_lock = threading.Lock()
EXPORTS = {"count": 0}  # exports this process ran (the tests count them)


def set_export_cache(folder: str | Path | None) -> None:
    """Keep exports under ``folder`` (None: no disk cache, every process exports again)."""
    global _folder
    _folder = None if folder is None else Path(folder)


def export_cache_dir() -> Path | None:
    """The folder exports are kept in (see the module's docstring), or None when turned off."""
    if _folder is not _UNSET:
        return _folder  # type: ignore[return-value]
    env = os.environ.get("WORKBENCH_CACHE", "").strip()
    return Path(env) if env else PROJECT / ".workbench" / "cache"


def weights_sha1(model: nn.Module) -> str:
    """Hex SHA-1 of every parameter's and buffer's name, dtype, shape and bytes."""
    h = hashlib.sha1()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        data = t.detach().to("cpu").contiguous()
        if data.dtype == torch.bfloat16:
            data = data.view(torch.int16)
        h.update(memoryview(data.numpy()).cast("B"))
    return h.hexdigest()


def export_key(model: nn.Module, example: torch.Tensor) -> str:
    """The cache key of ``model``'s export for inputs shaped like ``example`` ``(1, C, H, W)``."""
    import onnx

    cls = type(model)
    arch = [(k, tuple(v.shape), str(v.dtype)) for k, v in model.state_dict().items()]
    return make_key(
        NAMESPACE,
        version=FORMAT_VERSION,
        cls=f"{cls.__module__}.{cls.__qualname__}",
        arch=arch,
        weights=weights_sha1(model),
        input=list(example.shape[1:]),
        opset=OPSET,
        torch=torch.__version__,
        onnx=onnx.__version__,
    )


def export(model: nn.Module, example: torch.Tensor) -> bytes:
    """``model`` (eval mode) exported to ONNX bytes: input ``images`` ``(batch, C, H, W)``,
    output ``features`` ``(batch, D)``, any batch size. The model is left channels-last."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
        torch.onnx.export(
            model.to(memory_format=torch.contiguous_format),
            example.detach().cpu().contiguous(),
            buf,
            input_names=["images"],
            output_names=["features"],
            dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    model.to(memory_format=torch.channels_last)
    with _lock:
        EXPORTS["count"] += 1
    return buf.getvalue()


class Export:
    """ONNX bytes of one model and where they came from (``cached``), with :meth:`reject` to
    delete a cached entry whose bytes failed to load or to pass the engine's check."""

    def __init__(self, data: bytes, cached: bool, cache: DiskCache | None, key: str, note: str):
        self.data = data
        self.cached = cached
        self.note = note
        self._cache = cache
        self._key = key

    def reject(self, reason: str) -> None:
        if self.cached and self._cache is not None:
            self._cache.drop(self._key, reason)


def onnx_bytes(model: nn.Module, example: torch.Tensor, *, use_cache: bool = True) -> Export:
    """The ONNX export of ``model`` for inputs like ``example`` ``(1, C, H, W)``: read from the
    export cache when an intact entry exists, else exported and stored (see the module)."""
    folder = export_cache_dir() if use_cache else None
    if folder is None:
        return Export(export(model, example), False, None, "", "")
    key = export_key(model, example)
    try:
        cache = DiskCache(folder, NAMESPACE)
        entry = cache.get(key)
    except CacheError as exc:
        note = f"export cache not read ({exc})"
        warnings.warn(note, RuntimeWarning, stacklevel=3)
        return Export(export(model, example), False, None, key, note)
    if entry is not None:
        try:
            data = entry["onnx"].tobytes()
            intact = hashlib.sha1(data).hexdigest() == str(entry["sha1"])
        except (KeyError, ValueError) as exc:
            intact, data = False, b""
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "its bytes do not match their SHA-1"
        if intact:
            return Export(data, True, cache, key, "")
        cache.drop(key, reason)
    data = export(model, example)
    note = ""
    try:
        cache.put(key, {"onnx": np.frombuffer(data, np.uint8),
                        "sha1": np.array(hashlib.sha1(data).hexdigest())})  # fmt: skip
    except CacheError as exc:
        note = f"export cache not written ({exc})"
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return Export(data, False, cache, key, note)
