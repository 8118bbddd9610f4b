"""Heatmap methods, one per module, each registered with :func:`explain.heatmaps.catalog.register`.

The catalog (:mod:`explain.heatmaps.catalog`) imports every module of this package
(``pkgutil``; names starting with ``_`` are helpers, e.g. ``_cam``, the shared pytorch-grad-cam
driver), so adding a method is one new file here plus its test: the command line, the pages, the
checks and the batch precompute list it from the catalog.
"""
