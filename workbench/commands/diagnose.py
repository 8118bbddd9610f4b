"""`workbench diagnose`: which way to improve the model — segmentation, pose, data, posts.

Measures one checkpoint on the dataset's query and gallery photos (:mod:`explain.diagnose.run`),
reads an experiment's ``results.csv`` and the shortcut finder's ``posts.csv`` when given, ranks
the candidates and writes ``diagnosis.json``, ``diagnosis.md`` and the plots into ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.options import (
    DataChoice,
    SeriesChoice,
    data_group,
    pick_checkpoint,
    progress_bar,
    series_group,
)


def _progress():
    bars: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            for bar, _ in bars.values():
                bar.close()
            bars[stage] = progress_bar(stage, unit="photo")
        bars[stage][1](done, total)

    def close() -> None:
        for bar, _ in bars.values():
            bar.close()

    return progress, close


@click.command("diagnose")
@data_group
@series_group
@click.option("--epoch", type=click.IntRange(0, 100000), default=None,
              help="Checkpoint to diagnose [default: the last one].")  # fmt: skip
@click.option("--experiment", type=click.Path(path_type=Path), default=None,
              help="An experiment folder (its results.csv: arms × seeds, learning-curve "
              "fractions), from `workbench experiment`.")  # fmt: skip
@click.option("--shortcuts", type=click.Path(path_type=Path), default=None,
              help="The shortcut finder's posts.csv (post_id, score, cause ...).")  # fmt: skip
@click.option("--step", type=click.FloatRange(0.05, 4.0), default=0.25, show_default=True,
              help="'More data' means this share more posts.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Folder for diagnosis.json, diagnosis.md, plots/ and plots.html.")  # fmt: skip
def command(source: DataChoice, series: SeriesChoice, epoch: int | None, experiment: Path | None,
            shortcuts: Path | None, step: float, out: Path) -> None:  # fmt: skip
    """Answer "which way to improve?": attribution on background / animal / non-animal inside
    the silhouette and dark-fur mask failures (segmentation), retrieval and maps with poses
    aligned (pose), a learning curve (data, from --experiment), polluted posts and remedies
    (--shortcuts, --experiment); each with a 95 % bootstrap interval (seed 0), then a ranked
    recommendation."""
    from explain.models.device import set_threads
    from workbench.diagnosis import diagnose

    set_threads(series.threads)
    for path, what in ((experiment, "--experiment"), (shortcuts, "--shortcuts")):
        if path is not None and not path.exists():
            raise click.BadParameter(f"{path} does not exist", param_hint=what)
    ds, models = source.load(), series.load()
    loaded = pick_checkpoint(models, epoch)
    progress, close = _progress()
    try:
        d = diagnose(ds, loaded, out, cache_dir=series.cache, experiment=experiment,
                     shortcuts=shortcuts, step=step, progress=progress)  # fmt: skip
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot write the diagnosis to {out}: {exc}") from exc
    finally:
        close()
    click.echo("\n".join(d["summary"]))
    click.echo(f"\ndiagnosis written to {out}/diagnosis.md (+ diagnosis.json, plots.html)")
