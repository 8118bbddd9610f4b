"""Heatmaps: a query, its top-k, and Grad-CAM / occlusion maps per epoch side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import ui
from explain.heatmaps.catalog import method_params, names, reference_method
from explain.heatmaps.explorer import regions_for
from explain.heatmaps.layers import layer_choices
from explain.heatmaps.pair_check import copy_inliers, pair_caveat
from explain.heatmaps.render import COLORMAPS, colour_bar, difference, framed, outlined, overlay
from explain.heatmaps.series import change_score
from ui.widgets import query_picker, top_k_strip

st.title("Heatmaps")
ds, models, ev = ui.evaluated()
tags = ui.store(ds)
labels = ui.epoch_labels(models)
size = models[0].input_size

# -- which query -----------------------------------------------------------------------------
retrieval = st.sidebar.selectbox(
    "Retrieval by", labels, index=len(labels) - 1, key="hm.retrieval",
    help="The checkpoint whose ranking decides the top-k shown and the match explained.",
)  # fmt: skip
per_query = ev.per_query[labels.index(retrieval)]
state = ui.store_state(tags) if tags is not None else pd.DataFrame(columns=["image", "regions"])
row = query_picker(ds, per_query, state, key="hm")


@st.cache_data(show_spinner=False, max_entries=256)
def _pair_caveat(query: str, match: str, similarity: float, _q, _m) -> str | None:
    inliers = copy_inliers(np.asarray(_q), np.asarray(_m))
    return pair_caveat(similarity, inliers=inliers, same_file=query == match)


if row is None:
    st.stop()
top_k_strip(ds, row, k=st.session_state.get("hm.k", 5))

# -- what to explain -------------------------------------------------------------------------
with st.expander("Explanation settings", expanded=True):
    c1, c2, c3 = st.columns([2, 2, 1])
    methods = c1.multiselect(
        "Methods", names(), default=["gradcam", "occlusion"], key="hm.methods",
        help=f"{reference_method()} is a baseline: a method that does no better than it "
        "explains nothing.",
    )  # fmt: skip
    matches = [m for m in row["top_images"]][:10]
    target_opts = ["itself (self-similarity)"] + [
        f"match #{i + 1} {m}" + (" ✓" if ok else "")
        for i, (m, ok) in enumerate(zip(matches, row["top_correct"], strict=False))
    ]
    target = c2.selectbox(
        "Explain the similarity to", target_opts, index=1 if matches else 0, key="hm.target",
        help="A pair explanation shows what each side contributed to the match.",
    )  # fmt: skip
    c3.number_input("Top-k shown", 1, ui.TOP_K, 5, key="hm.k")
    c1, c2, c3, c4 = st.columns(4)
    choices = layer_choices(models[0].model)
    shapes = ui.layer_shapes(models[0], choices)
    layer = c1.selectbox(
        "CAM layer", choices, key="hm.layer",
        format_func=lambda n: f"{n} ({shapes[n][0]}×{shapes[n][1]})",
        help="The last block's map is coarse (16×8 for OSNet at 256×128); earlier layers give "
        "finer maps that see less context.",
    )  # fmt: skip
    window = c2.select_slider("Occlusion window", [8, 12, 16, 24, 32], 16, key="hm.window")
    stride = c3.select_slider("Occlusion stride", [4, 8, 12, 16], 8, key="hm.stride")
    baseline = c4.selectbox(
        "Occlusion baseline", ["blur", "mean", "black"], key="hm.baseline",
        help="What hides a window. blur: the blurred photo (black stays black); mean: a patch of "
        "the photos' mean fur colour — on a segmented photo it paints fur onto the black "
        "background, which the model reacts to, so much of the map lands there; black: removes "
        "what the window covers, like segmenting it away, and can never credit the background.",
    )  # fmt: skip
    c1, c2, c3 = st.columns(3)
    opacity = c1.slider("Opacity", 0.0, 1.0, 0.5, 0.05, key="hm.opacity")
    cmap = c2.selectbox("Colormap", list(COLORMAPS), key="hm.cmap")
    outline = c3.toggle("Outline animal and artifact regions", value=True, key="hm.outline")
if not methods:
    st.info("Choose at least one method.")
    st.stop()

colour = ui.dataset_colour(ds) if baseline == "mean" else None
settings = {"layer": layer, "window": window, "stride": stride, "baseline": baseline,
            "colour": None if colour is None else [round(c, 4) for c in colour]}  # fmt: skip
params = {m: method_params(m, **settings) for m in methods}
query = ui.load_photo(ds, row["query"], size)
match = None
if target_opts.index(target) > 0:
    match = ui.load_photo(ds, matches[target_opts.index(target) - 1], size)
drawn = state.loc[state["image"] == row["query"], "regions"]
drawn = drawn.iloc[0] if len(drawn) else []
regions = regions_for(ds, row["query"], size, annotator_regions=drawn,
                      original_size=query.original_size, picture=query.picture)  # fmt: skip
exp = ui.explanation(
    models, query, methods, params, match=match, regions=regions,
    regions_key=f"{row['query']}:{drawn}",
)  # fmt: skip
if exp is None:
    st.stop()

if match is not None:  # a pair of one picture explains nothing: say so, do not draw it as evidence
    pick = target_opts.index(target) - 1
    caveat = _pair_caveat(row["query"], match.image, float(row["top_similarities"][pick]),
                          query.picture, match.picture)  # fmt: skip
    if caveat is not None:
        st.warning(caveat)

st.caption(
    f"Animal mask: {regions.animal_source} · artifact regions: {regions.artifact_source}"
    + (f" ({', '.join(regions.artifacts)})" if regions.artifacts else "")
    + f" · occlusion baseline: {baseline}"
    + (f" (RGB {', '.join(f'{c:.2f}' for c in colour)})" if baseline == "mean" else "")
)
st.image(colour_bar(240, cmap))
outline_masks = {}
if outline:
    if regions.animal is not None:
        outline_masks["animal"] = regions.animal
    outline_masks.update(regions.artifacts)


def picture(pic, heat) -> np.ndarray:
    img = overlay(pic, heat, opacity=opacity, colormap=cmap)
    return outlined(img, outline_masks) if outline_masks else img


def score_line(scores: pd.DataFrame, label: str) -> str:
    rows = {r["region"]: r for r in scores.to_dict("records") if r["label"] == label}
    if not rows:
        return ""
    if next(iter(rows.values()))["empty"]:
        return "no positive attribution"
    parts = []
    if "animal" in rows:
        parts.append(f"animal {ui.pct(rows['animal']['mass'])}")
    if "artifacts" in rows:
        parts.append(f"artifacts {ui.pct(rows['artifacts']['mass'])}")
        parts.append("peak on artifact" if rows["artifacts"]["peak"] else "")
    return " · ".join(p for p in parts if p)


# -- the grid: one row per epoch, a column per method (and side) -----------------------------
header = st.columns([1] + [2 if match is not None else 1] * len(methods))
header[0].markdown("**epoch**")
for col, m in zip(header[1:], methods, strict=True):
    col.markdown(f"**{m}**" + (" · query | match" if match is not None else ""))
for i, label in enumerate(exp.query[methods[0]].labels):
    cols = st.columns([1] + [2 if match is not None else 1] * len(methods))
    sim = f"similarity {exp.similarity[i]:.3f}" if exp.similarity else ""
    cols[0].markdown(f"**{label}**  \n{sim}")
    for col, m in zip(cols[1:], methods, strict=True):
        tiles = [picture(query.picture, exp.query[m].heatmaps[i].map)]
        if match is not None:
            tiles.append(picture(match.picture, exp.match[m].heatmaps[i].map))
        col.image(tiles, width=128)
        col.caption(score_line(exp.scores[m], label))

# -- scores, change between epochs, difference maps -----------------------------------------
st.subheader("Attribution scores")
rows = []
for m in methods:
    sc = exp.scores[m]
    for label in exp.query[m].labels:
        s = sc[sc["label"] == label].set_index("region")
        rows.append(
            {
                "method": m,
                "checkpoint": label,
                "on animal": s["mass"].get("animal", np.nan),
                "on artifacts": s["mass"].get("artifacts", np.nan),
                "artifact enrichment": s["enrichment"].get("artifacts", np.nan),
                "peak on animal": bool(s["peak"].get("animal", False)),
                "no positive attribution": bool(s["empty"].iloc[0]) if len(s) else True,
            }
        )
pct = st.column_config.NumberColumn(format="percent")
st.dataframe(
    pd.DataFrame(rows), hide_index=True, key="hm.scores",
    column_config={"on animal": pct, "on artifacts": pct},
)  # fmt: skip
st.caption(
    "on animal / on artifacts: share of the positive attribution inside the region "
    "(relevance mass); enrichment: that share divided by the region's share of the photo "
    "(1 = no preference); peak: the hottest pixel lies in the region (pointing game)."
)

st.subheader("Change between epochs")
c1, c2, c3 = st.columns(3)
a = c1.selectbox("From", labels, index=0, key="hm.diff_a")
b = c2.selectbox("To", labels, index=len(labels) - 1, key="hm.diff_b")
dm = c3.selectbox("Method", methods, key="hm.diff_method")
ia, ib = labels.index(a), labels.index(b)
series_maps = exp.query[dm]
ma, mb = series_maps.heatmaps[ia].map, series_maps.heatmaps[ib].map
c1, c2, c3 = st.columns(3)
c1.image(framed(picture(query.picture, ma), None, 1), caption=a, width=128)
c2.image(framed(picture(query.picture, mb), None, 1), caption=b, width=128)
c3.image(
    framed(difference(mb - ma), None, 1), width=128,
    caption=f"{b} − {a}: red gained, blue lost · Spearman {change_score(ma, mb):.2f}",
)  # fmt: skip
scores = series_maps.change_scores()
st.caption(
    "Rank correlation of consecutive maps (1 = same ranking of pixels): "
    + " · ".join(f"{labels[i]} → {labels[i + 1]} {s:.2f}" for i, s in enumerate(scores))
)
