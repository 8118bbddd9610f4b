"""Post shortcut scores: two kinds of evidence, kept apart and combined.

From the per-region table of :func:`explain.shortcuts.scan.scan` (one row per photo and region),
per post (``split``, ``post_id``) of ``n`` photos:

``data_score``      the share of the post's photos with a region of the same artifact kind
                    (detected or drawn by an annotator), the largest over kinds, in [0, 1];
                    ``data_kind`` is that kind (ties: the kind the model relies on more, then
                    by name). From the photos alone, no model.
``reliance``        model evidence for ``data_kind``: the mean over the post's ``n`` photos of
                    the photo's reliance on that kind's region (a photo without the region
                    counts 0), in similarity units (cosine); ``relied_share``: the share of the
                    post's photos whose reliance beats their controls clearly (``reliance >
                    max(MIN_RELIANCE, 2 * control_std)``), in [0, 1]
``model_reliance``  the same for the model's own Grad-CAM regions (the largest reliance over a
                    photo's ``model#k`` regions), with ``model_relied_share``
``score``           ``data_score * (0.5 + 0.5 * relied_share)``: a post whose photos share an
                    artifact scores at least half its data score, and its full data score when
                    the model relies on the artifact in every photo; a post without a shared
                    artifact scores 0 whatever the model does. Nothing here reads ground truth.
``cause``           ``KIND relied on`` (``relied_share >= 0.5``), ``KIND present`` (artifact in
                    at least half the photos, not relied on), ``model regions`` (no shared
                    artifact, but the model relies on its own regions in at least half the
                    photos), else ``none``
``evidence``        JSON: the kind, its source, per photo the drop, the control drops and
                    their spread, the reliance and whether it counts, and every kind's share
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from explain.shortcuts.regions import MODEL_KIND

POST_COLUMNS = ("post_id", "split", "n_photos", "score", "data_score", "data_kind", "reliance",
                "relied_share", "model_reliance", "model_relied_share", "cause",
                "evidence")  # fmt: skip
MIN_RELIANCE = 0.01  # cosine similarity: smaller drops than this are never counted as reliance
RELIED = 0.5  # share of a post's photos that must rely on a kind for the cause to name it


def relied(reliance: float, control_std: float) -> bool:
    """True when a reliance beats its controls clearly (see the module docstring)."""
    if not np.isfinite(reliance):
        return False
    spread = control_std if np.isfinite(control_std) else 0.0
    return bool(reliance > max(MIN_RELIANCE, 2.0 * spread))


def _num(value: float) -> float | None:
    """A finite number rounded for the evidence JSON; None for NaN (no control placed)."""
    v = float(value)
    return round(v, 5) if np.isfinite(v) else None


def _per_photo(rows: pd.DataFrame) -> dict[str, dict]:
    """The strongest region of one kind per photo (several model regions: the largest)."""
    out = {}
    for image, g in rows.groupby("image", sort=True):
        best = g.sort_values("reliance", ascending=False, na_position="last").iloc[0]
        out[str(image)] = {
            "image": str(image), "label": str(best["label"]), "source": str(best["source"]),
            "drop": _num(best["drop"]),
            "control_drops": json.loads(best["control_drops"]),
            "control_std": _num(best["control_std"]),
            "reliance": _num(best["reliance"]),
            "relied": relied(float(best["reliance"]), float(best["control_std"])),
            "reference": str(best["reference"]),
        }  # fmt: skip
    return out


def _summary(photos: dict[str, dict], n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    rel = [p["reliance"] for p in photos.values() if p["reliance"] is not None]
    return float(np.sum(rel)) / n, sum(p["relied"] for p in photos.values()) / n


def post_scores(regions: pd.DataFrame, photos: pd.DataFrame) -> pd.DataFrame:
    """One row per post of ``photos`` (``image``, ``post_id``, ``split``: every photo scanned,
    with or without regions) from ``regions`` (:data:`explain.shortcuts.scan.REGION_COLUMNS`).
    Columns :data:`POST_COLUMNS`; sorted by score (highest first), then split and post."""
    regions = regions.assign(post_id=regions["post_id"].astype(str))
    photos = photos.assign(post_id=photos["post_id"].astype(str))
    by_post = {k: g for k, g in regions.groupby(["split", "post_id"], sort=False)}
    out = []
    for (split, post), members in photos.groupby(["split", "post_id"], sort=True):
        n = len(members)
        got = by_post.get((split, post), regions.iloc[0:0])
        kinds = {}
        for kind, g in got.groupby("kind", sort=True):
            per = _per_photo(g)
            rel, share = _summary(per, n)
            kinds[str(kind)] = {"share": len(per) / n, "reliance": rel, "relied_share": share,
                                "photos": per}  # fmt: skip
        model = kinds.pop(MODEL_KIND, {"share": 0.0, "reliance": 0.0, "relied_share": 0.0,
                                       "photos": {}})  # fmt: skip
        if kinds:
            kind = max(kinds, key=lambda k: (kinds[k]["share"], kinds[k]["reliance"], k))
            best = kinds[kind]
        else:
            kind, best = "", {"share": 0.0, "reliance": 0.0, "relied_share": 0.0, "photos": {}}
        data_score = best["share"]
        score = data_score * (0.5 + 0.5 * best["relied_share"])
        if kind and best["relied_share"] >= RELIED:
            cause = f"{kind} relied on"
        elif kind and data_score >= RELIED:
            cause = f"{kind} present"
        elif model["relied_share"] >= RELIED:
            cause = "model regions"
        else:
            cause = "none"
        evidence = {
            "kind": kind, "photos": list(best["photos"].values()),
            "shares": {k: round(v["share"], 4) for k, v in kinds.items()},
            "model": list(model["photos"].values()),
        }  # fmt: skip
        out.append({
            "post_id": post, "split": split, "n_photos": n, "score": round(score, 5),
            "data_score": round(data_score, 5), "data_kind": kind,
            "reliance": round(best["reliance"], 5), "relied_share": round(best["relied_share"], 5),
            "model_reliance": round(model["reliance"], 5),
            "model_relied_share": round(model["relied_share"], 5), "cause": cause,
            "evidence": json.dumps(evidence, sort_keys=True),
        })  # fmt: skip
    df = pd.DataFrame(out, columns=list(POST_COLUMNS))
    return df.sort_values(["score", "split", "post_id"], ascending=[False, True, True],
                          kind="mergesort").reset_index(drop=True)  # fmt: skip
