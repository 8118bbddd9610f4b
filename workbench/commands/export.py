"""`workbench export`: apply curation rules and write a cleaned dataset with provenance."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.options import configured_store, dataset_kwargs, dataset_options

RULES_SYNTAX = """\b
--rules syntax: rules separated by commas; parameters follow the rule name, each
after ':'; list values joined with '+':
  homogeneous_artifact:threshold=0.8,duplicates
  homogeneous_artifact:source=manifest:artifacts=tongue+hands,quality_flags:blur=20
  exclude_by_tags:buckets=spurious:splits=train+query

"""


class RulesHelp(click.Command):
    """A command whose help ends with the rule catalog (read only when help is shown, so that
    starting the CLI does not load the rules)."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from curation.rules.catalog import help_text

        self.epilog = RULES_SYNTAX + help_text()
        super().format_epilog(ctx, formatter)


@click.command("export", cls=RulesHelp)
@dataset_options
@click.option(
    "--data",
    type=click.Path(path_type=Path, exists=True),
    required=True,
    help="Dataset folder or manifest to clean.",
)
@click.option(
    "--rules",
    default="",
    help="Rules to apply, e.g. homogeneous_artifact:threshold=0.8,duplicates (syntax below).",
)
@click.option(
    "--store",
    default=configured_store,
    help="Tag store (SQLite file or URL) for tag-based rules and the bucket folders "
    "[default: the configured store (WORKBENCH_STORE or workbench.toml), else none].",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Export folder (created, or replaced when it holds exactly what an earlier export "
    "wrote there).",
)
@click.option(
    "--layout",
    type=click.Choice(["mirror", "symlink", "copy"]),
    default="mirror",
    show_default=True,
    help="mirror: links at the source paths (image ids unchanged); symlink/copy: torchreid "
    "layout train/POSTID_PHOTONUM.jpg as links or copies.",
)
@click.option(
    "--duplicates",
    "dup_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Duplicate table (CSV/Parquet from `workbench duplicates`) for the duplicates rule.",
)
@click.option(
    "--shortcuts",
    "shortcut_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Post shortcut scores (posts.csv from `workbench shortcuts`) for the shortcut rule.",
)
@click.option(
    "--heatmaps",
    "heatmap_dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Folder of heatmap PNGs named after the image path: DIR/query/10631_2_*.png goes "
    "next to query/10631_2.jpg in its bucket folder.",
)
@click.option("--no-buckets", is_flag=True, help="Skip the worked/missed/spurious folders.")
def command(data, rules, store, out_dir, layout, dup_file, shortcut_file, heatmap_dir,
            no_buckets) -> None:  # fmt: skip
    """Apply --rules to --data and write a cleaned manifest, the bucket folders and
    provenance.json to --out; print what was removed, by reason."""
    from curation.dataset import load_dataset
    from curation.export import ExportError, export, tags_provenance
    from curation.findings import DatasetError
    from curation.rules import apply_rules, describe, parse_rules, removal_frame
    from curation.store import StoreError, TagStore

    try:
        ds = load_dataset(data, **dataset_kwargs())
        specs = parse_rules(rules) if rules.strip() else []
    except (DatasetError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    tags = post_flags = detections = None
    extra: dict = {"rules": describe(specs), "tags": None}
    if store is not None:
        try:
            with TagStore(store, dataset=ds) as ts:
                tags, post_flags = ts.current(), ts.post_flags()
                detections = ts.detections()
                extra["tags"] = tags_provenance(ts)
        except StoreError as exc:
            raise click.ClickException(str(exc)) from exc
    dups = None
    if dup_file is not None:
        from curation.export import canonical_sha256
        from curation.rules.duplicates import read_duplicate_table

        try:
            dups = read_duplicate_table(dup_file)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc

        extra["duplicates"] = {"file": str(dup_file), "sha256": canonical_sha256(dups)}
    shortcuts = None
    if shortcut_file is not None:
        import pandas as pd

        from curation.rules.shortcut import with_confirmations

        try:
            shortcuts = pd.read_csv(shortcut_file, dtype={"post_id": str})
        except (OSError, UnicodeDecodeError, pd.errors.ParserError,
                pd.errors.EmptyDataError) as exc:  # fmt: skip
            raise click.ClickException(
                f"{shortcut_file} is not a readable posts table ({exc}); write it again with "
                "`workbench shortcuts`"
            ) from exc
        if {"post_id", "split"} <= set(shortcuts.columns):
            shortcuts = with_confirmations(shortcuts, ds.table, detections)
        extra["shortcuts"] = {"file": str(shortcut_file)}
    try:
        if specs:
            import warnings

            from curation.rules import SplitWarning

            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always", SplitWarning)
                _, removals = apply_rules(
                    ds, specs, tags=tags, detections=detections, post_flags=post_flags,
                    duplicate_groups=dups, progress=_progress(), shortcuts=shortcuts,
                )  # fmt: skip
            for w in said:
                if issubclass(w.category, SplitWarning):
                    click.echo(f"warning: {w.message}", err=True)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            removals = removal_frame([])
        heatmaps = _heatmaps(heatmap_dir, tags) if heatmap_dir is not None else None
        result = export(
            ds, removals, out_dir, layout=None if layout == "mirror" else layout,
            buckets=None if no_buckets or tags is None else tags, heatmaps=heatmaps,
            provenance=extra,
        )  # fmt: skip
    except (ValueError, ExportError) as exc:
        raise click.ClickException(str(exc)) from exc
    from curation.coverage import rule_notes, training_note

    kept = ds.table[~ds.table["image"].isin(set(removals["image"]))]
    _report(result, len(ds.table), linked=layout != "copy", train_note=training_note(kept))
    for note in rule_notes(ds.table, specs):
        click.echo(f"note: {note}")


def _progress():
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="measuring quality", unit="image")
        bar.update(done - bar.n)  # tqdm rate-limits its own redraws
        if done == total:
            bar.close()

    return update


def _heatmaps(folder: Path, tags) -> dict[str, list[Path]]:
    """Heatmap PNGs per tagged image: ``FOLDER/<image path without suffix>*.png`` where the
    name goes on with a separator (``201_1_gradcam.png`` is 201_1's, ``201_12.png`` is not);
    matched by name (an image name is never read as a pattern), files inside ``folder`` only."""
    import os

    from curation.owned import relative_parts

    if tags is None:
        raise click.UsageError("--heatmaps goes with the bucket folders; give --store too")
    real = os.path.realpath(folder)
    out = {}
    for image in tags["image"]:
        try:
            parts = relative_parts(str(Path(image).with_suffix("")))
        except ValueError:
            continue  # not a path inside the dataset: the export refuses the image itself
        sub = Path(folder, *parts[:-1])
        if not sub.is_dir():
            continue
        stem = parts[-1]
        found = sorted(p for p in sub.iterdir() if _heatmap_of(p.name, stem))
        for p in found:
            if os.path.commonpath([os.path.realpath(p), real]) != real:
                raise click.ClickException(
                    f"heatmap {p} leads outside --heatmaps {folder} (a symbolic link to "
                    f"{os.path.realpath(p)}); heatmaps are read only from inside that folder"
                )
        if found:
            out[image] = found
    return out


def _heatmap_of(name: str, stem: str) -> bool:
    rest = name[len(stem) :] if name.startswith(stem) else ""
    return rest.endswith(".png") and not rest[0].isalnum()


def _report(result, total: int, *, linked: bool, train_note: str | None = None) -> None:
    click.echo(f"removed {result.removed_images} of {total} images:")
    if result.summary.empty:
        click.echo("  (no rule removed anything)")
    for rec in result.summary.to_dict("records"):
        click.echo(
            f"  {rec['rule']:22s} {rec['cause']:22s} {rec['images']:5d} images "
            f"{rec['posts']:4d} posts"
        )
    click.echo(f"kept {result.kept_images} images")
    if result.bucket_counts:
        counts = ", ".join(f"{b} {n}" for b, n in result.bucket_counts.items())
        click.echo(f"bucket folders: {counts}")
    out = result.out_dir
    click.echo(f"wrote {out}")
    if result.kept_aside is not None:
        click.echo(f"  the previous export gained files while this one ran; kept it at "
                   f"{result.kept_aside}")  # fmt: skip
    links = " --allow-external-links" if linked else ""  # its files link to the source
    hint = f"train on it: workbench train --data {out}{links} --out ..."
    click.echo(f"  {result.manifest_csv.name}, {result.manifest_parquet.name}  "
               f"({train_note or hint})")  # fmt: skip
    click.echo(f"  {result.removals_csv.name}  every removed image with its reason")
    click.echo(f"  {result.provenance.name}  input hashes, rules, counts, version, time")
    if result.buckets_csv is not None:
        click.echo(f"  worked/ missed/ spurious/  tagged images ({result.buckets_csv.name})")
