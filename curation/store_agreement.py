"""Several annotators: consensus, agreement (Cohen's and Fleiss' kappa) and the conflicts queue.

Everything here reads the per-annotator current state (:meth:`TagStore.current` with
``by="annotator"``: one row per image and annotator, human tags only) and only buckets count
as decisions for kappa: a query an annotator has not put in a bucket is not decided by them.

- Cohen's kappa per pair of annotators, over the queries both decided
  (:func:`sklearn.metrics.cohen_kappa_score`);
- Fleiss' kappa over the annotators, over the queries all of them decided (:func:`fleiss_kappa`);
- a kappa is NaN when it is undefined: fewer than two queries, or every decision the same
  bucket (no chance-corrected agreement can be measured; ``agreed`` still says 100 %);
- conflicts: images where two or more annotators' buckets differ (``bucket``), or their
  artifact sets differ (``artifacts``).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

PAIR_COLUMNS = ("annotator_a", "annotator_b", "queries", "agreed", "kappa")
CONFLICT_COLUMNS = ("image", "kind", "annotators", "decisions")
CONSENSUS_COLUMNS = ("image", "bucket", "votes", "annotators", "agreement", "conflict")


@dataclass(frozen=True)
class Agreement:
    """``pairs``: one row per pair of annotators (:data:`PAIR_COLUMNS`; ``queries`` both
    decided, ``agreed`` share in [0, 1], ``kappa`` in [-1, 1] or NaN); ``overall``: Fleiss'
    kappa over every annotator (Cohen's when there are two; NaN when undefined);
    ``overall_queries``: queries every annotator decided; ``method``: ``fleiss``, ``cohen``
    or ``none``; ``conflicts``: :data:`CONFLICT_COLUMNS`, sorted by image and kind."""

    annotators: tuple[str, ...]
    pairs: pd.DataFrame
    overall: float
    overall_queries: int
    method: str
    conflicts: pd.DataFrame


def fleiss_kappa(counts: np.ndarray | Sequence[Sequence[int]]) -> float:
    """Fleiss' kappa of ``counts`` ``(subjects, categories)``: how many raters put each subject
    in each category; every subject needs the same number of raters (at least two). NaN when
    the expected agreement is 1 (one category only)."""
    m = np.asarray(counts, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] == 0 or m.shape[1] == 0:
        raise ValueError(f"counts must be a (subjects, categories) table, got shape {m.shape}")
    if (m < 0).any() or not np.all(m == np.round(m)):
        raise ValueError("counts must be whole numbers >= 0 (raters per subject and category)")
    raters = m.sum(axis=1)
    if not np.all(raters == raters[0]) or raters[0] < 2:
        raise ValueError(
            "every subject needs the same number of raters (at least two); got "
            f"{sorted(set(raters.astype(int).tolist()))}"
        )
    n = raters[0]
    p_j = m.sum(axis=0) / m.sum()
    p_i = (np.square(m).sum(axis=1) - n) / (n * (n - 1))
    p_bar, p_e = float(p_i.mean()), float(np.square(p_j).sum())
    if math.isclose(p_e, 1.0):
        return math.nan
    return (p_bar - p_e) / (1.0 - p_e)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two annotators' labels of the same items; NaN when undefined (fewer
    than two items, or one label only)."""
    if len(a) != len(b):
        raise ValueError(f"two label lists of the same length are needed, got {len(a)}, {len(b)}")
    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return math.nan
    from sklearn.metrics import cohen_kappa_score

    return float(cohen_kappa_score(list(a), list(b)))


def _buckets(per_annotator: pd.DataFrame) -> dict[str, dict[str, str]]:
    """annotator -> image -> bucket, for the images each annotator put in a bucket."""
    out: dict[str, dict[str, str]] = {}
    for image, who, bucket in zip(
        per_annotator["image"], per_annotator["annotator"], per_annotator["bucket"], strict=True
    ):
        if isinstance(bucket, str) and bucket:
            out.setdefault(who, {})[image] = bucket
    return out


def agreement(per_annotator: pd.DataFrame) -> Agreement:
    """Agreement between the annotators of ``per_annotator`` (``TagStore.current(by=
    "annotator")``): Cohen per pair, Fleiss overall, and the conflicts."""
    votes = _buckets(per_annotator)
    names = tuple(sorted(votes))
    rows = []
    for a, b in itertools.combinations(names, 2):
        both = sorted(set(votes[a]) & set(votes[b]))
        la, lb = [votes[a][i] for i in both], [votes[b][i] for i in both]
        agreed = sum(x == y for x, y in zip(la, lb, strict=True)) / len(both) if both else math.nan
        rows.append((a, b, len(both), agreed, cohen_kappa(la, lb)))
    pairs = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    common = sorted(set.intersection(*(set(v) for v in votes.values()))) if names else []
    if len(names) < 2:
        overall, method = math.nan, "none"
    elif len(names) == 2:
        overall, method = float(pairs["kappa"].iloc[0]), "cohen"
    else:
        method = "fleiss"
        cats = sorted({votes[n][i] for n in names for i in common})
        table = [[sum(votes[n][i] == c for n in names) for c in cats] for i in common]
        overall = fleiss_kappa(table) if len(common) >= 2 else math.nan
    return Agreement(names, pairs, overall, len(common), method, conflicts(per_annotator))


def conflicts(per_annotator: pd.DataFrame) -> pd.DataFrame:
    """Images where two or more annotators decided differently: ``kind`` ``bucket`` (their
    buckets differ) or ``artifacts`` (their non-empty artifact sets differ: an empty set is
    not told apart from "not tagged"); ``decisions``: ``ann: missed; bob: spurious``. Sorted
    by image, kind."""
    by_image: dict[str, list[tuple[str, object, str]]] = {}
    for image, who, bucket, artifacts in zip(
        per_annotator["image"], per_annotator["annotator"], per_annotator["bucket"],
        per_annotator["artifacts"], strict=True,
    ):  # fmt: skip
        by_image.setdefault(image, []).append((who, bucket, artifacts))
    rows = []
    for image in sorted(by_image):
        votes = by_image[image]
        decided = [(w, b) for w, b, _ in votes if isinstance(b, str) and b]
        if len({b for _, b in decided}) > 1:
            rows.append((image, "bucket", len(decided), "; ".join(f"{w}: {b}" for w, b in decided)))
        sets = sorted((w, a) for w, _, a in votes if isinstance(a, str) and a)
        if len({a for _, a in sets}) > 1:
            rows.append((image, "artifacts", len(sets), "; ".join(f"{w}: {a}" for w, a in sets)))
    return pd.DataFrame(rows, columns=list(CONFLICT_COLUMNS))


def consensus(per_annotator: pd.DataFrame) -> pd.DataFrame:
    """One row per image someone put in a bucket (:data:`CONSENSUS_COLUMNS`): ``bucket`` the
    majority bucket (None on a tie), ``votes`` (``missed 2, spurious 1``), ``annotators``
    (how many decided), ``agreement`` (share of them for the top bucket, in (0, 1]),
    ``conflict`` (their buckets differ). Sorted by image."""
    votes = _buckets(per_annotator)
    by_image: dict[str, Counter] = {}
    for decided in votes.values():
        for image, bucket in decided.items():
            by_image.setdefault(image, Counter())[bucket] += 1
    rows = []
    for image in sorted(by_image):
        count = by_image[image]
        ranked = sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))
        total = sum(count.values())
        tie = len(ranked) > 1 and ranked[0][1] == ranked[1][1]
        rows.append((image, None if tie else ranked[0][0],
                     ", ".join(f"{b} {n}" for b, n in ranked), total, ranked[0][1] / total,
                     len(count) > 1))  # fmt: skip
    return pd.DataFrame(rows, columns=list(CONSENSUS_COLUMNS))
