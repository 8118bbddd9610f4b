"""`workbench shortcuts`: the posts a model matches through something other than the animal.

    workbench shortcuts --data DIR --checkpoints SERIES [--epoch N] --out posts.csv
        [--photos photos.csv] [--store URL] [--cache DIR] [--engine local|ray --workers 2]

Runs the artifact detectors (cached), then, with one checkpoint, the reliance of every photo of
the chosen splits on its candidate regions (cached per photo and region, so an interrupted run
resumes), and writes one row per post (:data:`explain.shortcuts.posts.POST_COLUMNS`) and,
with ``--photos``, the per-photo outlier scores (:mod:`explain.retrieval.outliers`).
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.numbers import THREADS
from workbench.commands.options import (
    cache_option,
    data_options,
    load_checkpoints,
    load_data,
    pick_checkpoint,
    progress_bar,
)

EPOCH = click.IntRange(0, 10**6)


def _write(df, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False)
    tmp.replace(path)


def _annotations(store: str | None, ds):
    if store is None:
        return None
    from curation.store import StoreError, TagStore

    if "://" not in store and not Path(store).is_file():
        raise click.BadParameter(
            f"no tag store at {store}; give an existing store file or URL (annotators create "
            "one with `workbench tags`), or leave --store out",
            param_hint="--store",
        )
    try:
        with TagStore(store, dataset=ds) as tags:
            return tags.current()
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("shortcuts")
@data_options
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    required=True,
    help="Checkpoint folder (model.pth.tar-N files).",
)
@click.option("--epoch", type=EPOCH, default=None, help="Checkpoint epoch [default: the last].")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="posts.csv: one row per post with its score and evidence.",
)
@click.option(
    "--photos",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the per-photo outlier scores (mixed posts) to this CSV.",
)
@click.option(
    "--regions",
    "regions_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the per-photo, per-region drops to this CSV.",
)
@click.option(
    "--store",
    default=None,
    help="Tag store (file or URL) whose annotators' regions join the candidates.",
)
@click.option(
    "--split",
    "splits",
    type=click.Choice(["train", "query", "gallery"]),
    multiple=True,
    help="Splits to score; repeat [default: train and gallery].",
)
@click.option(
    "--fill",
    "fill_method",
    type=click.Choice(["telea", "blur"]),
    default="telea",
    show_default=True,
    help="How a region is removed (inpainting or a blur).",
)
@click.option(
    "--controls",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Equal-area control placements per region (fixed seed).",
)
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=0, show_default=True)
@click.option(
    "--model-regions",
    "model_k",
    type=click.IntRange(0, 8),
    default=2,
    show_default=True,
    help="Grad-CAM regions per photo (0: none).",
)
@click.option("--layer", default=None, help="Grad-CAM layer [default: per architecture].")
@cache_option("Cache folder (detections, embeddings, maps, reliance; a run resumes from it).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: Ray actors fill the cache "
    "first (needs --cache on a folder every worker sees).",
)
@click.option("--address", default=None, help="Ray cluster to join [default: start locally].")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Ray actors (one CPU each).",
)
@click.option("--threads", type=THREADS, default=None, help="CPU threads [default: 2].")
@click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any].")
def command(data, manifest, root, checkpoints, epoch, out, photos, regions_out, store, splits,
            fill_method, controls, seed, model_k, layer, cache_dir, no_cache, engine, address,
            workers, threads, device) -> None:  # fmt: skip
    """Score every post for shortcuts: the share of its photos with one detected artifact
    (data), how much the model's match to the post-mates drops when that artifact is removed
    compared with equal-area patches elsewhere on the animal (reliance), and both combined.
    Reads photos and a checkpoint only (no ground truth)."""
    from curation.perception.runner import detect_dataset
    from explain.models.device import set_threads
    from explain.retrieval.outliers import photo_outliers
    from explain.shortcuts import ControlSettings, post_scores, scan
    from explain.storage.cache import DiskCache

    if engine == "ray" and no_cache:
        raise click.UsageError("--engine ray hands results over through the cache; drop "
                               "--no-cache")  # fmt: skip
    set_threads(threads)
    splits = tuple(splits) or ("train", "gallery")
    ds = load_data(data, manifest, root)
    loaded = pick_checkpoint(load_checkpoints(checkpoints, None, device), epoch)
    cache = None if no_cache else cache_dir
    images = ds.table.loc[ds.table["split"].isin(splits), "image"].tolist()
    if not images:
        raise click.ClickException(f"the dataset has no photos in {', '.join(splits)}")
    notes = _annotations(store, ds)  # before any long work: a bad store stops at once
    bar, progress = progress_bar("detecting", unit="photo")
    try:
        perception = None if cache is None else DiskCache(cache, "perception")
        det, _ = detect_dataset(ds, "pixel", images=images, progress=progress, cache=perception)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    settings = ControlSettings(n=controls, seed=seed)
    kw = {"annotations": notes, "splits": splits, "cache_dir": cache, "fill_method": fill_method,
          "controls": settings, "model_k": model_k, "cam_layer": layer}  # fmt: skip
    if engine == "ray":
        from explain.shortcuts.distributed import fill_cache

        bar, progress = progress_bar("reliance (ray)", unit="photo")
        try:
            fill_cache(loaded.path, ds, det, workers=workers, address=address,
                       progress=progress, **kw)  # fmt: skip
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            bar.close()
    bar, progress = progress_bar("reliance", unit="photo")
    try:
        regions, table, info = scan(loaded, ds, det, progress=progress, **kw)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    posts = post_scores(regions, table)
    _write(posts, out)
    click.echo(
        f"{info['photos']} photos, {len(posts)} posts ({loaded.label}): {info['computed']} "
        f"region(s) computed, {info['cached']} read from the cache; posts written to {out}"
    )
    if regions_out is not None:
        _write(regions, regions_out)
    if photos is not None:
        _write(photo_outliers(table, info["features"]), photos)
        click.echo(f"per-photo outlier scores written to {photos}")
    click.echo(f"\n{'post':>10} {'split':<8} {'score':>6} {'data':>6} {'reliance':>9}  cause")
    for r in posts.head(10).itertuples(index=False):
        click.echo(f"{r.post_id:>10} {r.split:<8} {r.score:>6.3f} {r.data_score:>6.3f} "
                   f"{r.reliance:>9.4f}  {r.cause}")  # fmt: skip
