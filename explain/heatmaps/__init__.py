"""Heatmaps: where in a photo the model looks when it matches, per checkpoint, cached.

- :mod:`~explain.heatmaps.base`: the contract ``(model, image tensor, target) -> Heatmap``
  (``(H, W)`` float32 in [0, 1]), the registry and the guards every method runs under;
- :mod:`~explain.heatmaps.targets`: explicit embedding targets (self-similarity, pair
  similarity) -- an embedding model has no class to explain;
- :mod:`~explain.heatmaps.methods`: one module per method (Grad-CAM family, activation map,
  occlusion, RandomCAM), found by the catalog; a new method is one new file there;
- :mod:`~explain.heatmaps.catalog`: what the registry, the command line, the pages, the checks
  and the batch precompute know about each method: names, parameters and defaults, which
  options only affect execution, and the canonical parameters a cache key is made of;
- :mod:`~explain.heatmaps.layers`: target layers per architecture (the fast forwards of
  perturbation methods run through :mod:`explain.models.engine`);
- :mod:`~explain.heatmaps.cache`: maps on disk keyed by content hashes;
  :mod:`~explain.heatmaps.batch`: fill that cache ahead of time (locally or with Ray);
- :mod:`~explain.heatmaps.series`: one image across a checkpoint series, change scores;
  :mod:`~explain.heatmaps.scores`: attribution mass on the animal and on artifact regions;
  :mod:`~explain.heatmaps.explorer`: what a page asks of a photo and a series;
- :mod:`~explain.heatmaps.render`: the one overlay renderer (a map over the photo with a named
  colormap and opacity, its colour bar), used by the app, the command line and the report.

``compute("gradcam", model, x, SelfSimilarity())``.
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "base": ("Heatmap", "HeatmapContractError"),
        "cache": ("HeatmapCache", "get_or_compute", "heatmap_key"),
        "catalog": (
            "MethodSpec",
            "available",
            "canonical_params",
            "compute",
            "get_method",
            "method_params",
            "names",
            "reference_method",
            "register",
            "spec",
            "specs",
        ),
        "series": ("SeriesMaps", "change_score", "series_maps", "series_pair_maps"),
        "targets": ("PairSimilarity", "SelfSimilarity", "as_target"),
    },
)
