"""Compare: a baseline checkpoint series against a retrain on curated data.

- :mod:`~explain.compare.series`: :func:`compare_series` measures both series (metrics on all and
  on clean queries, artifact mass, counterfactual drops) with epochs matched by number;
- :mod:`~explain.compare.comparison`: :class:`Comparison`, the tables it returns;
- :mod:`~explain.compare.grid`: one heatmap grid per method (rows = queries, columns = epochs ×
  series);
- :mod:`~explain.compare.report`: the comparison as files (HTML with plotly charts, CSV tables,
  the grid PNGs), written atomically.

Data moves one way: series -> comparison -> report (the report never computes).
"""

from explain._exports import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "comparison": ("Comparison",),
        "grid": ("heatmap_grid",),
        "report": ("ReportError", "figures", "write_report"),
        "series": ("compare_series", "deltas", "pick_queries", "subset_metrics"),
    },
)
