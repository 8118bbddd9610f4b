"""The disk cache: content-hash keys, atomic writes, clear errors for damaged entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explain.storage.cache import DiskCache, make_key


def test_key_depends_on_every_part_and_not_on_order():
    a = make_key("maps", ckpt="abc", image="def", params={"window": 16, "stride": 8})
    b = make_key("maps", image="def", params={"stride": 8, "window": 16}, ckpt="abc")
    assert a == b and len(a) == 40
    assert a != make_key("maps", ckpt="abc", image="def", params={"window": 16, "stride": 4})
    assert a != make_key("embeddings", ckpt="abc", image="def", params={"window": 16, "stride": 8})


def test_roundtrip_and_miss(tmp_path: Path):
    cache = DiskCache(tmp_path, "maps")
    key = make_key("maps", x=1)
    assert cache.get(key) is None and key not in cache
    arr = np.arange(12, dtype=np.float16).reshape(3, 4)
    cache.put(key, {"map": arr, "raw": arr.astype(np.float32) * 2})
    got = cache.get(key)
    assert got["map"].dtype == np.float16 and np.array_equal(got["map"], arr)
    assert np.array_equal(got["raw"], arr.astype(np.float32) * 2)
    assert key in cache and cache.keys() == [key]
    assert not list(cache.dir.rglob(".tmp-*"))


def test_damaged_entry_is_deleted_logged_once_and_recomputed(tmp_path: Path, caplog):
    cache = DiskCache(tmp_path, "maps")
    key = make_key("maps", x=2)
    cache.put(key, {"map": np.zeros(3)})
    cache.path(key).write_bytes(b"not an npz")
    with caplog.at_level("WARNING", logger="explain.storage.cache"):
        assert cache.get(key) is None  # a miss: the caller recomputes
        assert cache.get(key) is None and key not in cache
    assert not cache.path(key).exists() and cache.dropped == [cache.path(key)]
    damaged = [r for r in caplog.records if "was damaged" in r.getMessage()]
    assert len(damaged) == 1 and str(cache.path(key)) in damaged[0].getMessage()
    cache.put(key, {"map": np.ones(3)})
    assert np.array_equal(cache.get(key)["map"], np.ones(3))


def test_failed_write_leaves_no_entry(tmp_path: Path, monkeypatch):
    cache = DiskCache(tmp_path, "maps")
    key = make_key("maps", x=3)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, {"map": np.zeros(3)})
    assert key not in cache and not list(cache.dir.rglob("*.npz"))


def test_bad_namespace():
    with pytest.raises(ValueError, match="plain folder name"):
        DiskCache("/tmp", "../evil")
