"""Overview: the dataset (counts, warnings, photos), the checkpoints and the tag store."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui

st.title("Re-ID workbench")
st.caption(
    "Explain and curate a re-identification model: metrics per checkpoint, heatmaps per epoch, "
    "triage of queries into worked / missed / spurious, and a cleaned training manifest."
)
ws = ui.workspace()
ds = ui.dataset()
if ds is not None:
    st.subheader("Dataset")
    st.caption(ds.source)
    counts = ds.counts()
    cols = st.columns(len(counts) + 1)
    for col, (split, row) in zip(cols, counts.iterrows(), strict=False):
        col.metric(
            split,
            f"{row['images']} photos",
            f"{row['posts']} posts",
            delta_color="off",
            delta_arrow="off",
        )
    if ds.has_ground_truth and "polluted" in ds.table:
        polluted = ds.table.loc[ds.table["polluted"].astype(bool), "post_id"].nunique()
        cols[-1].metric(
            "ground truth",
            f"{polluted} polluted",
            "train posts",
            delta_color="off",
            delta_arrow="off",
        )
    if ds.warnings:
        with st.expander(f"{len(ds.warnings)} warning(s) from the loader", expanded=True):
            for finding in ds.warnings:
                st.warning(finding.message)

    splits = list(counts.index)
    c1, c2 = st.columns([2, 1])
    split = c1.segmented_control("Photos", splits, default=splits[0], key="home.split")
    n = c2.slider("How many", 8, 64, 24, step=8, key="home.count")
    rows = ds.split(split or splits[0]).head(n)
    arts = rows["artifacts"].fillna("") if "artifacts" in rows else pd.Series([""] * len(rows))
    st.image(
        [ui.thumbnail(ds, p) for p in rows["image"]],
        caption=[
            f"{post}_{ph}" + (f" · {a}" if a else "")
            for post, ph, a in zip(rows["post_id"], rows["photo"], arts, strict=True)
        ],
        width=96,
    )

st.subheader("Checkpoints")
st.caption(ws.checkpoints)
models = ui.series()
if models:
    table = pd.DataFrame(
        {
            "epoch": [m.epoch for m in models],
            "file": [m.path.name for m in models],
            "architecture": [m.arch for m in models],
            "input (H×W)": [f"{m.input_size[0]}×{m.input_size[1]}" for m in models],
            "size (MB)": [round(m.path.stat().st_size / 1e6, 2) for m in models],
        }
    )
    if ds is not None:
        ev = ui.evaluation(ds, models)
        if ev is not None:
            table["rank-1"] = ev.metrics["rank1"].to_numpy()
            table["mAP"] = ev.metrics["mAP"].to_numpy()
            valid = int(ev.metrics["num_valid"].iloc[0])
            total = int(ev.metrics["num_query"].iloc[0])
            if valid < total:
                st.info(
                    f"{total - valid} of {total} queries have no photo of their post in the "
                    "gallery: they can never be found and are left out of mAP and CMC."
                )
    st.dataframe(
        table,
        hide_index=True,
        key="home.checkpoints",
        column_config={
            "rank-1": st.column_config.NumberColumn(format="percent"),
            "mAP": st.column_config.NumberColumn(format="percent"),
        },
    )

st.subheader("Tag store")
tags = ui.store(ds)
if tags is not None:
    state = ui.store_state(tags)
    c1, c2, c3 = st.columns(3)
    c1.metric("events", tags.count())
    c2.metric("tagged images", len(state))
    c3.metric("annotators", state["annotator"].nunique() if len(state) else 0)
    st.caption(f"{tags.url} · schema v{tags.schema_version()}")
