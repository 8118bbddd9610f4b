"""Retrieval: embeddings of photos, the nearest gallery photos of each query, and how good the
ranking is.

- :mod:`~explain.retrieval.embeddings`: features of images under a checkpoint (disk-cached);
- :mod:`~explain.retrieval.index`: faiss search over L2-normalised features (cosine similarity);
- :mod:`~explain.retrieval.metrics`: torchreid's protocol (CMC, mAP, mINP) and the per-query
  table; :mod:`~explain.retrieval.series`: every checkpoint of a series evaluated;
  :mod:`~explain.retrieval.epochs`: ranks across epochs;
- :mod:`~explain.retrieval.confidence`: calibrated probability that a top-1 match is right;
- :mod:`~explain.retrieval.lookup`: an uploaded photo against the gallery's posts;
- :mod:`~explain.retrieval.duplicates`: near-duplicate photos and leaks between splits.
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "confidence": ("CalibrationError", "Confidence", "choose_threshold", "fit_confidence"),
        "duplicates": ("Duplicates", "Thresholds", "find_duplicates", "image_hashes"),
        "embeddings": ("Embeddings", "embed_dataset", "extract"),
        "epochs": ("cmc_frame", "found_but_not", "rank_table", "trajectory"),
        "index": ("build_index", "search", "similarity_matrix"),
        "lookup": ("embed_photos", "nearest_posts"),
        "metrics": (
            "RANKS",
            "Evaluation",
            "RankMetrics",
            "evaluate",
            "rank_metrics",
        ),
        "series": ("SeriesEvaluation", "evaluate_series"),
    },
)
