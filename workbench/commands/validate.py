"""`workbench validate`: load a dataset and report every problem found."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.options import dataset_kwargs, links_option

FULL_HELP = (
    "--full (default) decodes every image, which finds truncated and corrupt files: measured "
    "0.5 ms per 256x128 photo of the sample (0.25 ms header-only), about 0.3 s per "
    "12-megapixel photo. --quick reads only the file headers and cannot see truncated files."
)


@click.command("validate")
@click.argument("data", type=click.Path(path_type=Path))
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder the manifest's paths are relative to (default: the manifest's folder).",
)
@click.option("--full/--quick", "full", default=True, help=FULL_HELP)
@links_option
def command(data: Path, root: Path | None, full: bool) -> None:
    """Load DATA (a dataset folder or a manifest) and report what is wrong with it: every path
    outside the root (every path column: image, masks, counterfactual; links included),
    missing, unreadable or truncated images, bad values, duplicate rows and spellings, and
    warnings. Exits with status 1 when there are errors."""
    from curation.dataset import load_dataset
    from curation.findings import DatasetError

    kwargs = dataset_kwargs()
    checked = (
        "every image decoded"
        if full
        else "file headers only: pixels were not decoded, so truncated or corrupt images were "
        "not checked (run without --quick to check them)"
    )
    try:
        ds = load_dataset(data, root=root, check="full" if full else "header", **kwargs)
    except DatasetError as exc:
        if not exc.findings:
            raise click.ClickException(str(exc)) from exc
        _print(exc.findings)
        errors = sum(f.level == "error" for f in exc.findings)
        raise click.ClickException(
            f"{errors} error(s) in {data} ({checked}); fix them, or skip those rows with "
            "--drop-bad on the command that loads the data"
        ) from exc
    click.echo(f"{ds.source}: {len(ds.table)} images")
    click.echo(ds.counts().to_string())
    _print(ds.findings)
    if not ds.findings:
        click.echo(f"no problems found ({checked})")
    else:
        click.echo(f"{len(ds.findings)} warning(s), no errors ({checked})")


def _print(findings) -> None:
    for f in findings:
        click.echo(f"{f.level} [{f.code}]: {f.message}", err=True)
