"""Model-parameter randomisation (Adebayo et al. 2018): re-initialise the weights and compare the
maps of the randomised model with the trained model's (Spearman over pixels). A method whose maps
stay similar explains the image, not the model: it fails the check.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import pandas as pd
import torch
from torch import nn

from explain.heatmaps.catalog import compute
from explain.heatmaps.series import change_score
from explain.heatmaps.targets import SelfSimilarity

Progress = Callable[[int, int], None]
RANDOMISATION_THRESHOLD = 0.5  # median Spearman at or above this: the method fails the check
_SEED_OFFSET = 1_000_003


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
