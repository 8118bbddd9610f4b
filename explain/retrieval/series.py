"""A checkpoint series evaluated: the retrieval metrics of every checkpoint on one dataset, with
their per-query tables (what the Checkpoints page and ``workbench evaluate`` show)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from curation.dataset import Dataset
from explain.models.checkpoints import LoadedModel
from explain.models.series import load_series
from explain.retrieval.embeddings import embed_dataset
from explain.retrieval.metrics import RANKS, Evaluation, evaluate


@dataclass
class SeriesEvaluation:
    """Metrics of every checkpoint of a series.

    ``metrics``: one row per checkpoint in epoch order — ``label``, ``epoch``, ``path``,
    ``arch``, ``sha1``, ``rank1``, ``rank5``, ``rank10``, ``rank20``, ``mAP``, ``mINP``,
    ``num_query``, ``num_valid``, ``num_gallery``, ``rank1_file`` (the value stored in the
    checkpoint, NaN when absent), ``cached`` (embeddings came from the disk cache);
    ``per_query``: the per-query tables, aligned with ``metrics`` rows. With ``exclude`` given
    to :func:`evaluate_series`, ``metrics`` and ``per_query`` leave those pairs out (the
    headline) and ``metrics_with_leaks`` holds them scored with those pairs, as torchreid's
    protocol alone counts them (``label``, ``epoch``, the summary of :func:`evaluate`, and
    ``top1_by_copy``: queries whose top-1 was their own near-copy).
    """

    metrics: pd.DataFrame
    per_query: list[pd.DataFrame]
    cmc: list[np.ndarray]
    metrics_with_leaks: pd.DataFrame | None = None

    def for_epoch(self, epoch: int) -> pd.DataFrame:
        """The per-query table of the checkpoint of ``epoch``."""
        hits = np.flatnonzero(self.metrics["epoch"].to_numpy() == epoch)
        if not len(hits):
            raise KeyError(
                f"no checkpoint for epoch {epoch}; have {self.metrics['epoch'].tolist()}"
            )
        return self.per_query[int(hits[0])]


def evaluate_series(
    dataset: Dataset,
    folder_or_models: str | Path | Sequence[LoadedModel],
    *,
    cache_dir: Path | None,
    k: int = 10,
    max_rank: int = 20,
    flip: bool = False,
    arch: str | None = None,
    device: str | None = None,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    exclude: pd.DataFrame | None = None,
) -> SeriesEvaluation:
    """Evaluate every checkpoint of a series on ``dataset``'s query/gallery split.

    ``exclude``: query/gallery pairs left out of the headline metrics (see :func:`evaluate`);
    the metrics with them are kept in ``metrics_with_leaks``.

    ``folder_or_models``: a checkpoint folder (loaded with
    :func:`explain.models.series.load_series`) or a list of ``LoadedModel``. Embeddings are
    cached in ``cache_dir`` (None: no cache). ``progress(done, total)`` counts images embedded over
    all checkpoints.
    """
    query, gallery = dataset.split("query"), dataset.split("gallery")
    if query.empty or gallery.empty:
        raise ValueError(
            f"{dataset.source or dataset.root}: evaluation needs query and gallery images "
            f"(have {len(query)} query, {len(gallery)} gallery)"
        )
    if isinstance(folder_or_models, str | Path):
        models = load_series(folder_or_models, arch=arch, device=device)
    else:
        models = list(folder_or_models)
    n_images = len(query) + len(gallery)
    total = n_images * len(models)
    rows, tables, cmcs, leak_rows = [], [], [], []
    for i, loaded in enumerate(models):
        report = None
        if progress is not None:
            base = i * n_images

            def report(done: int, _total: int, base: int = base) -> None:
                progress(base + done, total)

        row, result, leaky = _evaluate_one(
            loaded, dataset, query, gallery, cache_dir, flip, threads, k, max_rank, report,
            exclude,
        )  # fmt: skip
        rows.append(row)
        tables.append(result.per_query)
        cmcs.append(result.cmc)
        if leaky is not None:
            leak_rows.append(leaky)
    metrics = pd.DataFrame(rows)
    metrics["epoch"] = metrics["epoch"].astype("Int64")
    with_leaks = None
    if exclude is not None:
        with_leaks = pd.DataFrame(leak_rows)
        with_leaks["epoch"] = with_leaks["epoch"].astype("Int64")
    return SeriesEvaluation(metrics, tables, cmcs, with_leaks)


def _evaluate_one(
    loaded, dataset, query, gallery, cache_dir, flip, threads, k, max_rank, progress, exclude
) -> tuple[dict, Evaluation, dict | None]:
    """One checkpoint: embed the query and gallery photos (cached), rank, and its metrics row
    (without the ``exclude`` pairs), plus the row scored with them when ``exclude`` is given."""
    emb = embed_dataset(
        loaded,
        dataset,
        cache_dir=cache_dir,
        flip=flip,
        progress=progress,
        threads=threads,
        splits=("query", "gallery"),
    )
    q_feats = emb.rows(query["image"].tolist())
    g_feats = emb.rows(gallery["image"].tolist())
    opts = {"k": k, "max_rank": max_rank, "threads": threads}
    result = evaluate(q_feats, g_feats, query, gallery, exclude=exclude, **opts)
    leaky_row = None
    if exclude is not None:
        from explain.retrieval.leakage import top1_by_copy

        leaky = evaluate(q_feats, g_feats, query, gallery, **opts)
        by_copy = len(top1_by_copy(leaky.per_query, exclude))
        leaky_row = {"label": loaded.label, "epoch": loaded.epoch, **leaky.summary,
                     "top1_by_copy": by_copy}  # fmt: skip
    stored = loaded.meta.get("rank1")
    row = {
        "label": loaded.label,
        "epoch": loaded.epoch,
        "path": str(loaded.path),
        "arch": loaded.arch,
        "sha1": loaded.sha1,
        **{f"rank{r}": result.summary.get(f"rank{r}", np.nan) for r in RANKS},
        "mAP": result.summary["mAP"],
        "mINP": result.summary["mINP"],
        "num_query": result.summary["num_query"],
        "num_valid": result.summary["num_valid"],
        "num_gallery": result.summary["num_gallery"],
        "rank1_file": float(stored) if isinstance(stored, int | float) else np.nan,
        "cached": emb.cached,
    }
    return row, result, leaky_row
