"""Storage: the disk cache every computed array goes through, and the content hashes its keys
are made of.

- :mod:`~explain.storage.cache`: :class:`DiskCache` (``.npz`` entries under keys made with
  :func:`make_key`, written atomically, damaged entries deleted and recomputed);
- :mod:`~explain.storage.hashing`: :func:`content_hashes`, SHA-1 of file bytes remembered per
  file identity.

Embeddings, heatmaps and image hashes each keep a namespace of one cache folder.
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "cache": ("CacheError", "DiskCache", "make_key"),
        "hashing": ("content_hashes",),
    },
)
