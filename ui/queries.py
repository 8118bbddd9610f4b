"""The query tables the pages show, and what a visitor's choices select from them (pure pandas,
no Streamlit: tested directly).

- :func:`query_table` joins a checkpoint's per-query retrieval with the store's decisions and
  the artifact tags; :func:`filter_queries` keeps the rows a page's filters allow;
- :func:`selection_region` turns a plotly box / lasso selection into a tag-store region;
- :func:`shortcut_letters` gives each artifact tag its keyboard letter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from curation.dataset import Dataset

OUTCOMES = ("found in top-k", "missed", "not in gallery")
NO_BUCKET = "(none)"  # the bucket filter's entry for a query nobody decided yet


def outcome(row: pd.Series, k: int) -> str:
    """One of :data:`OUTCOMES` for a per-query row (``in_gallery``, ``rank``) at top-``k``."""
    if not bool(row["in_gallery"]):
        return "not in gallery"
    return "found in top-k" if int(row["rank"]) <= k else "missed"


def query_table(ds: Dataset, per_query: pd.DataFrame, state: pd.DataFrame, k: int) -> pd.DataFrame:
    """The per-query table with ``outcome``, ``bucket`` (annotators' decision, "" if none) and
    ``artifact tags`` (ground truth and annotators' tags joined, "" if none)."""
    out = per_query.copy()
    out["outcome"] = [outcome(r, k) for _, r in out.iterrows()]
    decided = state.set_index("image")["bucket"] if len(state) else pd.Series(dtype=object)
    tagged = state.set_index("image")["artifacts"] if len(state) else pd.Series(dtype=object)
    truth = ds.table.set_index("image")["artifacts"] if "artifacts" in ds.table else None
    out["bucket"] = out["query"].map(decided).astype(object).fillna("")
    arts = []
    for img in out["query"]:
        names = set()
        for source in (tagged, truth):
            if source is not None and img in source.index and isinstance(source[img], str):
                names.update(a for a in source[img].split(";") if a)
        arts.append(";".join(sorted(names)))
    out["artifact tags"] = arts
    return out


def triage_table(
    queries: pd.DataFrame, suggestions: pd.DataFrame, outcomes: pd.DataFrame
) -> pd.DataFrame:
    """:func:`query_table` rows with each query's suggestion (``suggested`` bucket, ``reason``,
    review ``status``, ``animal_mass`` / ``artifact_mass`` in [0, 1]) from
    :func:`curation.suggest.review`, and where its attribution numbers came from
    (``animal_source``, ``artifact_source``, ``target``) from the ``outcomes`` frame; a query
    without a suggestion keeps missing values there."""
    sugg = suggestions[["image", "bucket", "reason", "status", "animal_mass", "artifact_mass"]]
    table = queries.merge(
        sugg.rename(columns={"image": "query", "bucket": "suggested"}), on="query", how="left"
    )
    sources = outcomes[["image", "animal_source", "artifact_source", "target"]]
    return table.merge(sources.rename(columns={"image": "query"}), on="query", how="left")


def artifact_tags(table: pd.DataFrame) -> list[str]:
    """Every tag in the ``artifact tags`` column (";"-joined), sorted."""
    return sorted({a for v in table["artifact tags"] for a in v.split(";") if a})


def filter_queries(
    table: pd.DataFrame,
    *,
    outcomes: Iterable[str] = (),
    buckets: Iterable[str] = (),
    artifacts: Iterable[str] = (),
    suggested: Iterable[str] = (),
    status: Iterable[str] = (),
) -> pd.DataFrame:
    """The rows of ``table`` that pass every non-empty filter (an empty filter keeps all):
    ``outcome`` in ``outcomes``; ``bucket`` in ``buckets`` (:data:`NO_BUCKET` for undecided);
    at least one of ``artifacts`` among the row's ``artifact tags``; ``suggested`` and
    ``status`` columns in their lists. Rows keep their order; the index is renumbered."""
    shown = table
    outcomes, buckets, artifacts = list(outcomes), list(buckets), set(artifacts)
    suggested, status = list(suggested), list(status)
    if outcomes:
        shown = shown[shown["outcome"].isin(outcomes)]
    if buckets:
        shown = shown[shown["bucket"].isin({"" if b == NO_BUCKET else b for b in buckets})]
    if artifacts:
        shown = shown[[bool(set(a.split(";")) & artifacts) for a in shown["artifact tags"]]]
    if suggested:
        shown = shown[shown["suggested"].isin(suggested)]
    if status:
        shown = shown[shown["status"].isin(status)]
    return shown.reset_index(drop=True)


def query_labels(table: pd.DataFrame) -> dict[str, str]:
    """What the query selector shows for each query: name · rank · tags · bucket."""
    labels = {}
    for q, rank, arts, bucket in zip(table["query"], table["rank"], table["artifact tags"],
                                     table["bucket"], strict=True):  # fmt: skip
        where = "not in gallery" if pd.isna(rank) else f"rank {int(rank)}"
        labels[q] = (
            f"{q} · {where}" + (f" · {arts}" if arts else "") + (f" · {bucket}" if bucket else "")
        )
    return labels


def selection_region(selection: Mapping | None, size: tuple[int, int]) -> dict | None:
    """The region a plotly selection on a photo of ``size`` (width, height, pixels) marks: the
    last box as ``{"kind": "box", "points": [[x0, y0], [x1, y1]]}`` (corners sorted), else the
    last lasso as ``{"kind": "polygon", "points": [[x, y], ...]}``; points clipped to the
    photo. None when nothing is selected."""
    if not selection:
        return None
    if selection.get("box"):
        b = selection["box"][-1]
        xs, ys = [float(v) for v in b["x"]], [float(v) for v in b["y"]]
        region = {"kind": "box", "points": [[min(xs), min(ys)], [max(xs), max(ys)]]}
    elif selection.get("lasso"):
        b = selection["lasso"][-1]
        points = [[float(x), float(y)] for x, y in zip(b["x"], b["y"], strict=True)]
        region = {"kind": "polygon", "points": points}
    else:
        return None
    w, h = size
    region["points"] = [[min(max(x, 0.0), w), min(max(y, 0.0), h)] for x, y in region["points"]]
    return region


def shortcut_letters(tags: list[str], reserved: str = "") -> dict[str, str]:
    """A distinct keyboard letter per tag: its first letter not yet taken (nor ``reserved``, nor
    Streamlit's reserved C and R), else a later letter of the tag, else any free letter."""
    taken = set(reserved.upper()) | {"C", "R"}
    out = {}
    for tag in tags:
        letters = [c.upper() for c in tag if c.isalpha()]
        free = [c for c in letters if c not in taken]
        if not free:
            free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in taken]
        if not free:
            raise ValueError(
                f"no free keyboard letter left for tag {tag!r}: the vocabulary has more tags "
                "than letters; merge or remove some tags"
            )
        out[tag] = free[0]
        taken.add(free[0])
    return out


def note_text(value: object) -> str:
    """A stored note as the Note box shows it: "" for a missing one (None or NaN), never
    the text "nan"."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def next_unreviewed(decided: Sequence[bool], pos: int) -> int | None:
    """Where **N** goes in a list whose entries are ``decided`` or not, from position ``pos``:
    the first undecided entry from ``pos`` on — the current one counts when it is undecided, so
    no undecided query is ever passed over — wrapping round to the start; None when every entry
    is decided."""
    n = len(decided)
    for step in range(n):
        i = (pos + step) % n
        if not decided[i]:
            return i
    return None


def decision(history: pd.DataFrame) -> dict | None:
    """The decision in force on one image from its tag-store ``history`` (every event, with
    ``undone``): the latest bucket event that is not undone and not an undo, as ``bucket``,
    ``annotator`` and ``time`` — a later note or artifact tag does not change it. None when the
    image has no bucket in force (never decided, cleared, or undone)."""
    if history.empty:
        return None
    rows = history[(history["action"] == "bucket") & ~history["undone"].astype(bool)]
    if "undoes" in rows:
        rows = rows[rows["undoes"].isna()]
    if rows.empty:
        return None
    last = rows.iloc[-1]
    if not isinstance(last["bucket"], str) or not last["bucket"]:
        return None
    return {"bucket": last["bucket"], "annotator": last["annotator"], "time": last["time"]}
