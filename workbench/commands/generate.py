"""`workbench generate`: write the synthetic pet re-ID sample dataset."""

from __future__ import annotations

import time
from pathlib import Path

import click

from workbench.synth.config import PRESETS, SynthConfig

DEFAULTS = SynthConfig()


@click.command("generate")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder to write (created; must be empty or a previous sample).",
)
@click.option(
    "--preset",
    type=click.Choice(sorted(PRESETS)),
    default="sample",
    show_default=True,
    help="Named options: sample (the shipped sample) or shortcut (smaller photos, a stronger "
    "planted shortcut, for `workbench experiment`).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--look",
    type=click.Choice(["segmented", "background"]),
    default="segmented",
    show_default=True,
    help="Black background (segmented) or floor/sofa/grass scenes.",
)
@click.option(
    "--train-ids",
    type=int,
    default=None,
    help=f"Train posts [preset; sample: {DEFAULTS.n_train_ids}]",
)
@click.option(
    "--test-ids", type=int, default=None, help=f"Test posts [preset; sample: {DEFAULTS.n_test_ids}]"
)
@click.option("--no-counterfactual", is_flag=True, help="Skip the artifact-free re-renders.")
def command(
    out_dir: Path,
    preset: str,
    seed: int,
    look: str,
    train_ids: int | None,
    test_ids: int | None,
    no_counterfactual: bool,
) -> None:
    """Write the synthetic pet re-ID sample dataset (torchreid layout + manifest.csv)."""
    from tqdm import tqdm

    from workbench.synth import generate

    try:
        counts = {"n_train_ids": train_ids, "n_test_ids": test_ids}
        config = SynthConfig.preset(
            preset,
            seed=seed,
            look=look,
            counterfactual=not no_counterfactual,
            **{k: v for k, v in counts.items() if v is not None},
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    t0 = time.perf_counter()
    with tqdm(desc="rendering", unit="photo") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        try:
            table = generate(out_dir, config, progress=progress)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    counts = table.groupby("split")["post_id"].agg(["nunique", "size"])
    click.echo(f"wrote {len(table)} photos to {out_dir} in {time.perf_counter() - t0:.1f} s")
    for split, row in counts.iterrows():
        click.echo(f"  {split:8s} {row['nunique']:4d} posts {row['size']:5d} photos")
    polluted = table[table["polluted"]].groupby("homogeneous_artifact")["post_id"].nunique()
    if not polluted.empty:
        click.echo("  polluted train posts: " + ", ".join(f"{a} {n}" for a, n in polluted.items()))
