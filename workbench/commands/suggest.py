"""`workbench suggest`: the suggested bucket of every query, as the Triage page shows it."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.numbers import EPOCH, TOP_K
from workbench.commands.options import (
    cache_option,
    data_options,
    evaluate_checkpoints,
    load_checkpoints,
    load_data,
    progress_bar,
)


@click.command("suggest")
@data_options
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    required=True,
    help="Checkpoint folder (model.pth.tar-N files, or torchreid's log/<run>/).",
)
@click.option("--epoch", type=EPOCH, default=None, help="Checkpoint epoch [default: the last].")
@click.option("-k", "--top-k", "k", type=TOP_K, default=5, show_default=True,
              help="Results the team looks at: missed = true match not within them.")  # fmt: skip
@click.option("--method", default="gradcam", show_default=True, help="Heatmap method.")
@click.option("--store", default=None, help="Tag store: use annotators' regions and show "
              "their decisions next to the suggestions.")  # fmt: skip
@cache_option("Embedding and heatmap cache folder.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Also write the table to this CSV file.")  # fmt: skip
def command(data, manifest, root, checkpoints, epoch, k, method, store, cache_dir, csv_path):
    """Suggest worked / missed / spurious / no-match-in-gallery for every query: retrieval rank
    at the checkpoint plus the share of the query's heatmap (its similarity to the top-1 match)
    on the animal and on artifact regions (ground-truth masks, annotators' regions)."""
    from curation.store import StoreError, TagStore
    from curation.suggest import review, suggest
    from explain.heatmaps.cache import HeatmapCache
    from explain.heatmaps.explorer import attribution_outcomes
    from workbench.commands.options import pick_checkpoint

    ds = load_data(data, manifest, root)
    member = pick_checkpoint(load_checkpoints(checkpoints, None, None), epoch)
    ev = evaluate_checkpoints(ds, [member], cache_dir=cache_dir, k=max(k, 10), flip=False,
                              threads=None)  # fmt: skip
    drawn, state = {}, None
    if store is not None:
        try:
            with TagStore(store, dataset=ds) as ts:
                state = ts.current()
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
        drawn = {i: r for i, r in zip(state["image"], state["regions"], strict=True) if r}
    bar, progress = progress_bar("heatmaps", unit="query")
    try:
        found = attribution_outcomes(
            ds, member, ev.per_query[0], method=method, annotator_regions=drawn,
            cache=HeatmapCache(cache_dir), progress=progress,
        )  # fmt: skip
        table = suggest(found, k=k)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    if state is not None:
        table = review(table, state)
    counts = table["bucket"].value_counts()
    click.echo(f"{member.label}, top {k}: " + ", ".join(f"{b} {n}" for b, n in counts.items()))
    for rec in table.to_dict("records"):
        extra = f"  [{rec['status']}: {rec['decided']}]" if "status" in rec else ""
        click.echo(f"{rec['image']:<28} {rec['bucket']:<20} {rec['reason']}{extra}")
    if csv_path is not None:
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(csv_path)
        click.echo(f"wrote {csv_path}")
