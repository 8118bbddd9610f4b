"""`workbench experiment`: train arms × seeds on one dataset and compare each remedy with the
baseline (intervals over seeds and queries)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from workbench.experiment.arms import ARMS


def _list(value: str, kind: type, what: str) -> list:
    try:
        return [kind(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: give {what} as a comma list") from exc


@click.command("experiment")
@click.option(
    "--data",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    required=True,
    help="A sample with ground truth (e.g. `workbench generate --preset shortcut --out DIR`).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Experiment folder (runs, repaired copy, results); a re-run skips finished runs.",
)
@click.option(
    "--arms",
    default=",".join(ARMS),
    show_default=True,
    help=f"Comma list of {', '.join(ARMS)} (baseline is required).",
)
@click.option("--seeds", type=click.IntRange(1, 20), default=3, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 200), default=30, show_default=True)
@click.option(
    "--fractions",
    default="",
    help="Learning-curve arms: train on these shares of the posts, e.g. 0.25,0.5,0.75.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 8),
    default=1,
    show_default=True,
    help="Runs trained at once (one torch thread each).",
)
@click.option(
    "--drop-rules",
    default=None,
    help="Export rules that pick the posts to drop/repair [homogeneous_artifact:source=manifest].",
)
def command(
    data: Path,
    out_dir: Path,
    arms: str,
    seeds: int,
    epochs: int,
    fractions: str,
    jobs: int,
    drop_rules: str | None,
) -> None:
    """Train the grid (each finished run is kept: re-run to resume) and write results.csv,
    results.json (intervals, verdicts) and results.html (plot) into --out."""
    from workbench.experiment.results import write_results
    from workbench.experiment.runner import run_grid

    arm_list = _list(arms, str, "arms")
    fraction_list = _list(fractions, float, "fractions")
    t0 = time.perf_counter()

    def progress(event: str, info: dict) -> None:
        if event == "done":
            m = info["metrics"]
            click.echo(
                f"{info['run']:>20s} {info['train_seconds']:6.0f} s  mAP {m['mAP']:.3f}  "
                f"clean {m['mAP_clean']:.3f}  decoy {m['decoy_rate']:.2f}  "
                f"reliance AUC {m['reliance_auc']:.2f}"
            )
        elif event == "skip":
            click.echo(f"{info['run']:>20s} finished before, skipped")

    try:
        run_grid(
            data,
            out_dir,
            arms=arm_list,
            seeds=list(range(seeds)),
            epochs=epochs,
            fractions=fraction_list,
            jobs=jobs,
            drop_rules=drop_rules,
            progress=progress,
        )
        summary = write_results(out_dir)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"grid done in {time.perf_counter() - t0:.0f} s; results in {out_dir}")
    for line in summary["verdicts"].values():
        click.echo(line)
