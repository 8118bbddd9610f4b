"""`workbench checkpoints`: list a checkpoint series and what each file holds."""

from __future__ import annotations

import math
from pathlib import Path

import click


@click.command("checkpoints")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--arch", default=None, help="torchreid model name [default: from the files].")
def command(folder: Path, arch: str | None) -> None:
    """List the checkpoints in FOLDER (or FOLDER/model, FOLDER/*/model) in epoch order: epoch,
    architecture, rank-1 stored in the file, size and content hash. Files that cannot be used
    are listed with the reason; the exit code is 1 when there is any."""
    from explain.checkpoints import CheckpointError, describe, discover

    try:
        files = discover(folder)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    if not files:
        raise click.ClickException(
            f"{folder}: no checkpoint files (model.pth.tar-N, *.pth, *.pt) found"
        )
    header = f"{'epoch':>5}  {'file':<24} {'arch':<16} {'ids':>5} {'rank-1':>7} {'MB':>7}  sha1"
    click.echo(header)
    failed = 0
    for f in files:
        try:
            info = describe(f.path, arch=arch)
        except CheckpointError as exc:
            failed += 1
            click.echo(f"{'-':>5}  {f.path.name:<24} unusable: {exc}")
            continue
        rank1 = "-" if math.isnan(info["rank1"]) else f"{info['rank1']:.3f}"
        epoch = "-" if info["epoch"] is None else str(info["epoch"])
        ids = "-" if info["num_classes"] is None else str(info["num_classes"])
        click.echo(
            f"{epoch:>5}  {info['file']:<24} {info['arch']:<16} {ids:>5} {rank1:>7} "
            f"{info['size_mb']:>7.1f}  {info['sha1'][:12]}"
            + ("  +optimizer" if info["optimizer"] else "")
        )
    if failed:
        raise SystemExit(1)
