"""`workbench explain`: heatmaps per epoch, attribution scores and faithfulness checks.

    workbench explain maps --checkpoints SERIES --image PHOTO [--match PHOTO] --method gradcam
    workbench explain report --data sample_data/pets --checkpoints sample_data/series/baseline
    workbench explain faithfulness --data DIR --checkpoints SERIES [--road]
    workbench explain precompute --data DIR --checkpoints SERIES --methods gradcam,occlusion
        [--all | --split query --split gallery] [--engine ray --workers 4 [--address HOST]]

Maps are cached under ``--cache`` (default ``.workbench/cache``); progress bars go to stderr,
tables to stdout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import click

from explain.models.limits import MAX_SEED, MAX_THREADS
from workbench.commands.numbers import COUNT, EPOCH, PIXELS, THREADS
from workbench.commands.options import (
    cache_option,
    data_options,
    fmt,
    load_checkpoints,
    load_data,
    print_table,
    progress_bar,
)


def _methods(value: str) -> list[str]:
    """A comma list of heatmap methods, checked against the catalog."""
    from explain.heatmaps.catalog import names as catalog

    known = catalog()
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in known]
    if bad or not names:
        what = ", ".join(bad) if bad else repr(value)
        raise click.BadParameter(f"unknown method(s) {what}; choose from {', '.join(known)}")
    return names


def _default_methods(**which: bool) -> str:
    from explain.heatmaps.catalog import names

    return ", ".join(names(**which))


class MethodsOption(click.Option):
    """``--method(s)``: its help lists the catalog's methods, and ``default_of`` (catalog filters
    such as ``slow=False``) gives the default list, both read from the catalog only when shown
    or used (the catalog imports torch; ``--help`` of another command does not pay for it)."""

    def __init__(self, *args, default_of: dict[str, bool] | None = None, **kwargs):
        self.default_of = default_of
        self.base_help = kwargs.get("help") or ""
        super().__init__(*args, **kwargs)

    def get_help_record(self, ctx: click.Context):
        from explain.heatmaps.catalog import names

        self.help = f"{self.base_help} Methods: {', '.join(names())}."
        if self.default_of is not None:
            self.help += f"  [default: {_default_methods(**self.default_of)}]"
        return super().get_help_record(ctx)

    def get_default(self, ctx: click.Context, call: bool = True):
        if self.default_of is not None and call:
            return _default_methods(**self.default_of)
        return super().get_default(ctx, call)


def series_options(fn: Callable) -> Callable:
    """Options every explain subcommand shares."""
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
                "--layer",
                default=None,
                help="Target layer for CAMs, a module path such as conv4 or conv3.1 "
                "[default: per architecture, OSNet conv5 (16x8 at 256x128)].",
            ),
            cache_option("Heatmap cache folder."),
            click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
            click.option("--threads", type=THREADS, default=None, help="CPU threads [default: 2]."),
            click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any]."),
        ]
    ):
        fn = opt(fn)
    return fn


def occlusion_options(fn: Callable) -> Callable:
    for opt in reversed(
        [
            click.option(
                "--window",
                type=PIXELS,
                default=16,
                show_default=True,
                help="Occlusion window (pixels).",
            ),
            click.option(
                "--stride",
                type=PIXELS,
                default=8,
                show_default=True,
                help="Occlusion stride (pixels).",
            ),
            click.option(
                "--baseline",
                type=click.Choice(["blur", "mean", "black"]),
                default="blur",
                show_default=True,
                help="What hides a window: the blurred image, a flat mean colour (on a segmented "
                "photo it paints a patch onto the black background), or black (changes "
                "nothing on the black background).",
            ),
        ]
    ):
        fn = opt(fn)
    return fn


def _setup(threads: int | None, cache_dir: Path, no_cache: bool):
    from explain.heatmaps.cache import HeatmapCache
    from explain.models.device import set_threads

    set_threads(threads)
    return None if no_cache else HeatmapCache(cache_dir)


def _params(method: str, layer, window=None, stride=None, baseline=None) -> dict:
    from explain.heatmaps.catalog import method_params

    return method_params(method, layer=layer, window=window, stride=stride, baseline=baseline)


@click.group("explain")
def command() -> None:
    """Heatmaps per epoch, attribution scores and faithfulness checks."""


# --------------------------------------------------------------------------- maps


def _overlay(image, heatmap_map):
    from explain.heatmaps.render import overlay

    return overlay(image, heatmap_map, opacity=0.5, colormap="jet")


def _write_strip(path: Path, tiles, labels, caption: str = "attribution") -> None:
    """Labelled tiles side by side over the colour bar (the app's renderer), as a PNG."""
    from PIL import Image

    from explain.heatmaps.render import strip, with_colour_bar

    path.parent.mkdir(parents=True, exist_ok=True)
    picture = with_colour_bar(strip(tiles, labels, pad=0), "jet", caption=caption)
    Image.fromarray(picture).save(path)


def _animal_mass(pic, heatmaps) -> list[float]:
    """Share of each map's positive attribution on the animal (its silhouette), NaN when
    the photo is not segmented."""
    from explain.heatmaps.explorer import segmentation_mask
    from explain.heatmaps.scores import positive_attribution, relevance_mass

    mask = segmentation_mask(pic)
    if mask is None:
        return [float("nan")] * len(heatmaps)
    return [relevance_mass(positive_attribution(hm), mask) for hm in heatmaps]


def _pair_note(member, photos, shas) -> None:
    """Say when the pair is one picture (the pair maps are then noise)."""
    import numpy as np

    from curation.images import load_rgb
    from explain.heatmaps.pair_check import copy_inliers, pair_caveat
    from explain.retrieval.lookup import embed_photos

    feats = embed_photos(member, photos)
    similarity = float(np.clip(feats[0] @ feats[1], -1.0, 1.0))
    inliers = copy_inliers(*(np.asarray(load_rgb(p)) for p in photos))
    note = pair_caveat(similarity, inliers=inliers, same_file=shas[0] == shas[1])
    click.echo(
        f"pair similarity at {member.label}: {similarity:.3f}; {inliers} keypoints in common"
    )
    if note is not None:
        click.echo(f"warning: {note}")


@command.command("maps")
@series_options
@occlusion_options
@click.option(
    "--image",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    required=True,
    help="The photo to explain (e.g. a query).",
)
@click.option(
    "--match",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Its match: explain the pair in both directions.",
)
@click.option(
    "--method",
    "methods",
    cls=MethodsOption,
    default="gradcam",
    show_default=True,
    help="Comma list of methods.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("heatmaps"),
    show_default=True,
    help="Folder for the PNG overlays.",
)
def maps(
    checkpoints,
    arch,
    layer,
    cache_dir,
    no_cache,
    threads,
    device,
    window,
    stride,
    baseline,
    image,
    match,
    methods,
    out,
) -> None:
    """Overlays of one photo (or pair) for every checkpoint, side by side, with change scores."""
    from curation.images import ImageReadError, file_sha1, load_rgb
    from explain.heatmaps.series import series_maps, series_pair_maps
    from explain.models.preprocess import to_input

    names = _methods(methods)
    cache = _setup(threads, cache_dir, no_cache)
    series = load_checkpoints(checkpoints, arch, device)
    size = series[0].input_size
    photos = [image] if match is None else [image, match]
    try:
        pics = [load_rgb(p).resize((size[1], size[0])) for p in photos]
    except ImageReadError as exc:
        raise click.ClickException(str(exc)) from exc
    xs = [to_input(p, *size) for p in pics]
    shas = [file_sha1(p) for p in photos]
    if match is not None:
        _pair_note(series[-1], photos, shas)
    for method in names:
        params = _params(method, layer, window, stride, baseline)
        bar, progress = progress_bar(method, unit="ckpt")
        try:
            if match is None:
                results = [
                    series_maps(
                        series,
                        xs[0],
                        method,
                        "self",
                        cache=cache,
                        image_sha1=shas[0],
                        progress=progress,
                        **params,
                    )
                ]
            else:
                results = list(
                    series_pair_maps(
                        series,
                        xs[0],
                        xs[1],
                        method,
                        cache=cache,
                        query_sha1=shas[0],
                        match_sha1=shas[1],
                        progress=progress,
                        **params,
                    )
                )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            bar.close()
        for side, (photo, pic, res) in enumerate(zip(photos, pics, results, strict=True)):
            tiles = [_overlay(pic, hm.map) for hm in res.heatmaps]
            safe = method.replace("+", "p")
            # self and pair maps of one photo differ: the target is in the name
            target = "self" if match is None else f"pair-{photos[1 - side].stem}"
            mass = _animal_mass(pic, res.heatmaps)
            tags = [f"{lbl} {'' if math.isnan(m) else f'{m:.0%}'}".strip()
                    for lbl, m in zip(res.labels, mass, strict=True)]  # fmt: skip
            what = "itself" if match is None else photos[1 - side].name
            caption = f"{method}, similarity to {what}; % = attribution on the animal"
            for tile, tag, label in zip(tiles, tags, res.labels, strict=True):
                name = f"{photo.stem}_{safe}_{target}_{label.replace(' ', '')}.png"
                _write_strip(out / name, [tile], [tag], caption=caption)
            strip = out / f"{photo.stem}_{safe}_{target}_series.png"
            _write_strip(strip, tiles, tags, caption=caption)
            scores = res.change_scores()
            click.echo(f"{photo.name} {method}: wrote {strip}")
            if not all(math.isnan(m) for m in mass):
                click.echo(
                    "  on the animal: "
                    + ", ".join(f"{lbl} {fmt(m)}" for lbl, m in zip(res.labels, mass, strict=True))
                    + "  (artifact mass needs artifact regions: the Heatmaps page or "
                    "`explain report` with a manifest)"
                )
            empty = [
                lbl
                for lbl, hm in zip(res.labels, res.heatmaps, strict=True)
                if float(hm.map.max()) == 0.0
            ]
            if empty:
                click.echo(
                    f"  empty map (no positive attribution) at {', '.join(empty)}; for a CAM the "
                    "layer's map is negative everywhere: try an earlier --layer or occlusion"
                )
            for i, s in enumerate(scores):
                click.echo(f"  {res.labels[i]} -> {res.labels[i + 1]}: Spearman {fmt(s)}")
            if "similarity" in res.extra:
                sims = ", ".join(
                    f"{lbl} {fmt(v)}"
                    for lbl, v in zip(res.labels, res.extra["similarity"], strict=True)
                )
                click.echo(f"  pair similarity: {sims}")


# --------------------------------------------------------------------------- report


@command.command("report")
@data_options
@series_options
@click.option(
    "--methods",
    cls=MethodsOption,
    default_of={"slow": False},
    help="Comma list of methods (slow ones are left out by default).",
)
@click.option(
    "--limit",
    type=COUNT,
    default=120,
    show_default=True,
    help="At most this many images with artifacts (half polluted, half clean).",
)
@click.option(
    "--randomisation-images",
    type=click.IntRange(0, 1000),
    default=8,
    show_default=True,
    help="Images for the randomisation check (last checkpoint).",
)
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True)
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the tables and per-image rows as CSV files here.",
)
def report(
    data,
    manifest,
    root,
    checkpoints,
    arch,
    layer,
    cache_dir,
    no_cache,
    threads,
    device,
    methods,
    limit,
    randomisation_images,
    seed,
    csv_dir,
) -> None:
    """Randomisation Spearman per method, artifact mass on polluted vs clean posts per epoch,
    counterfactual correlation (needs a dataset with ground truth, e.g. the sample data)."""
    from explain.checks.ground_truth import sample_report

    names = _methods(methods)
    cache = _setup(threads, cache_dir, no_cache)
    ds = load_data(data, manifest, root)
    series = load_checkpoints(checkpoints, arch, device)
    bars: dict[str, object] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = progress_bar(stage, unit="step")
        bars[stage][1](done, total)

    try:
        rep = sample_report(
            ds,
            series,
            names,
            limit=limit,
            layer=layer,
            seed=seed,
            cache=cache,
            randomisation_images=randomisation_images,
            progress=progress,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for bar, _ in bars.values():
            bar.close()
    print_report(rep)
    if csv_dir is not None:
        csv_dir.mkdir(parents=True, exist_ok=True)
        for name in ("randomisation", "artifact_mass", "per_artifact", "counterfactual", "rows"):
            getattr(rep, name).to_csv(csv_dir / f"{name}.csv", index=False)
        click.echo(f"\nwrote CSV tables to {csv_dir}")


def print_report(rep) -> None:
    meta = rep.meta
    click.echo(
        f"{meta['images']} images with artifacts at {meta['size'][0]}x{meta['size'][1]}, "
        f"checkpoints: {', '.join(meta['checkpoints'])}, layer: {meta['layer'] or 'default'}"
    )
    print_table(
        "Model-parameter randomisation (Spearman trained vs randomised maps; passes when the "
        "median < 0.5 and no map is constant (nan))",
        rep.randomisation,
        ["method", "stage", "spearman_median", "spearman_mean", "n", "nan", "passes"],
    )
    print_table(
        "Artifact mass (share of positive attribution on the image's artifact regions; "
        "empty: maps without any positive attribution, left out)",
        rep.artifact_mass,
        [
            "method",
            "epoch",
            "group",
            "mass_mean",
            "mass_median",
            "area_mean",
            "enrichment_mean",
            "peak_rate",
            "n",
            "empty",
        ],
    )
    last = rep.per_artifact[rep.per_artifact["epoch"] == rep.per_artifact["epoch"].max()]
    print_table(
        "Artifact mass per artifact type, last checkpoint (images with one artifact type)",
        last,
        ["method", "epoch", "artifact", "group", "mass_mean", "enrichment_mean", "n"],
    )
    print_table(
        "Counterfactual check (Spearman across images: artifact mass vs similarity drop "
        "when the artifact is removed)",
        rep.counterfactual,
        [
            "method",
            "epoch",
            "n",
            "spearman_pair",
            "spearman_self",
            "drop_pair_mean",
            "drop_self_mean",
        ],
    )


# --------------------------------------------------------------------------- faithfulness


@command.command("faithfulness")
@data_options
@series_options
@click.option(
    "--methods",
    cls=MethodsOption,
    default_of={"slow": False, "reference": False},
    help="Comma list of methods, each compared with the reference method.",
)
@click.option("--epoch", type=EPOCH, default=None, help="Checkpoint epoch [default: the last].")
@click.option(
    "--images",
    "n_images",
    type=click.IntRange(1, 1000),
    default=8,
    show_default=True,
    help="Query images to use (the first N of the query split).",
)
@click.option(
    "--steps",
    type=click.IntRange(1, 1000),
    default=16,
    show_default=True,
    help="Steps of the deletion/insertion curves.",
)
@click.option("--road", is_flag=True, help="Also compute ROAD (slow: sparse solves).")
def faithfulness(
    data,
    manifest,
    root,
    checkpoints,
    arch,
    layer,
    cache_dir,
    no_cache,
    threads,
    device,
    methods,
    epoch,
    n_images,
    steps,
    road,
) -> None:
    """Deletion/insertion AUC (and ROAD) per method against RandomCAM."""
    from curation.images import load_rgb
    from explain.checks.faithfulness import faithfulness_check, faithfulness_summary
    from explain.models.preprocess import to_input

    names = _methods(methods)
    _setup(threads, cache_dir, True)
    ds = load_data(data, manifest, root)
    series = load_checkpoints(checkpoints, arch, device)
    chosen = series[-1] if epoch is None else next((m for m in series if m.epoch == epoch), None)
    if chosen is None:
        raise click.ClickException(f"no checkpoint of epoch {epoch} in {checkpoints}")
    rows = ds.split("query").head(n_images)
    images = [to_input(load_rgb(ds.path(i)), *chosen.input_size) for i in rows["image"]]
    from explain.heatmaps.catalog import reference_method

    params = {m: _params(m, layer) for m in [*names, reference_method()]}
    bar, progress = progress_bar("faithfulness")
    try:
        df = faithfulness_check(
            chosen.model, images, names, road=road, steps=steps, params=params, progress=progress
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    summary = faithfulness_summary(df)
    cols = [
        "method",
        "deletion_auc",
        "insertion_auc",
        *(["road"] if road else []),
        "beats_random_deletion",
        "beats_random_insertion",
        *(["beats_random_road"] if road else []),
        "n",
    ]
    print_table(
        f"Faithfulness on {len(images)} query images, {chosen.label} "
        "(deletion: lower is better; insertion, ROAD: higher)",
        summary,
        cols,
    )


# --------------------------------------------------------------------------- precompute


@command.command("precompute")
@data_options
@series_options
@occlusion_options
@click.option(
    "--methods",
    cls=MethodsOption,
    default="gradcam",
    show_default=True,
    help="Comma list of methods to cache.",
)
@click.option(
    "--split",
    "splits",
    type=click.Choice(["query", "gallery", "train"]),
    multiple=True,
    help="Which photos to explain (self-similarity target); repeat for several [default: query].",
)
@click.option("--all", "all_splits", is_flag=True, help="Every photo of every split.")
@click.option("--limit", type=COUNT, default=None, help="Only the first N photos of each split.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: Ray actors, each holding the loaded series.",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster to join (e.g. ray://head:10001 or auto) [default: start Ray locally].",
)
@click.option(
    "--workers",
    type=click.IntRange(1, MAX_THREADS),
    default=2,
    show_default=True,
    help="Ray actors (one CPU each).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1024),
    default=8,
    show_default=True,
    help="Photos per unit of work handed to a worker.",
)
def precompute(
    data,
    manifest,
    root,
    checkpoints,
    arch,
    layer,
    cache_dir,
    no_cache,
    threads,
    device,
    window,
    stride,
    baseline,
    methods,
    splits,
    all_splits,
    limit,
    engine,
    address,
    workers,
    batch_size,
) -> None:
    """Fill the heatmap cache for the photos of some splits and every checkpoint (the app then
    reads the maps instead of computing them). Resumable: maps already cached are skipped."""
    from explain.heatmaps.batch import precompute as run

    if no_cache:
        raise click.UsageError("precompute only fills the cache; drop --no-cache")
    if all_splits and splits:
        raise click.UsageError("give --all or --split, not both")
    if arch is not None:
        raise click.UsageError("precompute reads each checkpoint's architecture; drop --arch")
    names = _methods(methods)
    ds = load_data(data, manifest, root)
    params = {m: _params(m, layer, window, stride, baseline) for m in names}
    bar, progress = progress_bar("precompute", unit="map")
    try:
        result = run(
            ds, checkpoints, names, engine=engine, address=address, workers=workers,
            batch_size=batch_size, cache_dir=cache_dir,
            splits=None if all_splits else (list(splits) or ["query"]), limit=limit,
            params=params, threads=threads, device=device or "cpu", progress=progress,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
    n_ckpt = len(result.meta["checkpoints"])
    click.echo(
        f"{result.meta['images']} photos x {n_ckpt} checkpoints x {len(names)} method(s) = "
        f"{result.total} maps: {result.cached} already cached, {result.computed} computed "
        f"({result.engine}, {result.workers} worker(s), {result.seconds:.1f} s) in "
        f"{Path(cache_dir) / 'heatmaps'}"
    )
