"""Per-query outcomes across the checkpoints of a series: ranks side by side, trajectories.

A query's *trajectory* over the epochs of a series, with "found" meaning its first true match is
within the top ``k``:

``not in gallery``  no photo of its post is in the gallery (it can never be found)
``always found``    found at every checkpoint
``never found``     found at none
``found later``     not found at first, found from some checkpoint on and never lost again
``lost``            found at some checkpoint and not found at a later one
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from explain.retrieval.series import SeriesEvaluation

TRAJECTORIES = ("always found", "found later", "lost", "never found", "not in gallery")


def trajectory(found: Sequence[bool], in_gallery: bool = True) -> str:
    """The trajectory (see the module docstring) of one query's found-flags in epoch order."""
    if not in_gallery:
        return "not in gallery"
    f = [bool(v) for v in found]
    if not f:
        raise ValueError("no checkpoints: a trajectory needs at least one found-flag")
    if all(f):
        return "always found"
    if not any(f):
        return "never found"
    first = f.index(True)
    return "found later" if all(f[first:]) else "lost"


def rank_table(ev: SeriesEvaluation, k: int = 10) -> pd.DataFrame:
    """One row per query: ``query``, ``post_id``, ``in_gallery``, ``rank <label>`` (1-based rank
    of the first true match at each checkpoint, <NA> when not in the gallery), ``found <label>``
    (rank ≤ ``k``), ``best``/``worst`` rank, ``trajectory``. Rows in the query order."""
    if not ev.per_query:
        raise ValueError("the evaluation holds no checkpoint")
    labels = ev.metrics["label"].tolist()
    base = ev.per_query[0][["query", "post_id", "in_gallery"]].reset_index(drop=True)
    ranks = {}
    for label, table in zip(labels, ev.per_query, strict=True):
        if table["query"].tolist() != base["query"].tolist():
            raise ValueError(f"{label}: per-query tables list different queries")
        ranks[label] = table["rank"].reset_index(drop=True).astype("Int64")
    out = base.copy()
    for label in labels:
        out[f"rank {label}"] = ranks[label]
    for label in labels:
        out[f"found {label}"] = (ranks[label].fillna(k + 1) <= k).astype(bool)
    r = pd.DataFrame({lb: ranks[lb] for lb in labels})
    out["best"] = r.min(axis=1, skipna=True).astype("Int64")
    out["worst"] = r.max(axis=1, skipna=True).astype("Int64")
    found = out[[f"found {lb}" for lb in labels]].to_numpy()
    out["trajectory"] = [
        trajectory(f, bool(g)) for f, g in zip(found, out["in_gallery"], strict=True)
    ]
    return out


def found_but_not(table: pd.DataFrame, found_at: str, not_at: str) -> pd.DataFrame:
    """Rows of :func:`rank_table` found at checkpoint ``found_at`` but not at ``not_at``
    (labels such as ``"epoch 60"``)."""
    for label in (found_at, not_at):
        if f"found {label}" not in table.columns:
            have = [c[len("found ") :] for c in table.columns if c.startswith("found ")]
            raise ValueError(f"no checkpoint {label!r}; the table has {', '.join(have)}")
    return table[table[f"found {found_at}"] & ~table[f"found {not_at}"]]


def cmc_frame(ev: SeriesEvaluation, max_rank: int = 20) -> pd.DataFrame:
    """Long table of the CMC curves: ``label``, ``epoch``, ``rank`` (1..max_rank), ``cmc`` in
    [0, 1]."""
    rows = []
    for (_, m), cmc in zip(ev.metrics.iterrows(), ev.cmc, strict=True):
        for r in range(1, min(max_rank, len(cmc)) + 1):
            rows.append({"label": m["label"], "epoch": m["epoch"], "rank": r, "cmc": cmc[r - 1]})
    return pd.DataFrame(rows, columns=["label", "epoch", "rank", "cmc"])
