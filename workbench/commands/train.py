"""`workbench train`: train a torchreid model and save a checkpoint series."""

from __future__ import annotations

from pathlib import Path

import click

from explain.models.limits import MAX_BATCH, MAX_SEED, MAX_THREADS, MAX_TRAIN_EPOCHS
from workbench.commands.numbers import FiniteFloat
from workbench.commands.options import dataset_kwargs, dataset_options


def _epochs(value: str) -> tuple[int, ...]:
    try:
        epochs = tuple(sorted({int(v) for v in value.split(",") if v.strip()}))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r}: give epochs as a comma list, e.g. 3,12,30,60"
        ) from exc
    bad = [e for e in epochs if not 1 <= e <= MAX_TRAIN_EPOCHS]
    if bad or not epochs:
        raise click.BadParameter(
            f"{value!r}: give epochs in 1..{MAX_TRAIN_EPOCHS} as a comma list, e.g. 3,12,30,60"
        )
    return epochs


@click.command("train")
@dataset_options
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=None,
    help="Dataset folder (torchreid layout or with manifest.csv).",
)
@click.option(
    "--manifest",
    type=click.Path(path_type=Path),
    default=None,
    help="A manifest .csv/.parquet (e.g. a cleaned export) instead of --data.",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder the manifest's paths are relative to (default: the manifest's folder).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder for model.pth.tar-N, recipe.json and train_log.csv.",
)
@click.option(
    "--recipe",
    "recipe_file",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="recipe.json of an earlier series: retrain with the same recipe.",
)
@click.option("--arch", default=None, help="torchreid model name [default: osnet_x0_25].")
@click.option(
    "--epochs", type=click.IntRange(1, MAX_TRAIN_EPOCHS), default=None, help="[default: 60]"
)
@click.option(
    "--save-at",
    default=None,
    callback=lambda _ctx, _param, value: None if value is None else _epochs(value),
    help="Epochs to checkpoint, e.g. 3,12,30,60.",
)
@click.option("--batch-size", type=click.IntRange(2, MAX_BATCH), default=None, help="[default: 32]")
@click.option("--lr", type=FiniteFloat(1e-8, 10.0), default=None, help="[default: 0.003]")
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=None, help="[default: 0]")
@click.option(
    "--threads",
    type=click.IntRange(1, MAX_THREADS),
    default=None,
    help="CPU threads [default: min(2, cores)].",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... [default: GPU when present].")
@click.option("--keep-optimizer", is_flag=True, help="Also store optimizer state (larger files).")
@click.option("--overwrite", is_flag=True, help="Replace checkpoints already in --out.")
def command(
    data,
    manifest,
    root,
    out_dir,
    recipe_file,
    arch,
    epochs,
    save_at,
    batch_size,
    lr,
    seed,
    threads,
    device,
    keep_optimizer,
    overwrite,
) -> None:
    """Train a torchreid model (triplet + softmax, pretrained=False) on the train split."""
    from tqdm import tqdm

    from curation.dataset import load_dataset
    from curation.findings import DatasetError
    from workbench.recipe import Recipe, TrainingError, read_recipe
    from workbench.train import train

    if (data is None) == (manifest is None):
        raise click.UsageError("give exactly one of --data DIR or --manifest FILE")
    base, based_on = Recipe(), None
    if recipe_file is not None:
        try:
            base, based_on = read_recipe(recipe_file)
        except TrainingError as exc:
            raise click.ClickException(str(exc)) from exc
    overrides = {
        k: v
        for k, v in {
            "arch": arch,
            "epochs": epochs,
            "batch_size": batch_size,
            "lr": lr,
            "seed": seed,
        }.items()
        if v is not None
    }
    if save_at is not None:
        overrides["save_at"] = save_at
    elif epochs is not None:
        overrides["save_at"] = tuple(e for e in base.save_at if e <= epochs) or (epochs,)
    recipe = Recipe(
        **{
            **base.to_dict(),
            **overrides,
            "save_at": tuple(overrides.get("save_at", base.save_at)),
            "augment": tuple(base.augment),
        }
    )
    try:
        recipe.validate()
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        ds = load_dataset(data or manifest, root=root, **dataset_kwargs())
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    for f in ds.warnings:
        click.echo(f"warning [{f.code}]: {f.message}", err=True)

    if based_on is not None and overrides:
        changed = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
        click.echo(f"recipe of {recipe_file} with {changed}: not comparable one to one", err=True)
    click.echo(
        f"training {recipe.arch} at {recipe.height}x{recipe.width} on "
        f"{len(ds.split('train'))} train images for {recipe.epochs} epochs (seed {recipe.seed})",
        err=True,
    )
    bar = tqdm(total=recipe.epochs, desc="training", unit="epoch")

    def progress(ev) -> None:
        if ev.kind == "batch":
            bar.set_postfix(loss=f"{ev.values['loss']:.3f}", step=f"{ev.step}/{ev.steps}")
        elif ev.kind == "epoch":
            bar.update(1)
            v = ev.values
            line = (
                f"epoch {ev.epoch:3d}/{ev.epochs}  loss softmax {v['loss_softmax']:.3f} triplet "
                f"{v['loss_triplet']:.3f}  acc {v['accuracy']:.3f}  {v['seconds']:.1f}s"
            )
            if "rank1" in v:
                line += f"  rank-1 {v['rank1']:.3f}  mAP {v['mAP']:.3f}"
            bar.write(line)
        elif ev.kind == "checkpoint":
            bar.write(f"saved {ev.values['path']}")

    try:
        result = train(
            ds,
            out_dir,
            recipe,
            threads=threads,
            device=device,
            progress=progress,
            keep_optimizer=keep_optimizer,
            overwrite=overwrite,
            based_on=based_on,
        )
    except TrainingError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    click.echo(
        f"trained {recipe.arch} for {recipe.epochs} epochs in {result.seconds / 60:.1f} min; "
        f"{len(result.checkpoints)} checkpoint(s) in {out_dir}"
    )
