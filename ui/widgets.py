"""Widgets several pages share: the query picker with its filters and the top-k strip."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curation.dataset import Dataset
from curation.vocabulary import BUCKETS
from explain.heatmaps.render import framed
from ui import links, loaders
from ui.format import on_checkerboard
from ui.queries import (
    NO_BUCKET,
    OUTCOMES,
    artifact_tags,
    filter_queries,
    query_labels,
    query_table,
)
from ui.state import K_QUERY


def _remember(widget_key: str) -> None:
    st.session_state[K_QUERY] = st.session_state[widget_key]


def _step(widget_key: str, options: list[str], to: int) -> None:
    st.session_state[widget_key] = st.session_state[K_QUERY] = options[to % len(options)]


def query_picker(
    ds: Dataset, per_query: pd.DataFrame, state: pd.DataFrame, *, key: str, k: int = 5,
    page: str | None = None,
) -> pd.Series | None:  # fmt: skip
    """Filters (outcome, bucket, artifact tag) and a query selector over ``per_query`` with the
    store's current ``state``, with Previous / Next buttons (keys K / J); the chosen query's row
    of :func:`query_table`, or None when no query passes the filters. The choice is shared across
    pages (the same query stays selected when switching). ``page``: its address name, to read
    and write ``?query=`` and ``?bucket=`` (:mod:`ui.links`)."""
    table = query_table(ds, per_query, state, k)
    all_tags = artifact_tags(table)
    if page is not None:
        raw = links.incoming(page, links.BUCKET)
        if raw is not None:
            wanted = [b for b in raw.split(",") if b]
            bad = [b for b in wanted if b not in (*BUCKETS, NO_BUCKET)]
            if bad:
                st.warning(
                    f"The link's bucket `{raw}` names no bucket ({', '.join(bad)}); buckets are "
                    f"{', '.join(BUCKETS)} and {NO_BUCKET}."
                )
            st.session_state[f"{key}.bucket"] = [b for b in wanted if b not in bad]
    c1, c2, c3 = st.columns(3)
    outcomes = c1.multiselect("Outcome", OUTCOMES, key=f"{key}.outcome")
    buckets = c2.multiselect("Bucket", [*BUCKETS, NO_BUCKET], key=f"{key}.bucket")
    arts = c3.multiselect("Artifact", all_tags, key=f"{key}.artifact")
    shown = filter_queries(table, outcomes=outcomes, buckets=buckets, artifacts=arts)
    if page is not None:
        links.adopt_query(page, K_QUERY, shown["query"].tolist(), table["query"].tolist())
        links.write(page, **{links.BUCKET: list(buckets)})
    if shown.empty:
        st.info("No query passes these filters; widen them.")
        return None
    options = shown["query"].tolist()
    remembered = st.session_state.get(K_QUERY)
    index = options.index(remembered) if remembered in options else 0
    widget = f"{key}.query"
    if st.session_state.get(widget) not in options or remembered in options:
        st.session_state[widget] = options[index]
    labels = query_labels(shown)

    c1, c2, c3 = st.columns([8, 1, 1], vertical_alignment="bottom")
    chosen = c1.selectbox(
        f"Query ({len(options)} of {len(table)})", options, key=widget,
        format_func=labels.__getitem__, on_change=_remember, args=(widget,),
    )  # fmt: skip
    c2.button("Previous", key=f"{key}.prev", on_click=_step, shortcut="K",
              args=(widget, options, options.index(chosen) - 1))  # fmt: skip
    c3.button("Next", key=f"{key}.next", on_click=_step, shortcut="J",
              args=(widget, options, options.index(chosen) + 1))  # fmt: skip
    st.session_state[K_QUERY] = chosen
    if page is not None:
        links.write(page, **{links.QUERY: chosen})
    return shown[shown["query"] == chosen].iloc[0]


def top_k_strip(ds: Dataset, row: pd.Series, k: int = 5, size=(256, 128)) -> None:
    """The query and its top-k gallery matches, true matches framed green, others red."""
    images = [framed(on_checkerboard(loaders.thumbnail(ds, row["query"], size)), None, 4)]
    captions = [f"query {row['query'].split('/')[-1]}"]
    for i, (img, post, sim, ok) in enumerate(
        zip(row["top_images"], row["top_post_ids"], row["top_similarities"], row["top_correct"],
            strict=True)
    ):  # fmt: skip
        if i >= k:
            break
        images.append(framed(on_checkerboard(loaders.thumbnail(ds, img, size)), bool(ok), 4))
        captions.append(f"#{i + 1} post {post} · {sim:.3f}" + (" ✓" if ok else ""))
    st.image(images, caption=captions, width=96)
    if not bool(row["in_gallery"]):
        st.warning("No photo of this post is in the gallery: this query can never be found.")
    elif int(row["rank"]) > k:
        st.warning(f"The first true match is at rank {int(row['rank'])}, outside the top {k}.")


K_KEPT = "ui.kept"  # {widget key: value} of form fields kept while their page is not shown


def _keep(key: str) -> None:
    st.session_state.setdefault(K_KEPT, {})[key] = st.session_state[key]


def kept(key: str, default: object) -> dict:
    """Keyword arguments for a form widget with ``key`` whose value survives leaving its page
    (Streamlit forgets a widget's value when its page is not drawn): ``st.text_input("Epochs",
    key=K, **kept(K, ""))``. The value starts at ``default``."""
    if key not in st.session_state:
        st.session_state[key] = st.session_state.get(K_KEPT, {}).get(key, default)
    return {"on_change": _keep, "args": (key,)}
