"""Options every command that loads a dataset shares: links out of the root, dropping bad rows.

``--allow-external-links``  follow symbolic links that point outside the dataset root (refused by
                            default; a linked export needs it, as its files are links to the
                            source dataset)
``--drop-bad``              skip the rows the loader finds bad instead of stopping; every image
                            is then decoded once at load, so truncated files are skipped too

The options store their values on the click context (no extra parameter for the command
functions); :func:`dataset_kwargs` turns them into :func:`curation.dataset.load_dataset`
arguments.
"""

from __future__ import annotations

from collections.abc import Callable

import click

LINKS_HELP = (
    "Follow symbolic links that point outside the dataset root (refused by default; a dataset "
    "exported with links needs this)."
)
DROP_HELP = (
    "Skip bad rows (missing, unreadable or truncated images, bad values, paths outside the "
    "root) with a warning instead of stopping; decodes every image once at load."
)


def _remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    ctx.meta[f"workbench.{param.name}"] = value
    return value


def links_option(fn: Callable) -> Callable:
    """``--allow-external-links`` (see the module docstring)."""
    return click.option(
        "--allow-external-links",
        is_flag=True,
        expose_value=False,
        callback=_remember,
        help=LINKS_HELP,
    )(fn)


def dataset_options(fn: Callable) -> Callable:
    """``--allow-external-links`` and ``--drop-bad`` (see the module docstring)."""
    fn = click.option(
        "--drop-bad", is_flag=True, expose_value=False, callback=_remember, help=DROP_HELP
    )(fn)
    return links_option(fn)


def dataset_kwargs() -> dict:
    """``load_dataset`` keyword arguments for the options given to the current command."""
    meta = click.get_current_context().meta
    drop = bool(meta.get("workbench.drop_bad", False))
    out: dict = {"follow_links": bool(meta.get("workbench.allow_external_links", False))}
    if drop:
        out.update(errors="drop", check="full")
    return out
