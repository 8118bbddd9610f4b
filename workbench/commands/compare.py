"""`workbench compare`: a baseline series against a retrain on curated data.

    workbench compare sample_data/series/baseline sample_data/series/curated \\
        --data sample_data/pets --out compare_report --methods gradcam --queries 8

Prints the metric, artifact-mass and counterfactual deltas and writes an HTML report (with its
CSV tables and heatmap grids) to ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.numbers import THREADS
from workbench.commands.options import cache_option, data_options, load_checkpoints, load_data


@click.command("compare")
@click.argument("baseline_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.argument("curated_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@data_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("compare_report"),
    show_default=True,
    help="Report folder (created, or replaced when it holds an earlier report).",
)
@click.option(
    "--methods", default="gradcam", show_default=True, help="Comma list of heatmap methods."
)
@click.option(
    "--queries",
    "n_queries",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Queries in the heatmap grids (half with artifacts, half without).",
)
@click.option(
    "--limit",
    type=click.IntRange(0, 100_000),
    default=120,
    show_default=True,
    help="At most this many images with artifacts for the attribution tables (0: all).",
)
@cache_option("Heatmap and embedding cache folder.")
@click.option("--threads", type=THREADS, default=None, help="CPU threads [default: 2].")
@click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any].")
@click.option(
    "--store",
    default=None,
    help="Tag store (SQLite file or URL): on data without ground truth, clean queries are the "
    "reviewed ones with no artifact tag, and artifact mass is measured on the drawn regions.",
)
def command(
    baseline_dir,
    curated_dir,
    data,
    manifest,
    root,
    out_dir,
    methods,
    n_queries,
    limit,
    cache_dir,
    threads,
    device,
    store,
) -> None:
    """Metric deltas per epoch (all and clean queries), artifact mass per artifact type and the
    counterfactual similarity drop before/after, heatmap grids of the same queries."""
    from explain.compare.report import ReportError, check_out, write_report
    from explain.compare.series import compare_series
    from explain.heatmaps.cache import HeatmapCache
    from explain.models.device import set_threads
    from workbench.commands.explain import _methods
    from workbench.commands.options import print_table, progress_bar

    names = _methods(methods)
    try:
        check_out(out_dir)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    set_threads(threads)
    ds = load_data(data, manifest, root)
    tags = None
    if store is not None:
        from curation.store import StoreError, TagStore

        try:
            with TagStore(store, dataset=ds) as ts:
                tags = ts.current()
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    baseline = load_checkpoints(baseline_dir, None, device)
    curated = load_checkpoints(curated_dir, None, device)
    bars: dict[str, tuple] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = progress_bar(stage, unit="step")
        bars[stage][1](done, total)

    try:
        cmp = compare_series(
            ds, baseline, curated, methods=names, n_queries=n_queries,
            limit=limit or None, cache=HeatmapCache(cache_dir), progress=progress, tags=tags,
        )  # fmt: skip
        report = write_report(cmp, out_dir)
    except (ValueError, ReportError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for bar, _ in bars.values():
            bar.close()
    diff = cmp.meta.get("recipe_differences") or {}
    click.echo(f"recipes: {diff or 'the same'}; train images "
               f"{cmp.meta['train_images']}")  # fmt: skip
    click.echo(f"clean queries: {cmp.meta.get('clean_queries', 0)} (from "
               f"{cmp.meta.get('clean_from', 'none')})")  # fmt: skip
    cols = ["epoch", "subset", "measure", "baseline", "curated", "delta"]
    print_table("Retrieval (curated - baseline)", cmp.metric_deltas, cols)
    mass = cmp.artifact_deltas
    print_table(
        "Artifact mass (share of positive attribution on the artifact) and enrichment (mass / "
        "area), by artifact type",
        mass, ["method", "epoch", "artifact", "group", "measure", "baseline", "curated", "delta"],
    )  # fmt: skip
    print_table(
        "Counterfactual similarity drop (artifact removed)",
        cmp.counterfactual_deltas, ["epoch", "group", "measure", "baseline", "curated", "delta"],
    )  # fmt: skip
    click.echo(f"\nwrote {report}")
