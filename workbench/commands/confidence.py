"""`workbench confidence`: calibrated match confidence and the threshold for a target precision."""

from __future__ import annotations

import math
from pathlib import Path

import click

from workbench.commands.numbers import EPOCH, FiniteFloat
from workbench.commands.options import (
    DataChoice,
    SeriesChoice,
    data_group,
    evaluate_checkpoints,
    pick_checkpoint,
    series_group,
)


def _gallery_against_itself(ds, model, cache_dir, flip):
    from explain.heatmaps.explorer import gallery_self_queries

    try:
        return gallery_self_queries(ds, model, cache_dir=cache_dir, flip=flip)
    except ValueError as exc:
        raise click.ClickException(f"gallery against itself: {exc}") from exc


@click.command("confidence")
@data_group
@series_group
@click.option("--epoch", type=EPOCH, default=None, help="Checkpoint epoch [default: the last].")
@click.option(
    "--method",
    type=click.Choice(["logistic", "isotonic"]),
    default="logistic",
    show_default=True,
    help="Calibrator of (top-1 similarity, margin to the next identity).",
)
@click.option(
    "--target-precision",
    type=FiniteFloat(0.0, 1.0, min_open=True),
    default=0.9,
    show_default=True,
    help="Precision the accepted matches must reach.",
)
@click.option(
    "--bins", type=click.IntRange(1, 1000), default=10, show_default=True, help="Reliability bins."
)
@click.option(
    "--gallery-queries",
    is_flag=True,
    help="Also use every gallery photo as a query against the rest of the gallery (more "
    "matches to calibrate on when the query split is small).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the per-query confidences to this CSV.",
)
def command(
    source: DataChoice,
    series: SeriesChoice,
    epoch: int | None,
    method: str,
    target_precision: float,
    bins: int,
    gallery_queries: bool,
    out: Path | None,
) -> None:
    """Fit a match-confidence calibrator on half of the queries (split by post), score the other
    half, print the reliability curve and the threshold that reaches --target-precision."""
    import pandas as pd

    from explain.models.device import set_threads
    from explain.retrieval.confidence import CalibrationError, choose_threshold, fit_confidence

    set_threads(series.threads)
    ds = source.load()
    model = pick_checkpoint(series.load(), epoch)
    result = evaluate_checkpoints(
        ds, [model], cache_dir=series.cache, k=10, flip=series.flip, threads=series.threads
    )
    per_query = result.per_query[0]
    if gallery_queries:
        per_query = pd.concat(
            [per_query, _gallery_against_itself(ds, model, series.cache, series.flip)],
            ignore_index=True,
        )
    try:
        conf = fit_confidence(per_query, method=method, bins=bins)
        choice = choose_threshold(conf, target_precision)
    except (CalibrationError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    t = conf.table
    click.echo(
        f"{model.label} ({model.arch}): {len(t)} queries, top-1 right for {int(t['correct'].sum())}"
        f", {int(t['in_gallery'].sum())} with a true match in the gallery; {method} calibration "
        "fitted on one half, scored on the other"
    )
    click.echo(f"{'confidence':>12} {'queries':>8} {'mean conf':>10} {'accuracy':>9}")
    for _, r in conf.reliability.iterrows():
        acc = "-" if math.isnan(r["accuracy"]) else f"{r['accuracy']:.3f}"
        mean = "-" if math.isnan(r["mean_confidence"]) else f"{r['mean_confidence']:.3f}"
        click.echo(
            f"{r['bin_lo']:5.2f}-{r['bin_hi']:<5.2f} {int(r['count']):>8} {mean:>10} {acc:>9}"
        )
    click.echo(f"expected calibration error {conf.ece:.3f}, Brier score {conf.brier:.3f}")
    if choice.threshold is None:
        click.echo(
            f"no threshold reaches precision {target_precision:.2f}; the best is "
            f"{choice.precision:.3f} (recall {choice.recall:.3f}, {choice.accepted} matches)"
        )
    else:
        click.echo(
            f"precision ≥ {target_precision:.2f}: accept matches with confidence ≥ "
            f"{choice.threshold:.3f} -> precision {choice.precision:.3f}, "
            f"recall {choice.recall:.3f} ({choice.accepted} of {len(t)} queries accepted)"
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        t.to_csv(tmp, index=False)
        tmp.replace(out)
        click.echo(f"per-query confidences written to {out}")
