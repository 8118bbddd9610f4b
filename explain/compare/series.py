"""Compare two checkpoint series on one dataset: a baseline and a retrain on curated data.

What :func:`compare_series` measures, for both series, epochs matched by number:

- retrieval metrics per epoch (mAP, rank-1/5/10, mINP, torchreid's protocol) on all queries and,
  when the dataset has ground truth, on the *clean* queries only (query photos without any
  artifact): a curated model should hold or gain there;
- artifact attribution mass per artifact type, polluted vs clean posts
  (:func:`explain.checks.ground_truth.sample_report`): the share of each heatmap on the artifact
  regions;
- the counterfactual similarity drop: how much the similarity to the post's other photos
  (``drop_pair``) and to the photo itself (``drop_self``) falls when the artifact is removed
  from the photo (the sample data has such re-renders). A model that matches on the artifact
  loses more;
- one heatmap grid per method: rows = queries, columns = epochs × series.

Heatmaps go through the disk cache (:class:`explain.heatmaps.cache.HeatmapCache`, the keys
``workbench explain precompute`` fills), embeddings through the embedding cache in the same
folder, so a second comparison is fast. The first one is made faster three ways: the gradient
CAMs of a checkpoint run 16 photos at a time (:mod:`explain.heatmaps.batched`), each photo is
decoded once for all checkpoints (:func:`explain.retrieval.inputs.shared_inputs`), and both
series' sample reports score the photos read once. :func:`explain.compare.report.write_report`
turns the :class:`~explain.compare.comparison.Comparison` into an HTML report with CSV tables and
grid PNGs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from explain.compare.comparison import Comparison
from explain.heatmaps.cache import HeatmapCache
from explain.retrieval.metrics import RANKS

SERIES = ("baseline", "curated")
METRICS = ("mAP", "rank1", "rank5", "rank10", "mINP")
StageProgress = Callable[[str, int, int], None]  # (stage, done, total)


def _present(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def subset_metrics(per_query: pd.DataFrame, keep: pd.Series | None = None) -> dict:
    """mAP, rank-k and mINP over the valid queries of a per-query table (optionally only the
    rows where ``keep``), as :func:`explain.retrieval.metrics.evaluate` averages them."""
    table = per_query if keep is None else per_query[keep.to_numpy()]
    valid = table[table["in_gallery"]]
    out: dict = {"num_query": len(table), "num_valid": len(valid)}
    if valid.empty:
        return {**out, **{m: float("nan") for m in METRICS}}
    ranks = valid["rank"].astype(float).to_numpy()
    out["mAP"] = float(valid["ap"].mean())
    out["mINP"] = float(valid["inp"].mean())
    for r in RANKS:
        out[f"rank{r}"] = float(np.mean(ranks <= r))
    return out


def clean_queries(dataset) -> set[str] | None:
    """Query images without any ground-truth artifact; None when the dataset has no ground
    truth."""
    if not dataset.has_ground_truth:
        return None
    query = dataset.split("query")
    return set(query.loc[~query["artifacts"].map(_present), "image"])


def _metrics(dataset, series: dict[str, list], cache_dir, note, clean=None, sink=None):
    """The metrics table; per-query rows (series, epoch, query, ap, rank1, clean) go to
    ``sink`` (a list) when given."""
    from explain.retrieval.series import evaluate_series

    clean = clean_queries(dataset) if clean is None else clean
    rows = []
    for name, models in series.items():
        ev = evaluate_series(
            dataset, models, cache_dir=cache_dir,
            progress=lambda d, t, name=name: note(f"embeddings {name}", d, t),
        )  # fmt: skip
        for (_, m), table in zip(ev.metrics.iterrows(), ev.per_query, strict=True):
            base = {"series": name, "epoch": int(m["epoch"])}
            rows.append({**base, "subset": "all", **subset_metrics(table)})
            if sink is not None:
                sink.append(_query_rows(table, base, clean))
            if clean is not None:
                keep = table["query"].isin(clean)
                rows.append({**base, "subset": "clean", **subset_metrics(table, keep)})
    cols = ["series", "epoch", "subset", *METRICS, "num_query", "num_valid"]
    return pd.DataFrame(rows)[cols]


def _query_rows(table: pd.DataFrame, base: dict, clean: set | None) -> pd.DataFrame:
    valid = table[table["in_gallery"]]
    return pd.DataFrame(
        {
            **{k: [v] * len(valid) for k, v in base.items()},
            "query": valid["query"].to_numpy(),
            "ap": valid["ap"].to_numpy(dtype=float),
            "rank1": (valid["rank"].astype(float) == 1).to_numpy(dtype=float),
            "clean": valid["query"].isin(clean or set()).to_numpy(),
        }
    )


def deltas(table: pd.DataFrame, keys: Sequence[str], values: Sequence[str]) -> pd.DataFrame:
    """Baseline and curated side by side for the rows both series have (epochs matched by
    number): ``*keys, measure, baseline, curated, delta``; rows of one series only are dropped."""
    long = table.melt(id_vars=["series", *keys], value_vars=list(values), var_name="measure")
    wide = long.pivot_table(index=[*keys, "measure"], columns="series", values="value",
                            dropna=False, observed=True)  # fmt: skip
    for name in SERIES:
        if name not in wide.columns:
            wide[name] = np.nan
    wide = wide.reset_index()
    wide = wide[wide["baseline"].notna() | wide["curated"].notna()]
    both = wide[wide[["baseline", "curated"]].notna().all(axis=1)].copy()
    both["delta"] = both["curated"] - both["baseline"]
    return both[[*keys, "measure", "baseline", "curated", "delta"]].reset_index(drop=True)


def _attribution(dataset, series, methods, limit, cache, note) -> tuple[pd.DataFrame, pd.DataFrame]:
    from explain.checks.ground_truth import report_photos, sample_report

    mass, drops = [], []
    shared: dict[tuple, dict] = {}  # both series score the same photos: read them once per size
    for name, models in series.items():
        size = tuple(int(v) for v in getattr(models[0], "input_size", (256, 128)))
        if size not in shared:
            shared[size] = report_photos(dataset, limit, 0, size)
        rep = sample_report(
            dataset, models, methods, limit=limit, randomisation_images=0, cache=cache,
            progress=lambda s, d, t, name=name: note(f"{s} {name}", d, t),
            photos=shared.get(size),
        )  # fmt: skip
        per = rep.per_artifact.assign(series=name)
        anyart = rep.artifact_mass.assign(series=name, artifact="any")
        cols = ["series", "method", "epoch", "artifact", "group", "mass_mean",
                "enrichment_mean", "n"]  # fmt: skip
        mass.append(pd.concat([anyart[cols], per[cols]], ignore_index=True))
        drops.append(_drops(rep.rows).assign(series=name))
    mass_table = pd.concat(mass, ignore_index=True)
    mass_table["epoch"] = mass_table["epoch"].astype(int)
    drop_table = pd.concat(drops, ignore_index=True)
    cols = ["series", "epoch", "group", "drop_pair_mean", "drop_self_mean", "n"]
    return mass_table, drop_table[cols]


def _drops(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean similarity drops per epoch and group (one row per image: drops do not depend on
    the heatmap method)."""
    cols = ["epoch", "group", "drop_pair_mean", "drop_self_mean", "n"]
    if "drop_self" not in rows or rows["drop_self"].notna().sum() == 0:
        return pd.DataFrame(columns=cols)
    one = rows[rows["drop_self"].notna()].drop_duplicates(["image", "epoch"])
    one = one.assign(group=np.where(one["polluted"], "polluted", "clean"))
    both = pd.concat([one, one.assign(group="all")], ignore_index=True)
    g = both.groupby(["epoch", "group"], sort=True)
    out = pd.DataFrame({"drop_pair_mean": g["drop_pair"].mean(),
                        "drop_self_mean": g["drop_self"].mean(),
                        "n": g["drop_self"].count()}).reset_index()  # fmt: skip
    out["epoch"] = out["epoch"].astype(int)
    return out[cols]


def pick_queries(dataset, n: int, seed: int = 0) -> list[str]:
    """``n`` query images for the grids: half with artifacts (when the dataset says), half
    without, seeded, sorted by image."""
    query = dataset.split("query")
    if n < 1 or query.empty:
        return []
    if not dataset.has_ground_truth:
        return sorted(query["image"].sample(n=min(n, len(query)), random_state=seed))
    has = query["artifacts"].map(_present)
    with_art = query.loc[has, "image"]
    without = query.loc[~has, "image"]
    k = min(len(with_art), (n + 1) // 2)
    k_clean = min(len(without), n - k)
    k = min(len(with_art), n - k_clean)
    picks = [
        *with_art.sample(n=k, random_state=seed),
        *without.sample(n=k_clean, random_state=seed),
    ]
    return sorted(picks)


def _load(series: str | Path | Sequence[object], device: str | None) -> list:
    from explain.models.series import load_series

    if isinstance(series, str | Path):
        return load_series(series, device=device)
    models = list(series)
    if not models:
        raise ValueError("a series is empty; give a checkpoint folder or loaded models")
    return models


def _folder(models: Sequence[object]) -> Path | None:
    """The folder of a loaded series (where its ``recipe.json`` lies), None for bare models."""
    path = getattr(models[0], "path", None)
    return Path(path).parent if path is not None else None


MAX_RECIPE_BYTES = 1 << 20  # a recipe.json is about 2 KB


def _recipe(folder: Path | None) -> dict | None:
    """The series' ``recipe.json`` (None when there is none); ValueError naming the file when
    it is not a JSON object of at most 1 MB."""
    path = folder / "recipe.json" if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise ValueError(f"larger than {MAX_RECIPE_BYTES:,} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(
            f"{path}: not a readable recipe.json ({exc}); move it aside or restore the one "
            "written by workbench train"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a workbench recipe.json (not a JSON object)")
    return data


def recipe_differences(a: dict | None, b: dict | None) -> dict[str, list]:
    """Recipe fields whose values differ: ``{field: [baseline, curated]}`` (empty: same recipe)."""
    if a is None or b is None:
        return {}
    ra, rb = (r.get("recipe") if isinstance(r.get("recipe"), dict) else {} for r in (a, b))
    return {k: [ra.get(k), rb.get(k)] for k in sorted(set(ra) | set(rb)) if ra.get(k) != rb.get(k)}


def compare_series(
    dataset,
    baseline: str | Path | Sequence[object],
    curated: str | Path | Sequence[object],
    *,
    methods: Sequence[str] = ("gradcam",),
    n_queries: int = 8,
    limit: int | None = 120,
    cache: HeatmapCache | None = None,
    grid_dir: str | Path | None = None,
    device: str | None = None,
    seed: int = 0,
    progress: StageProgress | None = None,
    tags: pd.DataFrame | None = None,
) -> Comparison:
    """Compare the ``baseline`` and ``curated`` series (checkpoint folders, or lists of
    :class:`explain.models.checkpoints.LoadedModel`) on ``dataset``'s query/gallery split.

    ``limit``: at most this many images with artifacts for the attribution tables (half from
    polluted posts, half clean; None: all). ``n_queries``: rows of the heatmap grids.
    ``grid_dir``: where the grid PNGs go (default: ``<cache root>/compare``; a temporary folder
    without a cache). Artifact mass and counterfactual tables need ground truth (masks,
    counterfactual re-renders); without it they are empty — unless ``tags`` (the tag store's
    ``current()``) is given: then clean queries and artifact regions come from the annotators
    (:mod:`explain.compare.tags`).
    """

    def note(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    from explain.retrieval.inputs import shared_inputs

    with shared_inputs():  # every checkpoint embeds the same photos: decode them once
        loaded = {"baseline": _load(baseline, device), "curated": _load(curated, device)}
        cache_dir = cache.root if cache is not None else None
        clean = None
        if tags is not None and not dataset.has_ground_truth:
            from explain.compare.tags import clean_from_tags

            clean = clean_from_tags(dataset, tags)
        per_query: list[pd.DataFrame] = []
        metrics = _metrics(dataset, loaded, cache_dir, note, clean, sink=per_query)
        if "animal_mask" in dataset.table.columns:
            mass, drops = _attribution(dataset, loaded, methods, limit, cache, note)
        elif tags is not None:
            from explain.compare.tags import region_mass

            note("tagged regions", 0, 1)
            mass = region_mass(dataset, loaded, tags, methods, cache=cache, limit=limit)
            note("tagged regions", 1, 1)
            drops = pd.DataFrame(columns=["series", "epoch", "group", "drop_pair_mean",
                                          "drop_self_mean", "n"])  # fmt: skip
        else:
            mass = pd.DataFrame(columns=["series", "method", "epoch", "artifact", "group",
                                         "mass_mean", "enrichment_mean", "n"])  # fmt: skip
            drops = pd.DataFrame(columns=["series", "epoch", "group", "drop_pair_mean",
                                          "drop_self_mean", "n"])  # fmt: skip
        queries = pick_queries(dataset, n_queries, seed)
        grids, columns = _grids(dataset, loaded, queries, methods, grid_dir, cache, note)
        return Comparison(
            metrics=metrics,
            metric_deltas=deltas(metrics, ["epoch", "subset"], METRICS),
            artifact_mass=mass,
            artifact_deltas=deltas(
                mass, ["method", "epoch", "artifact", "group"], ["mass_mean", "enrichment_mean"]
            ),
            counterfactual=drops,
            counterfactual_deltas=deltas(
                drops, ["epoch", "group"], ["drop_pair_mean", "drop_self_mean"]
            ),
            queries=queries,
            columns=columns,
            grids=grids,
            meta=_meta(dataset, loaded, methods, limit, clean, tags),
            per_query=pd.concat(per_query, ignore_index=True) if per_query else None,
        )


def _grids(dataset, loaded, queries, methods, grid_dir, cache, note) -> tuple[dict, list[str]]:
    """One heatmap grid PNG per method (none without queries): ``({method: path}, columns)``."""
    import tempfile

    from explain.compare.grid import heatmap_grid

    if grid_dir is None:
        grid_dir = (cache.root / "compare") if cache is not None else tempfile.mkdtemp()
    grids, columns = {}, []
    for method in methods if queries else ():
        path, columns = heatmap_grid(
            dataset, loaded, queries, method, Path(grid_dir), cache=cache,
            progress=lambda d, t, method=method: note(f"grid {method}", d, t),
        )  # fmt: skip
        grids[method] = path
    return grids, columns


def _meta(dataset, loaded: dict[str, list], methods, limit, clean=None, tags=None) -> dict:
    """What was compared: series folders, dataset, epochs, where the clean queries came from,
    recipe differences, train sizes."""
    epochs = {k: [int(m.epoch) for m in v] for k, v in loaded.items()}
    folders = {k: _folder(v) for k, v in loaded.items()}
    recipes = {k: _recipe(f) for k, f in folders.items()}
    return {
        "baseline": str(folders["baseline"] or "models"),
        "curated": str(folders["curated"] or "models"),
        "dataset": dataset.source or str(dataset.root),
        "methods": list(methods),
        "epochs": epochs,
        "matched_epochs": sorted(set(epochs["baseline"]) & set(epochs["curated"])),
        "clean_queries": len(clean if clean is not None else clean_queries(dataset) or ()),
        "clean_from": "ground truth"
        if dataset.has_ground_truth
        else ("tag store" if tags is not None else "none"),
        "recipe_differences": recipe_differences(recipes["baseline"], recipes["curated"]),
        "train_images": {k: (r or {}).get("train_images") for k, r in recipes.items()},
        "train_posts": {k: (r or {}).get("train_posts") for k, r in recipes.items()},
        "limit": limit,
    }
