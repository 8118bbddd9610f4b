"""What a comparison of two checkpoint series found: the tables and grids that
:func:`explain.compare.series.compare_series` computes and :mod:`explain.compare.report` (and the
app's Compare page) show."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Comparison:
    """Everything the report (and the app's Compare page) shows. Long-format tables:

    ``metrics``          series, epoch, subset (``all``/``clean``), mAP, rank1, rank5, rank10,
                         mINP (in [0, 1]), num_query, num_valid
    ``metric_deltas``    epoch, subset, measure (the metric), baseline, curated, delta
                         (curated - baseline)
    ``artifact_mass``    series, method, epoch, artifact (a type, or ``any``), group
                         (``polluted``/``clean`` post), mass_mean (share of positive attribution
                         on the artifact, [0, 1]), enrichment_mean (mass / area), n
    ``artifact_deltas``  method, epoch, artifact, group, measure (mass_mean or
                         enrichment_mean), baseline, curated, delta
    ``counterfactual``   series, epoch, group (``polluted``/``clean``/``all``), drop_pair_mean,
                         drop_self_mean (cosine similarity units), n
    ``counterfactual_deltas`` epoch, group, measure, baseline, curated, delta
    ``grids``            method -> PNG path (rows = ``queries``, columns = ``columns``)
    ``per_query``        series, epoch, query, ap, rank1 (0/1), clean: the valid queries (for
                         the bootstrap intervals of :mod:`explain.compare.intervals`)
    """

    metrics: pd.DataFrame
    metric_deltas: pd.DataFrame
    artifact_mass: pd.DataFrame
    artifact_deltas: pd.DataFrame
    counterfactual: pd.DataFrame
    counterfactual_deltas: pd.DataFrame
    queries: list[str]
    columns: list[str]
    grids: dict[str, Path] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    per_query: pd.DataFrame | None = None
