"""Overview: the workspace's dataset (counts, warnings, a look at the photos) and checkpoints."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pages import ui

st.title("Re-ID workbench")
ws = ui.workspace()
ds = ui.dataset()
if ds is not None:
    st.subheader("Dataset")
    st.caption(ds.source)
    counts = ds.counts()
    cols = st.columns(len(counts) + 1)
    for col, (split, row) in zip(cols, counts.iterrows(), strict=False):
        col.metric(
            f"{split}", f"{row['images']} photos", f"{row['posts']} posts", delta_color="off"
        )
    if ds.has_ground_truth and "polluted" in ds.table:
        polluted = ds.table.loc[ds.table["polluted"], "post_id"].nunique()
        cols[-1].metric("ground truth", f"{polluted} polluted", "train posts", delta_color="off")
    for finding in ds.warnings:
        st.warning(finding.message)

    splits = list(counts.index)
    split = st.segmented_control("Photos", splits, default=splits[0], key="home.split")
    rows = ds.split(split or splits[0])
    n = st.slider("How many", 8, 64, 24, step=8, key="home.count")
    sample = rows.head(n)
    st.image(
        [str(ds.path(p)) for p in sample["image"]],
        caption=[
            f"{p} · {a}" if a else p
            for p, a in zip(
                sample["post_id"] + "_" + sample["photo"].astype(str),
                sample["artifacts"] if "artifacts" in sample else [""] * len(sample),
                strict=True,
            )
        ],
        width=96,
    )

st.subheader("Checkpoints")
st.caption(ws.checkpoints)
files = ui.checkpoints()
if files:
    st.dataframe(
        pd.DataFrame(
            {
                "epoch": [f.epoch for f in files],
                "file": [f.path.name for f in files],
                "size (MB)": [round(f.path.stat().st_size / 1e6, 2) for f in files],
            }
        ),
        hide_index=True,
        key="home.checkpoints",
    )
