"""The Embeddings map page's data: one checkpoint's embeddings of the chosen splits (the disk
cache the evaluation fills), their 2-D projection (cached by content, method and parameters)
and the scatter plot, coloured by a column of :func:`ui.browse_data.photo_table`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from curation.dataset import SPLITS, Dataset
from curation.images import ImageReadError
from explain.models.checkpoints import LoadedModel
from explain.retrieval.embeddings import embed_dataset
from explain.retrieval.projection import Projection, cached_project
from explain.storage.cache import DiskCache
from ui.browse_data import GT, NONE
from ui.progress import progress_callback
from ui.workspace import cache_dir, data_key

COLOURS = {
    "post": "post_id", "outcome": "outcome", "bucket": "bucket", "artifact": "artifact",
    "detection": "detected", "split": "split",
}  # fmt: skip
MAX_LEGEND = 24  # more colour groups than this: no legend (every post of a large dataset)
SEED = 0
GREY = "#c4c4c4"  # photos with nothing to colour them by
NO_FILE = "no detections file"


@st.cache_data(show_spinner=False, max_entries=16)
def _embeddings(data: str, sha1: str, splits: tuple[str, ...], _ds: Dataset,
                _member: LoadedModel) -> tuple[np.ndarray, list[str]]:  # fmt: skip
    update, clear = progress_callback(f"Embedding the photos with {_member.label}")
    try:
        # splits in the manifest's order, so query+gallery hits the evaluation's cache entry
        emb = embed_dataset(_member, _ds, cache_dir=cache_dir(), splits=splits, progress=update)
    finally:
        clear()
    return emb.features, emb.images


def embeddings(
    ds: Dataset, member: LoadedModel, splits: Sequence[str]
) -> tuple[np.ndarray, list[str]] | None:
    """Features ``(N, D)`` and their images for the rows of ``splits``, or None after an error."""
    ordered = tuple(s for s in SPLITS if s in set(splits))
    try:
        return _embeddings(data_key(ds), member.sha1, ordered, ds, member)
    except (ValueError, ImageReadError) as exc:
        st.error(f"The photos cannot be embedded: {exc}")
        return None


@st.cache_data(show_spinner="Projecting the embeddings to 2-D…", max_entries=16)
def _projection(digest: str, method: str, _features: np.ndarray) -> tuple[Projection, bool]:
    return cached_project(_features, DiskCache(cache_dir(), "projections"), method, SEED)


def projection(features: np.ndarray, images: Sequence[str], sha1: str,
               method: str) -> Projection | None:  # fmt: skip
    """The 2-D map of ``features`` (cached in memory per checkpoint and photo set, on disk by
    content), or None after showing why it cannot be made."""
    digest = f"{sha1}|" + hashlib.sha1("\n".join(images).encode()).hexdigest()
    try:
        return _projection(digest, method, features)[0]
    except ValueError as exc:
        st.error(f"No map: {exc}")
        return None


def describe(p: Projection, n: int) -> str:
    """What made the map, for its caption."""
    if p.method == "umap":
        return (f"UMAP (umap-learn) of {n} photos, seed {SEED}, 15 neighbours, "
                "min_dist 0.1: near points have near embeddings; distances between clusters "
                "mean little")  # fmt: skip
    why = f" — {p.note}" if p.note else ""
    return f"PCA (the first two principal axes) of {n} photos{why}"


def map_frame(table: pd.DataFrame, images: Sequence[str], points: np.ndarray) -> pd.DataFrame:
    """The rows of ``table`` for ``images`` (in that order) with the map's ``x`` and ``y`` and
    an ``artifact`` column: the store's tags, else the ground truth (``gt:``), else (none)."""
    rows = table.set_index("image").loc[list(images)].reset_index()
    rows["x"], rows["y"] = points[:, 0], points[:, 1]
    rows["artifact"] = [
        t or (GT + g if g else NONE) for t, g in zip(rows["tags"], rows["truth"], strict=True)
    ]
    rows["bucket"] = rows["bucket"].replace("", NONE)
    rows["detected"] = rows["detected"].fillna(NO_FILE).replace("", NONE)
    return rows


def figure(frame: pd.DataFrame, colour: str) -> go.Figure:
    """The scatter plot: one point per photo coloured by ``colour`` (a key of
    :data:`COLOURS`), the photo's name in ``customdata`` (for the selection) and the hover.
    Up to :data:`MAX_LEGEND` groups get a trace and a legend entry each; more (every post of a
    dataset) share one trace, coloured from a cycled palette, without a legend."""
    column = COLOURS[colour]
    values = frame[column].astype(str)
    groups = values.nunique()
    if groups > MAX_LEGEND:
        fig = _one_trace(frame, values)
    else:
        fig = px.scatter(
            frame, x="x", y="y", color=values, custom_data=["image"], hover_name="name",
            hover_data={"post_id": True, "split": True, "outcome": True, "x": False, "y": False},
            labels={"color": colour}, color_discrete_map={NONE: GREY, NO_FILE: GREY},
        )  # fmt: skip
    fig.update_traces(marker={"size": 8, "line": {"width": 0.5, "color": "white"}})
    fig.update_layout(
        height=620, dragmode="lasso", showlegend=groups <= MAX_LEGEND,
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend_title_text=colour,
    )  # fmt: skip
    fig.update_xaxes(showticklabels=False, title=None, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, showgrid=False, zeroline=False)
    return fig


def _one_trace(frame: pd.DataFrame, values: pd.Series) -> go.Figure:
    palette = px.colors.qualitative.Plotly
    codes = {v: i for i, v in enumerate(sorted(set(values)))}
    colours = [GREY if v in (NONE, NO_FILE) else palette[codes[v] % len(palette)] for v in values]
    hover = [
        f"<b>{n}</b><br>post {p} · {s} · {o}"
        for n, p, s, o in zip(frame["name"], frame["post_id"], frame["split"], frame["outcome"],
                              strict=True)
    ]  # fmt: skip
    trace = go.Scatter(
        x=frame["x"], y=frame["y"], mode="markers", marker={"color": colours},
        customdata=[[img] for img in frame["image"]], hovertext=hover, hoverinfo="text",
    )  # fmt: skip
    return go.Figure(trace)
