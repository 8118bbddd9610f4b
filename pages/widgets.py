"""Widgets several pages share: the query picker with its filters and the top-k strip."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curation.dataset import Dataset
from explain.heatmaps.render import framed
from pages import ui

OUTCOMES = ("found in top-k", "missed", "not in gallery")


def outcome(row: pd.Series, k: int) -> str:
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


def _remember(widget_key: str) -> None:
    st.session_state[ui.K_QUERY] = st.session_state[widget_key]


def query_picker(
    ds: Dataset, per_query: pd.DataFrame, state: pd.DataFrame, *, key: str, k: int = 5
) -> pd.Series | None:
    """Filters (outcome, bucket, artifact tag) and a query selector over ``per_query`` with the
    store's current ``state``; the chosen query's row of
    :func:`query_table`, or None when no query passes the filters. The choice is shared across
    pages (the same query stays selected when switching)."""
    table = query_table(ds, per_query, state, k)
    all_tags = sorted({a for v in table["artifact tags"] for a in v.split(";") if a})
    c1, c2, c3 = st.columns(3)
    outcomes = c1.multiselect("Outcome", OUTCOMES, key=f"{key}.outcome")
    buckets = c2.multiselect(
        "Bucket", ["worked", "missed", "spurious", "(none)"], key=f"{key}.bucket"
    )
    arts = c3.multiselect("Artifact", all_tags, key=f"{key}.artifact")
    shown = table
    if outcomes:
        shown = shown[shown["outcome"].isin(outcomes)]
    if buckets:
        want = {"" if b == "(none)" else b for b in buckets}
        shown = shown[shown["bucket"].isin(want)]
    if arts:
        shown = shown[[bool(set(a.split(";")) & set(arts)) for a in shown["artifact tags"]]]
    if shown.empty:
        st.info("No query passes these filters; widen them.")
        return None
    options = shown["query"].tolist()
    remembered = st.session_state.get(ui.K_QUERY)
    index = options.index(remembered) if remembered in options else 0
    widget = f"{key}.query"
    if st.session_state.get(widget) not in options:
        st.session_state.pop(widget, None)
    labels = {}
    for q, rank, arts, bucket in zip(shown["query"], shown["rank"], shown["artifact tags"],
                                     shown["bucket"], strict=True):  # fmt: skip
        where = "not in gallery" if pd.isna(rank) else f"rank {int(rank)}"
        labels[q] = (
            f"{q} · {where}" + (f" · {arts}" if arts else "") + (f" · {bucket}" if bucket else "")
        )

    chosen = st.selectbox(
        f"Query ({len(options)} of {len(table)})", options, index=index, key=widget,
        format_func=labels.__getitem__, on_change=_remember, args=(widget,),
    )  # fmt: skip
    st.session_state[ui.K_QUERY] = chosen
    return shown[shown["query"] == chosen].iloc[0]


def top_k_strip(ds: Dataset, row: pd.Series, k: int = 5, size=(256, 128)) -> None:
    """The query and its top-k gallery matches, true matches framed green, others red."""
    images = [framed(ui.thumbnail(ds, row["query"], size), None, 4)]
    captions = [f"query {row['query'].split('/')[-1]}"]
    for i, (img, post, sim, ok) in enumerate(
        zip(row["top_images"], row["top_post_ids"], row["top_similarities"], row["top_correct"],
            strict=True)
    ):  # fmt: skip
        if i >= k:
            break
        images.append(framed(ui.thumbnail(ds, img, size), bool(ok), 4))
        captions.append(f"#{i + 1} post {post} · {sim:.3f}" + (" ✓" if ok else ""))
    st.image(images, caption=captions, width=96)
    if not bool(row["in_gallery"]):
        st.warning("No photo of this post is in the gallery: this query can never be found.")
    elif int(row["rank"]) > k:
        st.warning(f"The first true match is at rank {int(row['rank'])}, outside the top {k}.")


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
            raise ValueError(f"no free letter left for tag {tag!r}")
        out[tag] = free[0]
        taken.add(free[0])
    return out
