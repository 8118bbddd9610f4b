"""What the commands share: options (dataset, checkpoints, cache, tag store, annotator) and
helpers (loading data and checkpoints with clean errors, progress bars on stderr, tables on
stdout). Defaults of the cache, store and annotator come from :mod:`workbench.settings`.

Dataset options every command that loads a dataset shares:

``--allow-external-links``  follow symbolic links that point outside the dataset root (refused by
                            default; a linked export needs it, as its files are links to the
                            source dataset)
``--drop-bad``              skip the rows the loader finds bad instead of stopping; every image
                            is then decoded once at load, so truncated files are skipped too
``--name-pattern REGEX``    how file names give the post and photo (named groups ``post``,
                            ``photo``, optional ``group``; also ``WORKBENCH_NAME_PATTERN``)
``--post-from-folder``      ``SPLIT/POST/photo.jpg``: the subfolder is the post (also
                            ``WORKBENCH_POST_FROM=folder``)

These store their values on the click context (no extra parameter for the command
functions); :func:`dataset_kwargs` turns them into :func:`curation.dataset.load_dataset`
arguments.
"""

from __future__ import annotations

import dataclasses
import functools
import getpass
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from workbench import settings
from workbench.commands.numbers import THREADS

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


def data_options(fn: Callable) -> Callable:
    """``--data`` / ``--manifest`` / ``--root``: the dataset, as ``workbench train`` takes it;
    plus ``--allow-external-links`` and ``--drop-bad`` (:mod:`workbench.commands.datasets`)."""
    fn = dataset_options(fn)
    fn = click.option(
        "--root",
        type=click.Path(path_type=Path),
        default=None,
        help="Folder the manifest's paths are relative to (default: the manifest's folder).",
    )(fn)
    fn = click.option(
        "--manifest",
        type=click.Path(path_type=Path),
        default=None,
        help="A manifest .csv/.parquet instead of --data.",
    )(fn)
    return click.option(
        "--data",
        type=click.Path(path_type=Path),
        default=None,
        help="Dataset folder (torchreid layout or with manifest.csv).",
    )(fn)


def model_options(fn: Callable) -> Callable:
    """``--checkpoints``, ``--arch``, ``--cache``, ``--flip``, ``--threads``, ``--device``."""
    for opt in reversed(
        [
            click.option(
                "--checkpoints",
                type=click.Path(path_type=Path),
                required=True,
                help="Checkpoint folder (model.pth.tar-N files, or torchreid's log/<run>/).",
            ),
            click.option("--arch", default=None, help="torchreid model name [default: inferred]."),
            cache_option("Embedding cache folder."),
            click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
            click.option("--flip", is_flag=True, help="Average features with the mirror image."),
            click.option("--threads", type=THREADS, default=None, help="CPU threads [default: 2]."),
            click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any]."),
        ]
    ):
        fn = opt(fn)
    return fn


# -- the same options, grouped into one parameter ----------------------------------------------


@dataclass(frozen=True)
class DataChoice:
    """``--data`` / ``--manifest`` / ``--root`` as one value (:func:`data_group`)."""

    data: Path | None
    manifest: Path | None
    root: Path | None

    def load(self):
        """The dataset (:func:`load_data`)."""
        return load_data(self.data, self.manifest, self.root)


@dataclass(frozen=True)
class SeriesChoice:
    """``--checkpoints`` ... ``--device`` of :func:`model_options` as one value
    (:func:`series_group`)."""

    checkpoints: Path
    arch: str | None
    cache_dir: Path
    no_cache: bool
    flip: bool
    threads: int | None
    device: str | None

    @property
    def cache(self) -> Path | None:
        """The embedding cache folder, or None with ``--no-cache``."""
        return None if self.no_cache else self.cache_dir

    def load(self):
        """Every checkpoint of the series (:func:`load_checkpoints`)."""
        return load_checkpoints(self.checkpoints, self.arch, self.device)


def _grouped(options: Callable, cls: type, name: str) -> Callable[[Callable], Callable]:
    fields = [f.name for f in dataclasses.fields(cls)]

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            kwargs[name] = cls(**{f: kwargs.pop(f) for f in fields})
            return fn(*args, **kwargs)

        return options(run)

    return decorate


data_group = _grouped(data_options, DataChoice, "source")
data_group.__doc__ = "The :func:`data_options`, passed as one ``source`` (:class:`DataChoice`)."
series_group = _grouped(model_options, SeriesChoice, "series")
series_group.__doc__ = (
    "The :func:`model_options`, passed as one ``series`` (:class:`SeriesChoice`)."
)


# -- settings-backed options -------------------------------------------------------------------


def cache_option(help: str) -> Callable[[Callable], Callable]:
    """``--cache DIR`` (the ``cache_dir`` parameter): default WORKBENCH_CACHE, the workspace's
    workbench.toml, else ``<project>/.workbench/cache`` (:mod:`workbench.settings`)."""
    return click.option(
        "--cache",
        "cache_dir",
        type=click.Path(path_type=Path),
        default=lambda: settings.load().cache,
        show_default="settings: WORKBENCH_CACHE, else <project>/.workbench/cache",
        help=help,
    )


def configured_store() -> str | None:
    """The tag store someone configured (WORKBENCH_STORE or workbench.toml), else None."""
    return settings.load().configured("store")


def default_store() -> str:
    """The tag store of the settings (configured, else ``<workspace>/tags.sqlite``)."""
    return settings.load().store


def default_annotator() -> str | None:
    """WORKBENCH_ANNOTATOR or workbench.toml's annotator, else the login name (None when the
    system has none, e.g. in some containers)."""
    configured = settings.load().annotator
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


# -- loading with clean errors -----------------------------------------------------------------


def load_data(data: Path | None, manifest: Path | None, root: Path | None):
    """The dataset from ``--data`` or ``--manifest``; warnings go to stderr."""
    from curation.dataset import load_dataset
    from curation.findings import DatasetError

    if (data is None) == (manifest is None):
        raise click.UsageError("give exactly one of --data DIR or --manifest FILE")
    try:
        ds = load_dataset(data or manifest, root=root, **dataset_kwargs())
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from exc
    for f in ds.warnings:
        click.echo(f"warning [{f.code}]: {f.message}", err=True)
    return ds


def load_checkpoints(folder: Path, arch: str | None, device: str | None):
    """Every checkpoint of the series, loaded; its warnings go to stderr (errors become a clean
    CLI message)."""
    from explain.models.checkpoints import CheckpointError
    from explain.models.limits import LimitError
    from explain.models.series import load_series

    try:
        series = load_series(folder, arch=arch, device=device)
    except (CheckpointError, LimitError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    for message in series.warnings:
        click.echo(f"warning: {message}", err=True)
    return series


def progress_bar(desc: str, unit: str = "img"):
    """A tqdm bar on stderr and a ``progress(done, total)`` callback that drives it."""
    from tqdm import tqdm

    bar = tqdm(total=0, desc=desc, unit=unit, dynamic_ncols=True)

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    return bar, progress


def evaluate_checkpoints(
    ds, models, *, cache_dir, k, flip, threads, desc="embedding", exclude=None
):
    """:func:`explain.retrieval.series.evaluate_series` behind a progress bar (``exclude``: the
    query/gallery pairs left out of the headline); ValueError -> CLI error."""
    from explain.retrieval.series import evaluate_series

    bar, progress = progress_bar(desc)
    try:
        return evaluate_series(
            ds, models, cache_dir=cache_dir, k=k, flip=flip, threads=threads, progress=progress,
            exclude=exclude,
        )  # fmt: skip
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()


def pick_checkpoint(models: list, epoch: int | None):
    """The checkpoint of ``epoch`` (default: the last one of the series)."""
    if epoch is None:
        return models[-1]
    for m in models:
        if m.epoch == epoch:
            return m
    have = ", ".join(str(m.epoch) for m in models)
    raise click.BadParameter(f"no checkpoint for epoch {epoch}; the series has {have}")


# -- output --------------------------------------------------------------------------------------


def fmt(value) -> str:
    """A table cell: "-" for a missing value, yes/NO, floats to three decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_table(title: str, df, columns: list[str]) -> None:
    """A plain-text table on stdout."""
    click.echo(f"\n{title}")
    if df.empty:
        click.echo("  (no rows)")
        return
    cells = [[fmt(r[c]) for c in columns] for _, r in df.iterrows()]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        click.echo("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
