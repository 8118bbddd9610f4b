"""`workbench evaluate`: retrieval metrics (mAP, CMC, mINP) for every checkpoint of a series.

The options and helpers it shares with the other commands are in :mod:`workbench.commands.options`.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.numbers import TOP_K
from workbench.commands.options import (
    DataChoice,
    SeriesChoice,
    data_group,
    evaluate_checkpoints,
    fmt,
    series_group,
)


def format_table(metrics) -> str:
    """The per-epoch metrics table as text (one line per checkpoint)."""
    cols = ["rank1", "rank5", "rank10", "rank20", "mAP", "mINP"]
    head = f"{'checkpoint':<16}" + "".join(f"{c:>8}" for c in cols)
    head += f"{'valid/q':>10}{'rank1 file':>12}"
    lines = [head]
    for _, r in metrics.iterrows():
        line = f"{r['label']:<16}" + "".join(f"{fmt(r[c]):>8}" for c in cols)
        line += f"{r['num_valid']:>5}/{r['num_query']:<4}{fmt(r['rank1_file']):>12}"
        lines.append(line)
    return "\n".join(lines)


@click.command("evaluate")
@data_group
@series_group
@click.option(
    "-k",
    "--top-k",
    "k",
    type=TOP_K,
    default=10,
    show_default=True,
    help="Gallery items kept per query (found-within-k).",
)
@click.option(
    "--per-query",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the per-query tables of all checkpoints to this CSV.",
)
@click.option(
    "--leaks/--no-leaks",
    default=True,
    show_default=True,
    help="Find query/gallery near-copies (workbench duplicates' defaults) and leave them out "
    "of the headline metrics.",
)
@click.option(
    "--baselines/--no-baselines",
    default=True,
    show_default=True,
    help="Also score the colour-histogram and perceptual-hash matchers.",
)
def command(
    source: DataChoice,
    series: SeriesChoice,
    k: int,
    per_query: Path | None,
    leaks: bool,
    baselines: bool,
) -> None:
    """Rank-1/5/10/20, mAP and mINP of every checkpoint (torchreid's protocol: gallery photos with
    the query's post and camid are ignored; queries whose post has no other gallery photo are
    counted as not in gallery and left out of the averages)."""
    from explain.models.device import set_threads
    from workbench.commands.yardstick import baseline_rows, find_query_leaks, print_report

    set_threads(series.threads)
    ds, models = source.load(), series.load()
    cache = series.cache
    found = find_query_leaks(ds, cache) if leaks else None
    result = evaluate_checkpoints(
        ds, models, cache_dir=cache, k=k, flip=series.flip, threads=series.threads, exclude=found
    )
    base = baseline_rows(ds, cache, k, found) if baselines else None
    print_report(result, found, base, format_table)
    if per_query is not None:
        _write_per_query(result, per_query)
        click.echo(f"per-query tables written to {per_query}")


def _write_per_query(result, path: Path) -> None:
    import pandas as pd

    frames = []
    for (_, row), table in zip(result.metrics.iterrows(), result.per_query, strict=True):
        t = table.copy()
        t.insert(0, "checkpoint", row["label"])
        t.insert(1, "epoch", row["epoch"])
        for col in (
            "top_images",
            "top_post_ids",
            "top_similarities",
            "top_distances",
            "top_correct",
        ):
            t[col] = t[col].map(lambda v: ";".join(map(str, v)))
        frames.append(t)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)
    tmp.replace(path)
