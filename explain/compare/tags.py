"""The comparison on data without ground truth: clean queries and artifact regions come from the
annotators' tag store instead of the generator's masks.

``clean`` queries are the queries annotators reviewed (they have a row in the store's current
state) and tagged with no artifact; unreviewed queries are in neither subset. Artifact mass is
measured on the regions annotators drew (a box or polygon per artifact), on the photos' own
self-similarity maps of each checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

MASS_COLUMNS = ["series", "method", "epoch", "artifact", "group", "mass_mean",
                "enrichment_mean", "n"]  # fmt: skip


def clean_from_tags(dataset, tags: pd.DataFrame) -> set[str]:
    """Query images reviewed in ``tags`` (``TagStore.current()``) with no artifact tag."""
    queries = set(dataset.split("query")["image"])
    reviewed = tags[tags["image"].isin(queries)]
    bare = reviewed["artifacts"].fillna("").astype(str).str.strip() == ""
    return set(reviewed.loc[bare, "image"])


def region_mass(
    dataset,
    series: dict[str, list],
    tags: pd.DataFrame,
    methods: Sequence[str],
    *,
    cache=None,
    limit: int | None = 60,
) -> pd.DataFrame:
    """Share of each map's positive attribution inside the annotators' regions, per series,
    method, epoch and artifact (``group`` = ``tagged regions``; ``mass_mean`` in [0, 1],
    ``enrichment_mean`` = mass / the region's share of the photo); at most ``limit`` images
    with regions (sorted by image). Empty (with the columns) when no image has a region."""
    from explain.heatmaps.explorer import photo
    from explain.heatmaps.scores import positive_attribution, rasterise_regions, relevance_mass
    from explain.heatmaps.series import series_maps

    known = set(dataset.table["image"])
    with_regions = tags[tags["image"].isin(known) & tags["regions"].map(bool)]
    with_regions = with_regions.sort_values("image").head(limit or len(with_regions))
    rows = []
    for name, models in series.items():
        size = models[0].input_size
        for r in with_regions.itertuples(index=False):
            p = photo(dataset, r.image, size)
            masks = rasterise_regions(r.regions, p.original_size, size)
            for method in methods:
                maps = series_maps(models, p.x, method, "self", cache=cache, image_sha1=p.sha1)
                for epoch, hm in zip(maps.epochs, maps.heatmaps, strict=True):
                    pos = positive_attribution(hm)
                    for artifact, mask in masks.items():
                        if not mask.any():
                            continue
                        mass = relevance_mass(pos, mask)
                        rows.append({"series": name, "method": method, "epoch": int(epoch),
                                     "artifact": artifact, "mass": mass,
                                     "enrichment": mass / float(mask.mean())})  # fmt: skip
    if not rows:
        return pd.DataFrame(columns=MASS_COLUMNS)
    df = pd.DataFrame(rows)
    both = pd.concat([df, df.assign(artifact="any")], ignore_index=True)
    g = both.groupby(["series", "method", "epoch", "artifact"], sort=True)
    out = pd.DataFrame({"mass_mean": g["mass"].mean(), "enrichment_mean": g["enrichment"].mean(),
                        "n": g["mass"].count()}).reset_index()  # fmt: skip
    out["group"] = "tagged regions"
    out["mass_mean"] = out["mass_mean"].astype(np.float64)
    return out[MASS_COLUMNS]
