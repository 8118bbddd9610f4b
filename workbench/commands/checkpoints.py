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
    are listed with the reason, warnings (a file name that gives another epoch than the file,
    copies of one file) follow the table on stderr; the exit code is 1 when a file cannot be
    used or two different files claim one epoch."""
    from explain.models.checkpoints import CheckpointError, describe, discover
    from explain.models.limits import LimitError
    from explain.models.series import epoch_conflicts

    try:
        files = discover(folder, unusable=True)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    if not files:
        raise click.ClickException(
            f"{folder}: no checkpoint files (model.pth.tar-N, *.pth, *.pt) found"
        )
    rows: list[tuple[Path, dict | str]] = []
    for f in files:
        try:
            rows.append((f.path, describe(f.path, arch=arch)))
        except LimitError as exc:
            raise click.ClickException(str(exc)) from exc
        except CheckpointError as exc:
            rows.append((f.path, str(exc)))
    usable = [(p, i["epoch"], i["sha1"]) for p, i in rows if isinstance(i, dict)]
    copies, notes, errors = epoch_conflicts(usable)
    click.echo(f"{'epoch':>5}  {'file':<24} {'arch':<16} {'ids':>5} {'rank-1':>7} {'MB':>7}  sha1")
    for path, info in rows:
        if isinstance(info, str):
            click.echo(f"{'-':>5}  {path.name:<24} unusable: {info}")
            continue
        rank1 = "-" if math.isnan(info["rank1"]) else f"{info['rank1']:.3f}"
        epoch = "-" if info["epoch"] is None else str(info["epoch"])
        ids = "-" if info["num_classes"] is None else str(info["num_classes"])
        click.echo(
            f"{epoch:>5}  {info['file']:<24} {info['arch']:<16} {ids:>5} {rank1:>7} "
            f"{info['size_mb']:>7.1f}  {info['sha1'][:12]}"
            + ("  +optimizer" if info["optimizer"] else "")
            + (f"  copy of {copies[path].name}" if path in copies else "")
        )
    warnings = [w for _, i in rows if isinstance(i, dict) for w in i["warnings"]]
    for message in [*warnings, *notes]:
        click.echo(f"warning: {message}", err=True)
    for message in errors:
        click.echo(f"error: {message}", err=True)
    if errors or any(isinstance(i, str) for _, i in rows):
        raise SystemExit(1)
