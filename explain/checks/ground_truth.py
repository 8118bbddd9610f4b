"""The sample-data report: what the heatmaps of a checkpoint series say about planted artifacts.

On a dataset with ground truth (masks, counterfactuals, planted polluted posts) and a checkpoint
series: the share of each heatmap on the artifact regions of polluted vs clean posts per epoch,
whether that share tracks the similarity drop when the artifact is removed from the photo (the
counterfactual check), and the randomisation check of :mod:`explain.checks.randomisation`.
The ground truth only *measures* the workbench here; nothing else reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from explain.checks.randomisation import randomisation_check, randomisation_summary
from explain.heatmaps.catalog import method_params, names


@dataclass
class SampleReport:
    """The three tables of the sample-data report, plus the per-image rows behind them.

    ``randomisation``  method, stage, spearman_median, spearman_mean, n, nan, passes
    ``artifact_mass``  method, epoch, group (polluted/clean), mass_mean, mass_median,
                       area_mean, enrichment_mean, peak_rate, n, empty -- share of positive
                       attribution on the image's artifact regions; ``empty`` counts maps with
                       no positive attribution at all (left out of the means)
    ``counterfactual`` method, epoch, n, spearman_pair, spearman_self, drop_pair_mean,
                       drop_self_mean -- Spearman across images between artifact mass and the
                       similarity drop when the artifact is removed
    ``per_artifact``   method, epoch, artifact type, group, mass_mean, enrichment_mean, n --
                       the same mass per artifact type (images with one artifact type only)
    ``rows``           one row per image, epoch and method (masses and drops)
    """

    randomisation: pd.DataFrame
    artifact_mass: pd.DataFrame
    counterfactual: pd.DataFrame
    per_artifact: pd.DataFrame
    rows: pd.DataFrame
    meta: dict = field(default_factory=dict)


def _present(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value) and not (isinstance(value, float) and np.isnan(value))


def report_images(table: pd.DataFrame, limit: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Rows with at least one artifact mask, balanced between polluted and clean posts.

    With ``limit``, at most ``limit // 2`` of each group (seeded choice), sorted by image.
    """
    if "animal_mask" not in table.columns or not any(c.startswith("mask_") for c in table.columns):
        raise ValueError(
            "the dataset has no ground-truth masks (animal_mask, mask_<artifact> columns); "
            "the sample-data report needs the generated sample dataset (workbench generate)"
        )
    mask_cols = [c for c in table.columns if c.startswith("mask_")]
    has = table[mask_cols].apply(lambda r: any(_present(v) for v in r), axis=1)
    rows = table[has].copy()
    rows["polluted"] = rows.get("polluted", False).map(_truthy) if "polluted" in rows else False
    if limit is not None:
        parts = []
        for _, grp in rows.groupby("polluted", sort=True):
            n = min(len(grp), max(1, limit // 2))
            parts.append(grp.sample(n=n, random_state=seed) if n < len(grp) else grp)
        rows = pd.concat(parts)
    return rows.sort_values("image").reset_index(drop=True)


def _post_mates(table: pd.DataFrame, row: pd.Series) -> list[str]:
    same = table[(table["post_id"] == row["post_id"]) & (table["image"] != row["image"])]
    return list(same["image"])


def sample_report(
    dataset,
    series: Sequence[object],
    methods: Sequence[str] | None = None,
    *,
    limit: int | None = 120,
    randomisation_images: int = 8,
    layer: str | None = None,
    seed: int = 0,
    cache=None,
    progress: Callable[[str, int, int], None] | None = None,
    photos: dict[str, tuple] | None = None,
) -> SampleReport:
    """Run the sample-data checks on ``dataset`` (a :class:`curation.dataset.Dataset` with
    ground truth) and a checkpoint ``series`` (LoadedModel list, ordered by epoch).

    - randomisation Spearman per method on ``randomisation_images`` images, last checkpoint
      (0: skipped, an empty table);
    - artifact mass per method and epoch on images with artifacts, polluted vs clean posts;
    - counterfactual: for images with a counterfactual, the drop of the mean similarity to the
      other photos of the post (``drop_pair``) and of the similarity to the photo itself
      (``drop_self = 1 - cos(photo, counterfactual)``) when the artifact is removed, and their
      Spearman correlation with the artifact mass across images.

    ``methods``: None for every method of the catalog that is not slow (occlusion is);
    ``layer``: the CAM layer (None: the architecture's default).
    ``progress(stage, done, total)`` reports each stage. ``cache``: a HeatmapCache.
    ``photos``: :func:`report_photos` of the same dataset, ``limit``, ``seed`` and input size
    (another series' report reuses them instead of reading the files again).
    """
    from explain.heatmaps.series import members
    from explain.retrieval.embeddings import extract

    ms = members(series)
    size = _input_size(series)
    chosen = report_images(dataset.table, limit, seed)
    if chosen.empty:
        raise ValueError("no image of the dataset has an artifact mask; nothing to report")
    methods = names(slow=False) if methods is None else list(methods)
    params = {m: method_params(m, layer=layer) for m in methods}

    def note(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    if photos is None:
        photos = _photos(dataset, chosen, size)
    elif set(photos) != set(chosen["image"]) or any(
        tuple(p[0].shape[-2:]) != size for p in photos.values()
    ):
        raise ValueError(
            "the photos given are not this report's (other images or input size); pass "
            "report_photos(dataset, limit, seed, size) of the same arguments, or None"
        )
    picks = list(chosen["image"])[: max(0, randomisation_images)]
    randomisation = _randomisation(ms[-1].model, photos, picks, methods, params, seed, note)
    rows = _mass_rows(ms, chosen, photos, methods, params, cache, note)
    cache_root = getattr(cache, "root", None)  # embeddings cached beside the heatmaps
    drops = _counterfactual_drops(dataset, chosen, ms, size, extract, note, cache_root)
    rows = rows.merge(drops, on=["image", "label"], how="left")
    return SampleReport(
        randomisation=randomisation,
        artifact_mass=_mass_table(rows),
        per_artifact=_per_artifact_table(rows),
        counterfactual=_counterfactual_table(rows),
        rows=rows,
        meta={"images": len(chosen), "size": list(size), "methods": list(methods),
              "checkpoints": [m.label for m in ms], "layer": layer},
    )  # fmt: skip


def report_photos(dataset, limit: int | None, seed: int, size: tuple[int, int]) -> dict[str, tuple]:
    """The photos :func:`sample_report` scores for ``limit`` and ``seed`` at input ``size``
    ``(H, W)``: ``{image: (input (1, 3, H, W), (animal mask, artifact masks), file SHA-1)}``."""
    return _photos(dataset, report_images(dataset.table, limit, seed), size)


def _photos(dataset, chosen: pd.DataFrame, size: tuple[int, int]) -> dict[str, tuple]:
    """Per chosen image: ``(input tensor, (animal mask, artifact masks), file SHA-1)``."""
    from curation.images import file_sha1, load_rgb
    from explain.heatmaps.scores import masks_for_row
    from explain.models.preprocess import to_input

    out = {}
    for _, row in chosen.iterrows():
        path = dataset.path(row["image"])
        out[row["image"]] = (to_input(load_rgb(path), *size), masks_for_row(dataset, row, size),
                             file_sha1(path))  # fmt: skip
    return out


def _randomisation(model, photos, picks, methods, params, seed, note) -> pd.DataFrame:
    """Step 1: the randomisation check on the last checkpoint (no picks: an empty table)."""
    if not picks:
        return pd.DataFrame(columns=["method", "stage", "spearman_median", "spearman_mean", "n",
                                     "nan", "passes"])  # fmt: skip
    rnd = randomisation_check(
        model, [photos[i][0] for i in picks], methods, seed=seed, params=params,
        progress=lambda d, t: note("randomisation", d, t),
    )  # fmt: skip
    return randomisation_summary(rnd)


def _mass_rows(ms, chosen, photos, methods, params, cache, note) -> pd.DataFrame:
    """Step 2: every chosen image's map per checkpoint and method, scored on its regions."""
    from explain.heatmaps.batched import cached_self_maps
    from explain.heatmaps.scores import score_heatmap

    records, done = [], 0
    total = len(ms) * len(chosen) * len(methods)
    images = list(chosen["image"])
    for m in ms:
        maps = {}
        for method in methods:  # the gradient CAMs a batch of photos at a time
            maps[method] = cached_self_maps(
                cache if m.sha1 else None, m.model, [photos[i][0] for i in images], method,
                checkpoint_sha1=m.sha1, image_sha1s=[photos[i][2] for i in images],
                **params[method],
            )  # fmt: skip
            done += len(images)
            note("heatmaps", done, total)
        for k, (_, row) in enumerate(chosen.iterrows()):
            _, (animal, arts), _ = photos[row["image"]]
            for method in methods:
                hm = maps[method][k]
                by_region = {s.region: s for s in score_heatmap(hm, animal, arts)}
                records.append(
                    {
                        "image": row["image"], "post_id": row["post_id"],
                        "split": row["split"], "polluted": bool(row["polluted"]),
                        "artifact": row.get("homogeneous_artifact") or "",
                        "artifacts": ";".join(sorted(arts)), "epoch": m.epoch,
                        "label": m.label, "method": method,
                        "artifact_mass": by_region["artifacts"].mass,
                        "artifact_area": by_region["artifacts"].area,
                        "artifact_enrichment": by_region["artifacts"].enrichment,
                        "artifact_peak": by_region["artifacts"].peak,
                        "animal_mass": by_region["animal"].mass if "animal" in by_region
                        else float("nan"),
                    }
                )  # fmt: skip
    return pd.DataFrame(records)


def _input_size(series: Sequence[object]) -> tuple[int, int]:
    sizes = {tuple(getattr(m, "input_size", (256, 128))) for m in series}
    if len(sizes) != 1:
        raise ValueError(f"the checkpoints were trained at different input sizes {sorted(sizes)}")
    (h, w) = sizes.pop()
    return int(h), int(w)


def _cached_features(model, sha1, paths, size, extract, cache_root) -> np.ndarray:
    """``extract`` through the embedding disk cache (same keys as
    :func:`explain.retrieval.embeddings.embed_dataset`) when there is a cache and a checkpoint
    hash."""
    if cache_root is None or not sha1:
        return extract(model, paths, height=size[0], width=size[1])
    from explain.retrieval.embeddings import embedding_key
    from explain.storage.cache import DiskCache
    from explain.storage.hashing import content_hashes

    disk = DiskCache(cache_root, "embeddings")
    key = embedding_key(sha1, content_hashes(paths), size[0], size[1], False)
    hit = disk.get(key)
    if hit is not None:
        if hit["features"].shape[0] != len(paths):
            raise ValueError(
                f"cache entry {disk.path(key)} holds {hit['features'].shape[0]} rows for "
                f"{len(paths)} images; delete it and it will be recomputed"
            )
        return hit["features"].astype(np.float32)
    feats = extract(model, paths, height=size[0], width=size[1])
    disk.put(key, {"features": feats})
    return feats


def _counterfactual_drops(
    dataset, chosen, ms, size, extract, note, cache_root=None
) -> pd.DataFrame:
    table = dataset.table
    columns = ["image", "label", "drop_pair", "drop_self"]
    if "counterfactual" not in chosen.columns:
        return pd.DataFrame(columns=columns)
    has_cf = chosen[chosen["counterfactual"].map(_present)]
    out = []
    if has_cf.empty:
        return pd.DataFrame(columns=columns)
    for k, m in enumerate(ms):
        paths: dict[str, int] = {}
        for _, row in has_cf.iterrows():
            for entry in (row["image"], row["counterfactual"], *_post_mates(table, row)):
                paths.setdefault(entry, len(paths))
        feats = _cached_features(
            m.model, m.sha1, [dataset.path(p) for p in paths], size, extract, cache_root
        )
        for _, row in has_cf.iterrows():
            e = feats[paths[row["image"]]]
            cf = feats[paths[row["counterfactual"]]]
            mates = [feats[paths[p]] for p in _post_mates(table, row)]
            pair = float(np.mean([e @ q - cf @ q for q in mates])) if mates else float("nan")
            out.append(
                {"image": row["image"], "label": m.label, "drop_pair": pair,
                 "drop_self": float(1.0 - e @ cf)}
            )  # fmt: skip
        note("counterfactuals", k + 1, len(ms))
    return pd.DataFrame(out)


def _mass_table(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.assign(group=np.where(rows["polluted"], "polluted", "clean"))
    g = rows.groupby(["method", "epoch", "group"], sort=True, dropna=False)
    return pd.DataFrame(
        {
            "mass_mean": g["artifact_mass"].mean(),
            "mass_median": g["artifact_mass"].median(),
            "area_mean": g["artifact_area"].mean(),
            "enrichment_mean": g["artifact_enrichment"].mean(),
            "peak_rate": g["artifact_peak"].mean(),
            "n": g["artifact_mass"].count(),
            "empty": g["artifact_mass"].apply(lambda s: int(s.isna().sum())),
        }
    ).reset_index()


def _per_artifact_table(rows: pd.DataFrame) -> pd.DataFrame:
    one = rows[~rows["artifacts"].str.contains(";")]
    one = one.assign(group=np.where(one["polluted"], "polluted", "clean"))
    g = one.groupby(["method", "epoch", "artifacts", "group"], sort=True, dropna=False)
    out = pd.DataFrame(
        {
            "mass_mean": g["artifact_mass"].mean(),
            "enrichment_mean": g["artifact_enrichment"].mean(),
            "n": g["artifact_mass"].count(),
        }
    ).reset_index()
    return out.rename(columns={"artifacts": "artifact"})


def _spearman(a: pd.Series, b: pd.Series) -> float:
    ok = a.notna() & b.notna()
    if ok.sum() < 3 or a[ok].nunique() < 2 or b[ok].nunique() < 2:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)


def _counterfactual_table(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    cf = rows[rows["drop_self"].notna()] if "drop_self" in rows else rows.iloc[0:0]
    for (method, epoch), grp in cf.groupby(["method", "epoch"], sort=True, dropna=False):
        out.append(
            {"method": method, "epoch": epoch, "n": len(grp),
             "spearman_pair": _spearman(grp["artifact_mass"], grp["drop_pair"]),
             "spearman_self": _spearman(grp["artifact_mass"], grp["drop_self"]),
             "drop_pair_mean": float(grp["drop_pair"].mean()),
             "drop_self_mean": float(grp["drop_self"].mean())}
        )  # fmt: skip
    return pd.DataFrame(
        out,
        columns=["method", "epoch", "n", "spearman_pair", "spearman_self", "drop_pair_mean",
                 "drop_self_mean"],
    )  # fmt: skip
