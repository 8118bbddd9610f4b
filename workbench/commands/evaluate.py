"""`workbench evaluate`: retrieval metrics (mAP, CMC, mINP) for every checkpoint of a series.

Also holds the options and helpers the other model-side commands share (dataset, checkpoints,
cache folder, progress bar on stderr).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import click

from workbench.commands.numbers import THREADS, TOP_K

DEFAULT_CACHE = Path(".workbench") / "cache"


def data_options(fn: Callable) -> Callable:
    """``--data`` / ``--manifest`` / ``--root``: the dataset, as ``workbench train`` takes it;
    plus ``--allow-external-links`` and ``--drop-bad`` (:mod:`workbench.commands.datasets`)."""
    from workbench.commands.datasets import dataset_options

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
            click.option(
                "--cache",
                "cache_dir",
                type=click.Path(path_type=Path),
                default=DEFAULT_CACHE,
                show_default=True,
                help="Embedding cache folder.",
            ),
            click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
            click.option("--flip", is_flag=True, help="Average features with the mirror image."),
            click.option("--threads", type=THREADS, default=None, help="CPU threads [default: 2]."),
            click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any]."),
        ]
    ):
        fn = opt(fn)
    return fn


def load_data(data: Path | None, manifest: Path | None, root: Path | None):
    """The dataset from ``--data`` or ``--manifest``; warnings go to stderr."""
    from curation.dataset import load_dataset
    from curation.findings import DatasetError
    from workbench.commands.datasets import dataset_kwargs

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
    """:func:`explain.retrieval.series.evaluate_series` behind a progress bar; ValueError -> CLI
    error."""
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


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def format_table(metrics) -> str:
    """The per-epoch metrics table as text (one line per checkpoint)."""
    cols = ["rank1", "rank5", "rank10", "rank20", "mAP", "mINP"]
    head = f"{'checkpoint':<16}" + "".join(f"{c:>8}" for c in cols)
    head += f"{'valid/q':>10}{'rank1 file':>12}"
    lines = [head]
    for _, r in metrics.iterrows():
        line = f"{r['label']:<16}" + "".join(f"{_fmt(r[c]):>8}" for c in cols)
        line += f"{r['num_valid']:>5}/{r['num_query']:<4}{_fmt(r['rank1_file']):>12}"
        lines.append(line)
    return "\n".join(lines)


@click.command("evaluate")
@data_options
@model_options
@click.option(
    "-k",
    "--top-k",
    "k",
    type=TOP_K,
    default=10,
    show_default=True,
    help="Gallery items kept per query (found-within-k).",
)
@click.option(
    "--per-query",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the per-query tables of all checkpoints to this CSV.",
)
@click.option(
    "--leaks/--no-leaks",
    default=True,
    show_default=True,
    help="Find query/gallery near-copies (workbench duplicates' defaults) and leave them out "
    "of the headline metrics.",
)
@click.option(
    "--baselines/--no-baselines",
    default=True,
    show_default=True,
    help="Also score the colour-histogram and perceptual-hash matchers.",
)
def command(
    data,
    manifest,
    root,
    checkpoints,
    arch,
    cache_dir,
    no_cache,
    flip,
    threads,
    device,
    k,
    per_query,
    leaks,
    baselines,
) -> None:
    """Rank-1/5/10/20, mAP and mINP of every checkpoint (torchreid's protocol: gallery photos with
    the query's post and camid are ignored; queries whose post has no other gallery photo are
    counted as not in gallery and left out of the averages)."""
    from explain.models.device import set_threads
    from workbench.commands.yardstick import baseline_rows, find_query_leaks, print_report

    set_threads(threads)
    ds = load_data(data, manifest, root)
    models = load_checkpoints(checkpoints, arch, device)
    cache = None if no_cache else cache_dir
    found = find_query_leaks(ds, cache) if leaks else None
    result = evaluate_checkpoints(
        ds, models, cache_dir=cache, k=k, flip=flip, threads=threads, exclude=found
    )
    base = baseline_rows(ds, cache, k, found) if baselines else None
    print_report(result, found, base, format_table)
    if per_query is not None:
        _write_per_query(result, per_query)
        click.echo(f"per-query tables written to {per_query}")


def _write_per_query(result, path: Path) -> None:
    import pandas as pd

    frames = []
    for (_, row), table in zip(result.metrics.iterrows(), result.per_query, strict=True):
        t = table.copy()
        t.insert(0, "checkpoint", row["label"])
        t.insert(1, "epoch", row["epoch"])
        for col in (
            "top_images",
            "top_post_ids",
            "top_similarities",
            "top_distances",
            "top_correct",
        ):
            t[col] = t[col].map(lambda v: ";".join(map(str, v)))
        frames.append(t)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pd.concat(frames, ignore_index=True).to_csv(tmp, index=False)
    tmp.replace(path)
