"""Browse: every photo of the dataset as a grid of thumbnails, filtered by split, post, outcome
at an epoch, bucket, artifact tag, detection and review; a photo opens in a dialog; selected
photos are tagged in bulk. The filters and the page number are in the address, so a link opens
the same view."""

from __future__ import annotations

import streamlit as st

import ui
from ui import browse_dialog as dialog
from ui import browse_view as view
from ui.browse_data import (
    FOUND_K,
    filter_choices,
    filter_photos,
    page_count,
    page_rows,
    photo_table,
)
from ui.browse_detections import detections
from ui.state import FIX_CHECKPOINTS
from ui.views import saved_views

P = "browse"
PER_PAGE = (24, 36, 48)
COLUMNS = 6

st.title("Browse")
ds = ui.dataset()
if ds is None:
    st.stop()
tags = ui.store(ds)
if tags is None:
    st.stop()
models = ui.series()
ev = ui.evaluation(ds, models) if models else None

# -- which checkpoint decides "found" ---------------------------------------------------------
member, per_query = None, None
if ev is not None:
    epochs = [m.epoch for m in models]
    if "browse.epoch" not in st.session_state:
        asked = view.url_int("epoch")
        st.session_state["browse.epoch"] = asked if asked in epochs else epochs[-1]
    chosen = st.sidebar.selectbox(
        "Outcome at epoch", epochs, key="browse.epoch", format_func=lambda e: f"epoch {e}",
        help=f"Found = a true match within the top {FOUND_K} at this checkpoint.",
    )  # fmt: skip
    member = models[epochs.index(chosen)]
    per_query = ev.per_query[epochs.index(chosen)]
else:
    st.info(f"Outcomes need checkpoints: every photo reads 'not a query'. {FIX_CHECKPOINTS}")

found, detection_help = detections(P, tags)
state = ui.store_state(tags)
table = photo_table(ds, per_query, state, found, k=FOUND_K)
choices = filter_choices(table, tags.vocabulary())
view.init_from_url(P, choices)
filters = view.filter_bar(P, choices, detection_help=detection_help)
shown = filter_photos(table, **filters)

# -- page --------------------------------------------------------------------------------------
c1, c2, c3 = st.columns([1, 1, 4])
per_page = c1.selectbox("Photos a page", PER_PAGE, index=0, key="browse.per_page")
pages = page_count(len(shown), per_page)
if "browse.page" not in st.session_state:
    st.session_state["browse.page"] = view.url_int("page", 1)
st.session_state["browse.page"] = min(max(1, int(st.session_state["browse.page"])), pages)
page = int(c2.number_input("Page", 1, pages, key="browse.page"))
reviewed = int(table["reviewed"].sum())
c3.markdown(
    f"**{len(shown)} of {len(table)} photos** · page {page} of {pages} · "
    f"{reviewed} reviewed in the store"
)
view.sync_url(filters, page=page if page > 1 else None, epoch=member.epoch if member else None,
              annotator=view.who() if st.query_params.get("annotator") else None)  # fmt: skip
saved_views(tags, P, P, view.who())

rows = page_rows(shown, page, per_page)
model_id = f"{member.arch}:{member.sha1[:12]}" if member is not None else None
view.bulk_bar(P, tags, state, rows["image"].tolist(), model=model_id,
              epoch=member.epoch if member else None)  # fmt: skip
if shown.empty:
    st.info("No photo passes these filters; widen them.")
else:
    view.grid(ds, rows, shown["image"].tolist(), prefix=P, columns=COLUMNS)
dialog.show(P, ds, table, tags, models)
