"""Faithfulness checks a data scientist can run on any model (tiny ones included).

- Model-parameter randomisation (Adebayo et al. 2018): re-initialise the weights and compare the
  maps of the randomised model with the trained model's (Spearman over pixels). A method whose
  maps stay similar explains the image, not the model: it fails the check.
- Deletion / insertion curves (Petsiuk et al. 2018): hide (or reveal) pixels from the most to
  the least salient and follow the target; compared against pytorch-grad-cam's ``RandomCAM``.
- ROAD (Rong et al. 2022) through pytorch-grad-cam's ``ROADCombined`` (noisy linear imputation).

- The sample-data report (:func:`sample_report`): on a dataset with ground truth (masks,
  counterfactuals, planted polluted posts) and a checkpoint series, the share of each heatmap on
  the artifact regions of polluted vs clean posts per epoch, and whether that share tracks the
  similarity drop when the artifact is removed from the photo (the counterfactual check).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from torch import nn

from explain.heatmaps.base import as_batch, compute, explaining, model_device
from explain.heatmaps.engine import engine_for
from explain.heatmaps.methods.occlusion import baseline_image
from explain.heatmaps.series import change_score
from explain.heatmaps.targets import EmbeddingTarget, SelfSimilarity, as_target

Progress = Callable[[int, int], None]
RANDOMISATION_THRESHOLD = 0.5
_SEED_OFFSET = 1_000_003  # median Spearman at or above this: the method fails the check


# --------------------------------------------------------------------------- randomisation


def randomisable_layers(model: nn.Module) -> list[str]:
    """Top-level children holding parameters, output side first (the cascade's order)."""
    names = [n for n, m in model.named_children() if any(True for _ in m.parameters())]
    return names[::-1]


def randomised_copy(
    model: nn.Module, seed: int = 0, layers: Sequence[str] | None = None
) -> nn.Module:
    """A copy of ``model`` with the weights of ``layers`` (default: all) re-initialised.

    Every submodule with ``reset_parameters`` (convolutions, linear layers, batch norms with
    their running statistics) is reset from torch's generator seeded from ``seed``. The
    caller's model and torch's global random state are untouched. The copy is in eval mode.
    """
    clone = copy.deepcopy(model)
    roots = [clone] if layers is None else [clone.get_submodule(n) for n in layers]
    with torch.random.fork_rng(devices=[]):
        # offset: models built right after torch.manual_seed(seed) would get their own weights
        torch.manual_seed(_SEED_OFFSET + seed)
        reset = 0
        for root in roots:
            for m in root.modules():
                if callable(getattr(m, "reset_parameters", None)):
                    m.reset_parameters()
                    reset += 1
    if reset == 0:
        raise ValueError("no layer with reset_parameters() found: nothing to randomise")
    return clone.eval()


def randomisation_check(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    methods: Sequence[str],
    *,
    cascade: bool = False,
    seed: int = 0,
    params: dict[str, dict] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Spearman between the trained and the randomised model's maps, per method and image.

    ``cascade=False`` randomises all weights at once (stage ``"all"``); ``cascade=True``
    randomises top-level blocks cumulatively from the output side (stages ``"fc"``,
    ``"fc+conv5"`` ...). Each model explains its own embedding (``SelfSimilarity``).
    Returns rows ``method, stage, image, spearman``.
    """
    params = params or {}
    if cascade:
        order = randomisable_layers(model)
        stages = [("+".join(order[: k + 1]), order[: k + 1]) for k in range(len(order))]
    else:
        stages = [("all", None)]
    models = [(name, randomised_copy(model, seed, layers)) for name, layers in stages]
    rows = []
    total, done = len(methods) * len(images) * len(models), 0
    for method in methods:
        for i, x in enumerate(images):
            trained = compute(method, model, x, SelfSimilarity(), **params.get(method, {}))
            for stage, rnd in models:
                hm = compute(method, rnd, x, SelfSimilarity(), **params.get(method, {}))
                rows.append(
                    {"method": method, "stage": stage, "image": i,
                     "spearman": change_score(trained.map, hm.map)}
                )  # fmt: skip
                done += 1
                if progress is not None:
                    progress(done, total)
    return pd.DataFrame(rows, columns=["method", "stage", "image", "spearman"])


def randomisation_summary(
    rows: pd.DataFrame, threshold: float = RANDOMISATION_THRESHOLD
) -> pd.DataFrame:
    """Median/mean Spearman per method and stage; ``passes`` when the median < ``threshold``.

    A constant map (NaN Spearman) counts as failing: it carries no ranking at all.
    """
    g = rows.groupby(["method", "stage"], sort=False)["spearman"]
    out = pd.DataFrame(
        {
            "spearman_median": g.median(),
            "spearman_mean": g.mean(),
            "n": g.size(),
            "nan": g.apply(lambda s: int(s.isna().sum())),
        }
    ).reset_index()
    out["passes"] = (out["spearman_median"] < threshold) & (out["nan"] == 0)
    return out


# --------------------------------------------------------------------------- deletion / insertion


def _order(saliency: np.ndarray, seed: int) -> np.ndarray:
    """Pixel indices from the most to the least salient; ties broken by a seeded shuffle."""
    flat = np.asarray(saliency, dtype=np.float64).ravel()
    tie = np.random.default_rng(seed).permutation(flat.size)
    return np.lexsort((tie, -flat))


def perturbation_curves(
    model: nn.Module,
    x: torch.Tensor,
    target: object,
    saliency: np.ndarray,
    *,
    steps: int = 16,
    baseline: str = "blur",
    seed: int = 0,
    engine: str = "auto",
) -> dict:
    """Deletion and insertion curves of one saliency map ``(H, W)``.

    Deletion: replace the top ``k / steps`` share of pixels by the baseline and score the
    target (bound to the clean embedding); insertion: start from the baseline and reveal them.
    Returns ``fractions``, ``deletion``, ``insertion`` (arrays of ``steps + 1`` target values)
    and their areas under the curve ``deletion_auc`` (lower = more faithful) and
    ``insertion_auc`` (higher = more faithful), both over fractions in [0, 1].
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, not {steps}")
    tgt = as_target(target)
    with explaining(model):
        inp = as_batch(x, model_device(model))
        h, w = inp.shape[2:]
        if np.asarray(saliency).shape != (h, w):
            raise ValueError(f"saliency shape {np.asarray(saliency).shape} differs from {(h, w)}")
        base = baseline_image(inp, baseline)
        order = torch.from_numpy(_order(saliency, seed))
        fractions = np.linspace(0.0, 1.0, steps + 1)
        images = []
        for keep_first in (False, True):  # deletion, then insertion
            for f in fractions:
                mask = torch.zeros(h * w, dtype=torch.bool)
                mask[order[: round(f * h * w)]] = True
                mask = mask.view(1, 1, h, w).to(inp.device)
                images.append(torch.where(mask, inp, base) if keep_first else
                              torch.where(mask, base, inp))  # fmt: skip
        run = engine_for(model, engine)
        emb = torch.cat([run(torch.cat(images[i : i + 32])) for i in range(0, len(images), 32)])
        clean = run(inp)[0]
        values = tgt.bind(clean)(emb).double().cpu().numpy()
    deletion, insertion = values[: steps + 1], values[steps + 1 :]
    return {
        "fractions": fractions,
        "deletion": deletion,
        "insertion": insertion,
        "deletion_auc": float(np.trapezoid(deletion, fractions)),
        "insertion_auc": float(np.trapezoid(insertion, fractions)),
    }


def road_score(
    model: nn.Module,
    x: torch.Tensor,
    target: object,
    saliency: np.ndarray,
    percentiles: Sequence[int] = (20, 40, 60, 80),
    seed: int = 0,
) -> float:
    """pytorch-grad-cam's ``ROADCombined``: ``(LeRF - MoRF) / 2`` of the target, averaged over
    ``percentiles`` (higher = more faithful). The imputation noise is seeded."""
    from pytorch_grad_cam.metrics.road import ROADCombined

    tgt = as_target(target)
    with explaining(model):
        inp = as_batch(x, model_device(model))
        with torch.no_grad():
            bound = tgt.bind(model(inp)[0])
        cams = np.asarray(saliency, dtype=np.float32)[None]
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(seed)
            # the library turns 0-d tensors into numpy scalars the way numpy 2 deprecates
            warnings.filterwarnings("ignore", "__array_wrap__", DeprecationWarning)
            score = ROADCombined(percentiles=list(percentiles))(inp, cams, [bound], model)
    return float(np.asarray(score).reshape(-1)[0])


def faithfulness_check(
    model: nn.Module,
    images: Sequence[torch.Tensor],
    methods: Sequence[str],
    *,
    reference: str = "randomcam",
    road: bool = False,
    steps: int = 16,
    params: dict[str, dict] | None = None,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Deletion/insertion AUC (and ROAD when ``road``) per method and image, for ``methods``
    plus the ``reference`` method. Each image explains its own embedding."""
    params = params or {}
    names = list(dict.fromkeys([*methods, reference]))
    rows = []
    for i, x in enumerate(images):
        target: EmbeddingTarget = SelfSimilarity()
        for method in names:
            hm = compute(method, model, x, target, **params.get(method, {}))
            curves = perturbation_curves(model, x, target, hm.map, steps=steps)
            row = {
                "method": method,
                "image": i,
                "deletion_auc": curves["deletion_auc"],
                "insertion_auc": curves["insertion_auc"],
            }
            if road:
                row["road"] = road_score(model, x, target, hm.map)
            rows.append(row)
        if progress is not None:
            progress(i + 1, len(images))
    return pd.DataFrame(rows)


def faithfulness_summary(rows: pd.DataFrame, reference: str = "randomcam") -> pd.DataFrame:
    """Means per method and whether each beats the reference (lower deletion AUC, higher
    insertion AUC, higher ROAD when present)."""
    metrics = [c for c in ("deletion_auc", "insertion_auc", "road") if c in rows.columns]
    means = rows.groupby("method", sort=False)[metrics].mean()
    if reference not in means.index:
        raise ValueError(f"the rows hold no {reference!r} maps to compare against")
    ref = means.loc[reference]
    out = means.copy()
    out["beats_random_deletion"] = means["deletion_auc"] < ref["deletion_auc"]
    out["beats_random_insertion"] = means["insertion_auc"] > ref["insertion_auc"]
    if "road" in metrics:
        out["beats_random_road"] = means["road"] > ref["road"]
    out["n"] = rows.groupby("method", sort=False).size()
    return out.reset_index()


# --------------------------------------------------------------------------- sample-data report

REPORT_METHODS = ("gradcam", "gradcam++", "hirescam", "eigencam", "activation", "randomcam")


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
    methods: Sequence[str] = REPORT_METHODS,
    *,
    limit: int | None = 120,
    randomisation_images: int = 8,
    layer: str | None = None,
    seed: int = 0,
    cache=None,
    progress: Callable[[str, int, int], None] | None = None,
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

    ``progress(stage, done, total)`` reports each stage. ``cache``: a HeatmapCache.
    """
    from curation.images import file_sha1, load_rgb
    from explain.heatmaps.cache import get_or_compute
    from explain.heatmaps.scores import masks_for_row, score_heatmap
    from explain.heatmaps.series import members
    from explain.models.preprocess import to_input
    from explain.retrieval.embeddings import extract

    ms = members(series)
    size = _input_size(series)
    table = dataset.table
    chosen = report_images(table, limit, seed)
    if chosen.empty:
        raise ValueError("no image of the dataset has an artifact mask; nothing to report")
    method_params = {m: ({"layer": layer} if layer and m != "occlusion" else {}) for m in methods}

    def note(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    inputs, masks, sha = {}, {}, {}
    for _, row in chosen.iterrows():
        path = dataset.path(row["image"])
        inputs[row["image"]] = to_input(load_rgb(path), *size)
        masks[row["image"]] = masks_for_row(dataset, row, size)
        sha[row["image"]] = file_sha1(path)

    # 1. randomisation on the last checkpoint (randomisation_images=0 skips it)
    picks = list(chosen["image"])[: max(0, randomisation_images)]
    if picks:
        rnd = randomisation_check(
            ms[-1].model, [inputs[i] for i in picks], methods, seed=seed, params=method_params,
            progress=lambda d, t: note("randomisation", d, t),
        )  # fmt: skip
        randomisation = randomisation_summary(rnd)
    else:
        randomisation = pd.DataFrame(columns=["method", "stage", "spearman_median",
                                              "spearman_mean", "n", "nan", "passes"])  # fmt: skip

    # 2. heatmaps and artifact mass per epoch
    records, done = [], 0
    total = len(ms) * len(chosen) * len(methods)
    for m in ms:
        for _, row in chosen.iterrows():
            animal, arts = masks[row["image"]]
            for method in methods:
                hm = get_or_compute(
                    cache if m.sha1 else None, m.model, inputs[row["image"]], SelfSimilarity(),
                    method, checkpoint_sha1=m.sha1, image_sha1=sha[row["image"]],
                    **method_params[method],
                )  # fmt: skip
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
                done += 1
                note("heatmaps", done, total)
    rows = pd.DataFrame(records)

    # 3. counterfactual similarity drops per epoch
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
