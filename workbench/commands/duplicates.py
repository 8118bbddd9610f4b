"""`workbench duplicates`: exact and near duplicates inside posts, reposts across posts, and
train/test leakage."""

from __future__ import annotations

import math
from pathlib import Path

import click

from workbench.commands.options import cache_option, data_options, load_data, progress_bar


def _write_csv(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


@click.command("duplicates")
@data_options
@click.option(
    "--checkpoints",
    type=click.Path(path_type=Path),
    default=None,
    help="Also require embedding similarity, with a checkpoint of this series.",
)
@click.option("--epoch", type=int, default=None, help="Checkpoint epoch [default: the last].")
@click.option("--arch", default=None, help="torchreid model name [default: inferred].")
@cache_option("Cache folder for hashes and embeddings.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the cache.")
@click.option(
    "--intra-hash",
    type=int,
    default=6,
    show_default=True,
    help="Inside a post: largest pHash distance (bits of 64).",
)
@click.option(
    "--intra-sim",
    type=float,
    default=0.97,
    show_default=True,
    help="Inside a post: smallest embedding similarity.",
)
@click.option(
    "--inter-hash",
    type=int,
    default=10,
    show_default=True,
    help="Across posts and train/test: largest pHash distance.",
)
@click.option(
    "--inter-sim",
    type=float,
    default=0.92,
    show_default=True,
    help="Across posts and train/test: smallest embedding similarity.",
)
@click.option(
    "--intra-pixels",
    type=float,
    default=3.0,
    show_default=True,
    help="Inside a post: largest thumbnail difference (0-255).",
)
@click.option(
    "--inter-pixels",
    type=float,
    default=6.0,
    show_default=True,
    help="Across posts and train/test: largest thumbnail difference (0-255).",
)
@click.option(
    "--copy-inliers",
    type=click.IntRange(0, 10_000),
    default=None,
    help="Any scope: local keypoints one shift-scale-rotation must map from one photo onto the "
    "other for a near-copy (crops, overlays, colour shifts, new masks); 0 turns the check off "
    "[default: 25, chosen on reposts of real photos].",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the groups (one row per image) to this CSV.",
)
@click.option(
    "--pairs",
    "pairs_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the flagged pairs to this CSV.",
)
@click.option("--threads", type=int, default=None, help="CPU threads [default: 2].")
@click.option("--device", default=None, help="cpu, cuda ... [default: GPU if any].")
def command(
    data,
    manifest,
    root,
    checkpoints,
    epoch,
    arch,
    cache_dir,
    no_cache,
    intra_hash,
    intra_sim,
    inter_hash,
    inter_sim,
    intra_pixels,
    inter_pixels,
    copy_inliers,
    out,
    pairs_out,
    threads,
    device,
) -> None:
    """Find the same photo twice: within a post (strict thresholds, photos of one ad are alike),
    across posts (reposts) and between train and query/gallery (leakage)."""
    from explain.models.device import set_threads
    from explain.retrieval.duplicates import Thresholds, find_duplicates

    set_threads(threads)
    cache = None if no_cache else cache_dir
    ds = load_data(data, manifest, root)
    features = None
    if checkpoints is not None:
        from explain.retrieval.embeddings import embed_dataset
        from workbench.commands.options import load_checkpoints, pick_checkpoint

        model = pick_checkpoint(load_checkpoints(checkpoints, arch, device), epoch)
        bar, progress = progress_bar(f"embedding ({model.label})")
        try:
            features = embed_dataset(model, ds, cache_dir=cache, progress=progress).features
        finally:
            bar.close()
    thresholds = Thresholds(
        intra_hash=intra_hash,
        intra_similarity=intra_sim,
        inter_hash=inter_hash,
        inter_similarity=inter_sim,
        intra_pixels=intra_pixels,
        inter_pixels=inter_pixels,
        **({} if copy_inliers is None else {"copy_inliers": copy_inliers}),
    )
    bar, progress = progress_bar("hashing")
    try:
        dup = find_duplicates(
            ds, features=features, thresholds=thresholds, cache_dir=cache, progress=progress
        )
    finally:
        bar.close()
    evidence = "pHash + thumbnail" + (" + embedding similarity" if features is not None else "")
    if thresholds.copy_inliers:
        evidence += f", or >= {thresholds.copy_inliers} matching keypoints"
    click.echo(f"{len(ds.table)} images, {len(dup.pairs)} flagged pair(s) ({evidence})")
    groups = dup.groups
    for gid, g in groups.groupby("group", sort=True):
        click.echo(f"group {gid} [{g['scope'].iloc[0]}]")
        for _, r in g.iterrows():
            sim = "" if math.isnan(r["similarity"]) else f"  similarity {r['similarity']:.3f}"
            click.echo(
                f"  {r['image']:<40} post {r['post_id']:<12} {r['split']:<8} {r['kind']:<5} "
                f"hash {r['hash_distance']:>2}  pixels {r['pixel_difference']:5.1f}  "
                f"keypoints {r['inliers']:>3}{sim}"
            )
    if not groups.empty:
        click.echo(dup.summary().to_string(index=False))
    from explain.retrieval.leakage import query_gallery_leaks

    leaks = query_gallery_leaks(groups)
    if not leaks.empty:
        click.echo(
            f"leakage: {len(leaks)} query/gallery pair(s) are one picture "
            f"({', '.join(sorted(set(leaks['query'])))}); `workbench evaluate` leaves them out "
            "of its headline metrics, the duplicates rule drops the gallery copies"
        )
    if out is not None:
        _write_csv(groups, out)
        click.echo(f"groups written to {out}")
    if pairs_out is not None:
        _write_csv(dup.pairs, pairs_out)
        click.echo(f"pairs written to {pairs_out}")
