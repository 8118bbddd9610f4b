"""Options every command that loads a dataset shares: links out of the root, dropping bad rows.

``--allow-external-links``  follow symbolic links that point outside the dataset root (refused by
                            default; a linked export needs it, as its files are links to the
                            source dataset)
``--drop-bad``              skip the rows the loader finds bad instead of stopping; every image
                            is then decoded once at load, so truncated files are skipped too

``--name-pattern REGEX``    how file names give the post and photo (named groups ``post``,
                            ``photo``, optional ``group``; also ``WORKBENCH_NAME_PATTERN``)
``--post-from-folder``      ``SPLIT/POST/photo.jpg``: the subfolder is the post (also
                            ``WORKBENCH_POST_FROM=folder``)

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
    """``--allow-external-links`` and the naming options (see the module docstring)."""
    fn = click.option(
        "--post-from-folder",
        is_flag=True,
        expose_value=False,
        callback=_remember,
        help="Photos in SPLIT/POST/ subfolders belong to post POST, numbered in name order "
        "(env WORKBENCH_POST_FROM=folder).",
    )(fn)
    fn = click.option(
        "--name-pattern",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Regular expression for file names (without extension) with the groups "
        "(?P<post>...) and (?P<photo>...), optional (?P<group>...); e.g. "
        "'ad(?P<post>\\d+)-(?P<photo>\\d+)' [default: POSTID_PHOTONUM, GROUP_POST_PHOTONUM, "
        "POSTID-PHOTONUM; env WORKBENCH_NAME_PATTERN].",
    )(fn)
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
    from curation.names import NamePattern, naming_from_env

    meta = click.get_current_context().meta
    drop = bool(meta.get("workbench.drop_bad", False))
    out: dict = {"follow_links": bool(meta.get("workbench.allow_external_links", False))}
    try:
        out.update(naming_from_env())
        if meta.get("workbench.name_pattern"):
            out["name_pattern"] = NamePattern(meta["workbench.name_pattern"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name-pattern") from exc
    if meta.get("workbench.post_from_folder"):
        out["post_from"] = "folder"
    if drop:
        out.update(errors="drop", check="full")
    return out
