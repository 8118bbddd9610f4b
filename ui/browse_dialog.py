"""The photo dialog of the Browse and Embeddings map pages: the photo large (plotly: zoom and
pan), brightness / contrast for viewing, what is known about it, its Grad-CAM maps when they
are cached (a button computes them), its tags and their history, previous / next (also the
Left / Right arrow keys)."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from curation.dataset import Dataset
from curation.images import ImageReadError, load_rgb
from curation.paths import PathError
from curation.store import TagStore
from explain.heatmaps.render import overlay
from ui import compute, loaders
from ui.browse_data import cached_maps
from ui.browse_view import adjust, close, keys, move

FACTS = ("post_id", "split", "outcome", "rank", "bucket", "tags", "truth", "detected", "flags")
FACT_LABELS = {
    "post_id": "post", "rank": "rank of the first true match", "tags": "artifact tags",
    "truth": "ground-truth artifacts", "detected": "detectors found",
}  # fmt: skip


def facts(row: pd.Series) -> pd.DataFrame:
    """What the table knows about one photo, as two columns (what, value); empty values left
    out."""
    out = []
    for name in FACTS:
        value = row.get(name)
        if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
            continue
        out.append({"what": FACT_LABELS.get(name, name), "value": str(value).replace(";", ", ")})
    return pd.DataFrame(out, columns=["what", "value"])


def _photo(ds: Dataset, image: str, prefix: str) -> None:
    try:
        picture = load_rgb(ds.path(image))
    except (ImageReadError, PathError, OSError) as exc:
        st.error(f"`{image}` cannot be read: {exc}")
        return
    c1, c2 = st.columns(2)
    b = c1.slider("Brightness", 0.2, 3.0, 1.0, 0.1, key=f"{prefix}.dlg.brightness",
                  help="For viewing only: the file is not changed.")  # fmt: skip
    c = c2.slider("Contrast", 0.2, 3.0, 1.0, 0.1, key=f"{prefix}.dlg.contrast",
                  help="For viewing only: the file is not changed.")  # fmt: skip
    fig = px.imshow(np.asarray(adjust(picture, b, c)))
    fig.update_layout(height=520, margin={"l": 0, "r": 0, "t": 0, "b": 0}, dragmode="zoom")
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    st.plotly_chart(fig, key=f"{prefix}.dlg.figure", config={"displayModeBar": True})
    st.caption(f"{picture.width}×{picture.height} px · drag to zoom, double-click to reset")


def _heatmaps(ds: Dataset, image: str, models: list | None, prefix: str) -> None:
    st.markdown("**Grad-CAM** (the photo's similarity to itself, default layer)")
    if not models:
        st.caption("No checkpoints loaded: no heatmaps.")
        return
    try:
        photo = loaders.load_photo(ds, image, models[0].input_size)
    except (ImageReadError, PathError, OSError) as exc:
        st.caption(f"No heatmaps: {exc}")
        return
    maps = cached_maps(compute.heatmap_cache(), models, photo.sha1)
    missing = sum(m is None for m in maps)
    asked = bool(missing) and st.button(
        f"Compute Grad-CAM for {missing} checkpoint(s)", key=f"{prefix}.dlg.compute",
        help="About a tenth of a second per checkpoint on a CPU; kept in the heatmap cache.",
    )  # fmt: skip
    if asked and compute.explanation(models, photo, ["gradcam"], {"gradcam": {}}) is not None:
        maps = cached_maps(compute.heatmap_cache(), models, photo.sha1)
        missing = sum(m is None for m in maps)
    shown = [(m.label, hm) for m, hm in zip(models, maps, strict=True) if hm is not None]
    if shown:
        st.image([overlay(photo.picture, hm.map) for _, hm in shown],
                 caption=[label for label, _ in shown], width=96)  # fmt: skip
    if missing:
        st.caption(
            f"{missing} of {len(models)} not in the cache yet (`workbench explain precompute "
            "--all` fills it for every photo)."
        )


def _tags(tags: TagStore, image: str, prefix: str) -> None:
    history = tags.history(image)
    st.markdown(f"**Tag history** ({len(history)} event(s))")
    if history.empty:
        st.caption("Nobody has tagged this photo yet.")
        return
    cols = ["time", "annotator", "action", "bucket", "artifacts", "flags", "note", "epoch",
            "undone"]  # fmt: skip
    st.dataframe(history[[c for c in cols if c in history.columns]], hide_index=True,
                 key=f"{prefix}.dlg.history", height=220)  # fmt: skip


def dialog_body(
    prefix: str, ds: Dataset, table: pd.DataFrame, tags: TagStore, models: list | None
) -> None:
    """The dialog's content for the photo open on page ``prefix`` (its position among the
    order the page opened it with)."""
    k = keys(prefix)
    image = st.session_state.get(k["open"])
    order = st.session_state.get(k["order"]) or [image]
    pos = order.index(image) if image in order else 0
    nav = st.columns([1, 1, 5])
    nav[0].button("Previous", key=f"{prefix}.dlg.prev", on_click=move, args=(prefix, -1),
                  shortcut="Left", width="stretch")  # fmt: skip
    nav[1].button("Next", key=f"{prefix}.dlg.next", on_click=move, args=(prefix, 1),
                  shortcut="Right", width="stretch")  # fmt: skip
    nav[2].markdown(f"**{pos + 1} / {len(order)}** · `{image}`")
    left, right = st.columns([3, 2])
    with left:
        _photo(ds, image, prefix)
    with right:
        rows = table[table["image"] == image]
        if len(rows):
            st.dataframe(facts(rows.iloc[0]), hide_index=True, key=f"{prefix}.dlg.facts")
        _heatmaps(ds, image, models, prefix)
    _tags(tags, image, prefix)


def show(prefix: str, ds: Dataset, table: pd.DataFrame, tags: TagStore,
         models: list | None) -> None:  # fmt: skip
    """Open the dialog when a photo of page ``prefix`` is open (closing it forgets the photo)."""
    if not st.session_state.get(keys(prefix)["open"]):
        return

    @st.dialog("Photo", width="large", on_dismiss=partial(close, prefix))
    def _dialog() -> None:
        dialog_body(prefix, ds, table, tags, models)

    _dialog()
