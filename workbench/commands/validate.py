"""`workbench validate`: load a dataset and report every problem found."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("validate")
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder the manifest's paths are relative to (default: the manifest's folder).",
)
@click.option("--full", is_flag=True, help="Decode every image (slower; finds truncated files).")
def command(data: Path, root: Path | None, full: bool) -> None:
    """Load DATA (a dataset folder or a manifest) and report what is wrong with it."""
    from curation.dataset import load_dataset
    from curation.findings import DatasetError

    try:
        ds = load_dataset(data, root=root, check="full" if full else "header")
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{ds.source}: {len(ds.table)} images")
    click.echo(ds.counts().to_string())
    for f in ds.warnings:
        click.echo(f"warning [{f.code}]: {f.message}", err=True)
    if not ds.warnings:
        click.echo("no problems found")
