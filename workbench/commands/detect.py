"""`workbench detect`: the artifact detectors over a dataset's photos, with a summary."""

from __future__ import annotations

from pathlib import Path

import click

from workbench.commands.options import cache_option, data_options, load_data, progress_bar


def _thresholds(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(number)
        except ValueError:
            raise click.BadParameter(
                f"{value!r}: write NAME=VALUE, e.g. --threshold hands=0.6", param_hint="--threshold"
            ) from None
    return out


@click.command("detect")
@data_options
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the detections (one row per image and artifact) to this CSV.",
)
@click.option(
    "--artifacts",
    default="all",
    show_default=True,
    help="Comma-separated detectors (hands,tongue,grass,glare,collar,collage,text), "
    "'pixel' for all but OCR, or 'all'.",
)
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a detector's default threshold (repeatable).",
)
@click.option(
    "--mask",
    "mask_method",
    type=click.Choice(["auto", "silhouette", "alpha", "grabcut", "threshold"]),
    default="auto",
    show_default=True,
    help="Animal mask: auto = the file's alpha, else the silhouette of a segmented photo, "
    "else GrabCut.",
)
@cache_option("Cache folder (an interrupted run resumes from it).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option("--catalog", "show_catalog", is_flag=True, help="List the detectors and exit.")
@click.option(
    "--to-store",
    "to_store",
    default=None,
    metavar="URL",
    help="Also write the results to this tag store (SQLite file or URL) as machine tags "
    "signed detector:NAME@VERSION; re-running the same versions adds nothing.",
)
def command(data, manifest, root, out, artifacts, thresholds, mask_method, cache_dir, no_cache,
            show_catalog, to_store) -> None:  # fmt: skip
    """See what is in the photos: human hands, tongues, grass, glare, collars, collages and
    text overlays, from the pixels alone. Prints photos and posts per artifact, the share of
    posts with text (phone numbers, places) and of collages, and which animal mask was used."""
    from curation.perception.catalog import select, table
    from curation.perception.runner import detect_dataset
    from curation.perception.summary import summarise
    from curation.perception.text import OcrUnavailableError

    if show_catalog:
        for row in table():
            click.echo(
                f"{row['name']:<8} v{row['version']}  threshold {row['threshold']:.2f}  "
                f"{row['kind']:<5} {row['description']}"
            )
        return
    try:
        entries = select(artifacts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--artifacts") from exc
    ds = load_data(data, manifest, root)
    cache = None
    if not no_cache:
        from explain.storage.cache import DiskCache

        cache = DiskCache(cache_dir, "perception")
    bar, progress = progress_bar("detecting", unit="photo")
    try:
        found, computed = detect_dataset(
            ds, [e.name for e in entries], thresholds=_thresholds(thresholds), cache=cache,
            progress=progress, mask_method=mask_method,
        )  # fmt: skip
    except OcrUnavailableError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    s = summarise(found)
    n_results = s.photos * len(entries)
    click.echo(f"{s.photos} photos, {s.posts} posts; computed {computed} result(s), "
               f"{n_results + s.photos - computed} read from the cache")  # fmt: skip
    click.echo(f"{'artifact':<9} {'photos':>7} {'share':>6} {'posts':>6} {'share':>6}  threshold")
    for r in s.per_artifact.itertuples(index=False):
        click.echo(f"{r.artifact:<9} {r.photos:>7} {r.photo_share:>6.1%} {r.posts:>6} "
                   f"{r.post_share:>6.1%}  {r.threshold:.2f}")  # fmt: skip
    labels = {
        "text_posts": "posts with a text overlay",
        "phone_posts": "posts with a phone number in a photo",
        "place_posts": "posts with a city or district in a photo",
        "collage_photos": "photos that are collages",
    }
    for key, label in labels.items():
        if key in s.shares:
            click.echo(f"{label}: {s.shares[key]:.1%}")
    masks = ", ".join(f"{k} {v}" for k, v in s.masks.items())
    click.echo(f"animal mask: {masks}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        found.to_csv(tmp, index=False)
        tmp.replace(out)
        click.echo(f"detections written to {out}")
    if to_store is not None:
        _to_store(to_store, ds, found)


def _to_store(url: str, ds, found) -> None:
    """Write ``found`` to the tag store at ``url`` (scoped to ``ds``) and say what changed."""
    from curation.store import StoreError, TagStore

    try:
        with TagStore(url, dataset=ds) as store:
            done = store.add_detections(found)
            where = store.where
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if done.new_tags:
        click.echo(f"added to the store's vocabulary: {', '.join(done.new_tags)}")
    click.echo(
        f"tag store {where}: {done.added} detection(s) added, {done.unchanged} already stored "
        f"at this version, {done.superseded} from an older version superseded"
    )
