"""Embeddings map: one checkpoint's embedding of every photo projected to 2-D (UMAP, or PCA),
coloured by post, outcome, bucket, artifact, detection or split; a lasso or box around a
cluster lists its photos below, to open and tag in bulk."""

from __future__ import annotations

import streamlit as st

import ui
from curation.vocabulary import SPLITS
from explain.retrieval.projection import METHODS
from ui import browse_dialog as dialog
from ui import browse_map as bm
from ui import browse_view as view
from ui.browse_data import FOUND_K, page_count, page_rows, photo_table, selected_images
from ui.browse_detections import detections

P = "emb"
PER_PAGE = 36
K_PICKED = "emb.picked"


def picked_images(selection: dict | None) -> list[str]:
    """The photos the map's selection holds; after a bulk tag (which redraws the map and so
    drops plotly's selection) the previous ones."""
    got = selected_images(selection)
    if got or not st.session_state.pop(f"{P}.bulk.applied", False):
        st.session_state[K_PICKED] = got
    return list(st.session_state.get(K_PICKED, []))


st.title("Embeddings map")
ds, models, ev = ui.evaluated()
tags = ui.store(ds)
if tags is None:
    st.stop()
epochs = [m.epoch for m in models]
if "emb.epoch" not in st.session_state:
    asked = view.url_int("epoch")
    st.session_state["emb.epoch"] = asked if asked in epochs else epochs[-1]
    asked_splits = [v for raw in view.url_values("split") for v in raw.split(",")]
    splits = [s for s in asked_splits if s in SPLITS]
    st.session_state["emb.f.split"] = splits or ["query", "gallery"]
    colour = st.query_params.get("colour")
    st.session_state["emb.colour"] = colour if colour in bm.COLOURS else "post"
    method = st.query_params.get("method")
    st.session_state["emb.method"] = method if method in METHODS else "auto"
chosen = st.sidebar.selectbox("Checkpoint", epochs, key="emb.epoch",
                              format_func=lambda e: f"epoch {e}")  # fmt: skip
member = models[epochs.index(chosen)]
found, detection_help = detections(P, tags)
state = ui.store_state(tags)
table = photo_table(ds, ev.per_query[epochs.index(chosen)], state, found, k=FOUND_K)

c1, c2, c3 = st.columns([2, 1, 1])
present = [s for s in SPLITS if s in set(table["split"])]
st.session_state["emb.f.split"] = [s for s in st.session_state["emb.f.split"] if s in present]
splits = c1.multiselect(
    "Splits", present, key="emb.f.split",
    help="Query and gallery are embedded by the evaluation already; train photos are embedded "
    "(and cached) the first time they are asked for.",
)  # fmt: skip
colour = c2.selectbox("Colour by", list(bm.COLOURS), key="emb.colour")
method = c3.selectbox("Projection", METHODS, key="emb.method",
                      help="auto: UMAP when umap-learn is installed and there are 16 photos or "
                      "more, else PCA.")  # fmt: skip
view.sync_url({"split": splits}, epoch=chosen, colour=colour,
              method=method if method != "auto" else None)  # fmt: skip
if not splits:
    st.info("Choose at least one split to map.")
    st.stop()

got = bm.embeddings(ds, member, splits)
if got is None:
    st.stop()
features, images = got
proj = bm.projection(features, images, member.sha1, method)
if proj is None:
    st.stop()
st.caption(f"{member.label} · {bm.describe(proj, len(images))}. Drag a lasso or a box around "
           "points to list those photos below; hover a point for its name.")  # fmt: skip
if colour == "detection" and detection_help:
    st.caption(detection_help)
frame = bm.map_frame(table, images, proj.points)
event = st.plotly_chart(
    bm.figure(frame, colour), key="emb.map", on_select="rerun", selection_mode=("lasso", "box"),
    config={"displayModeBar": True},
)  # fmt: skip
picked = picked_images(event.selection if event is not None else None)

if not picked:
    st.info("Nothing selected: drag a lasso or a box around a cluster.")
else:
    shown = table.set_index("image").loc[picked].reset_index()
    st.subheader(f"{len(shown)} selected on the map")
    pages = page_count(len(shown), PER_PAGE)
    st.session_state["emb.page"] = min(int(st.session_state.get("emb.page", 1)), pages)
    page = int(st.columns(6)[0].number_input("Page", 1, pages, key="emb.page")) if pages > 1 else 1
    rows = page_rows(shown, page, PER_PAGE)
    view.bulk_bar(P, tags, state, shown["image"].tolist(), select_label=f"Select all {len(shown)}",
                  model=f"{member.arch}:{member.sha1[:12]}", epoch=member.epoch)  # fmt: skip
    view.grid(ds, rows, shown["image"].tolist(), prefix=P, columns=6)
dialog.show(P, ds, table, tags, models)
