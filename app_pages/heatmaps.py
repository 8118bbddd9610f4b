"""Heatmaps: a query, its top-k, and Grad-CAM / occlusion maps per epoch side by side.

Slow methods (occlusion) are computed by the server's one background worker
(:mod:`ui.background`): the other maps are drawn at once, each slow tile is a grey placeholder
until its map is in the cache, and the grid looks again every second until they are all there.
J / K: next / previous query. In a pair view each tile carries its own photo's outlines and
scores. Address: ``heatmaps?query=…&epoch=…&method=gradcam,occlusion&bucket=…``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import ui
from explain.heatmaps.catalog import method_params, names, reference_method, spec
from explain.heatmaps.explorer import QueryExplanation, regions_for, scores_table
from explain.heatmaps.layers import layer_choices
from explain.heatmaps.pair_check import copy_inliers, pair_caveat
from explain.heatmaps.render import COLORMAPS, colour_bar, difference, framed, outlined, overlay
from explain.heatmaps.series import change_score
from ui import background, links
from ui.widgets import query_picker, top_k_strip

PAGE = "heatmaps"
TILE = 192  # pixels: the width of one map in the grid
st.title("Heatmaps")
ds, models, ev = ui.evaluated()
tags = ui.store(ds)
labels = ui.epoch_labels(models)
size = models[0].input_size

# -- which query -----------------------------------------------------------------------------
links.adopt(PAGE, links.EPOCH, "hm.retrieval", labels, what="the epoch of a loaded checkpoint",
            parse=links.epoch_parser(models))  # fmt: skip
if st.session_state.get("hm.retrieval") not in labels:
    st.session_state["hm.retrieval"] = labels[-1]
retrieval = st.sidebar.selectbox(
    "Retrieval by", labels, key="hm.retrieval",
    help="The checkpoint whose ranking decides the top-k shown and the match explained.",
)  # fmt: skip
per_query = ev.per_query[labels.index(retrieval)]
state = ui.store_state(tags) if tags is not None else pd.DataFrame(columns=["image", "regions"])
row = query_picker(ds, per_query, state, key="hm", page=PAGE)
links.write(PAGE, **{links.EPOCH: links.epoch_of(models, retrieval)})


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
    raw = links.incoming(PAGE, links.METHOD)
    if raw is not None:
        asked = [m for m in raw.split(",") if m]
        unknown = [m for m in asked if m not in names()]
        if unknown:
            st.warning(
                f"The link's method `{', '.join(unknown)}` is not one of {', '.join(names())}."
            )
        st.session_state["hm.methods"] = [m for m in asked if m in names()]
    if "hm.methods" not in st.session_state:
        st.session_state["hm.methods"] = ["gradcam", "occlusion"]
    methods = c1.multiselect(
        "Methods", names(), key="hm.methods",
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
links.write(PAGE, **{links.METHOD: list(methods)})
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


def drawn_regions(image: str) -> list:
    """The annotators' regions of ``image`` in the store (empty when none)."""
    found = state.loc[state["image"] == image, "regions"]
    return list(found.iloc[0] or []) if len(found) else []


def photo_regions(pic):
    """The animal mask and artifact regions of one photo (its own, never the other side's)."""
    return regions_for(ds, pic.image, size, annotator_regions=drawn_regions(pic.image),
                       original_size=pic.original_size, picture=pic.picture)  # fmt: skip


drawn = drawn_regions(row["query"])
regions = photo_regions(query)
match_regions = photo_regions(match) if match is not None else None
fast = [m for m in methods if not spec(m).slow]  # drawn in this run
slow = [m for m in methods if spec(m).slow]  # computed in the background, drawn when ready
with background.foreground():
    exp = ui.explanation(
        models, query, fast, {m: params[m] for m in fast}, match=match, regions=regions,
        regions_key=f"{row['query']}:{drawn}",
    )  # fmt: skip
if exp is None:
    st.stop()
try:
    pending = background.follow(models, query, slow, params, match=match)
except ValueError as exc:
    st.error(f"The {', '.join(slow)} maps cannot be computed: {exc}")
    st.stop()
waiting = not all(p.finished for p in pending.values())


def completed(exp: QueryExplanation, pending: dict) -> QueryExplanation:
    """``exp`` plus each slow method whose maps are all in the cache."""
    out = QueryExplanation(dict(exp.query), dict(exp.match), list(exp.similarity),
                           dict(exp.scores))  # fmt: skip
    for m, p in pending.items():
        q, g = p.series(models, "query"), p.series(models, "match")
        if q is not None and (match is None or g is not None):
            out.query[m], out.scores[m] = q, scores_table(q, regions)
            if g is not None:
                out.match[m] = g
    return out


exp = completed(exp, pending)
ready = [m for m in methods if m in exp.query]  # every map there: scored and compared below
match_scores = (
    {m: scores_table(exp.match[m], match_regions) for m in ready} if match is not None else {}
)

if match is not None:  # a pair of one picture explains nothing: say so, do not draw it as evidence
    pick = target_opts.index(target) - 1
    caveat = _pair_caveat(row["query"], match.image, float(row["top_similarities"][pick]),
                          query.picture, match.picture)  # fmt: skip
    if caveat is not None:
        st.warning(caveat)


def sources(reg) -> str:
    return f"animal mask: {reg.animal_source} · artifact regions: {reg.artifact_source}" + (
        f" ({', '.join(reg.artifacts)})" if reg.artifacts else ""
    )


st.caption(
    f"Query — {sources(regions)}"
    + (f" | match — {sources(match_regions)}" if match_regions is not None else "")
    + f" · occlusion baseline: {baseline}"
    + (f" (RGB {', '.join(f'{c:.2f}' for c in colour)})" if baseline == "mean" else "")
)
st.image(colour_bar(2 * TILE, cmap))


def outlines(reg) -> dict:
    masks = {}
    if outline and reg is not None:
        if reg.animal is not None:
            masks["animal"] = reg.animal
        masks.update(reg.artifacts)
    return masks


def picture(pic, heat, reg) -> np.ndarray:
    """One tile: the map over the photo, outlined with that photo's own regions."""
    img = overlay(ui.on_checkerboard(np.asarray(pic.picture)), heat, opacity=opacity,
                  colormap=cmap)  # fmt: skip
    masks = outlines(reg)
    return outlined(img, masks) if masks else img


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


def waiting_tiles(m: str, i: int, pend: dict) -> tuple[list[np.ndarray], list[str]]:
    """Tiles of a background method: each map that is ready, a grey placeholder otherwise."""
    p = pend[m]
    tiles, caps = [], []
    for side, pic, reg in [("query", query, regions)] + (
        [("match", match, match_regions)] if match is not None else []
    ):
        key = p.at(i, side).key
        head = f"{side} · " if match is not None else ""
        if key in p.maps:
            tiles.append(picture(pic, p.maps[key].map, reg))
            caps.append(head + "ready")
        elif key in p.errors:
            tiles.append(background.placeholder(pic.picture))
            caps.append(head + f"{m} failed (see above)")
        else:
            tiles.append(background.placeholder(pic.picture))
            caps.append(head + p.status())
    if len(caps) > 1 and all(c.endswith(p.status()) for c in caps):
        caps = [p.status()]  # both sides waiting: say it once
    return tiles, caps


def tiles_of(m: str, i: int, pend: dict | None = None) -> tuple[list[np.ndarray], list[str]]:
    """The tiles of method ``m`` at checkpoint ``i`` (query, then match) and their captions."""
    if m not in exp.query:
        return waiting_tiles(m, i, pend or pending)
    label = exp.query[m].labels[i]
    tiles = [picture(query, exp.query[m].heatmaps[i].map, regions)]
    caps = [("query · " if match is not None else "") + score_line(exp.scores[m], label)]
    if match is not None:
        tiles.append(picture(match, exp.match[m].heatmaps[i].map, match_regions))
        caps.append("match · " + score_line(match_scores[m], label))
    return tiles, caps


@st.dialog("Zoom", width="large")
def zoom(i: int) -> None:
    label = series_labels[i]
    st.markdown(f"**{label}** · `{row['query']}`" + (f" ↔ `{match.image}`" if match else ""))
    for m in methods:
        tiles, caps = tiles_of(m, i)
        st.image(tiles, caption=[f"{m} · {c}" for c in caps], width=360)
    st.image(colour_bar(720, cmap))


# -- the grid: one row per epoch, a column per method (and side) -----------------------------
series_labels = [m.label for m in models]


@st.fragment(run_every=background.POLL_SECONDS if waiting else None)
def grid() -> None:
    """The grid; while background maps are missing it looks again every second, and reruns the
    page once they are all there (so the tables below include them), then stops polling."""
    pend = background.follow(models, query, slow, params, match=match) if waiting else pending
    for p in pend.values():
        if p.errors:
            failed = ", ".join(label for label, _ in p.errors.values())
            first = next(iter(p.errors.values()))[1]
            st.error(f"These maps could not be computed: {failed}. {type(first).__name__}: "
                     f"{first}")  # fmt: skip
            if st.button("Try them again", key=f"hm.retry.{p.method}"):
                background.retry({p.method: p})
                st.rerun()
        elif not p.finished:
            st.caption(f"{p.status()} in the background; the tiles fill in as they are ready "
                       "(you may switch query or leave the page meanwhile).")  # fmt: skip
    widths = [1] + [2 if match is not None else 1] * len(methods)
    header = st.columns(widths)
    header[0].markdown("**epoch**")
    for col, m in zip(header[1:], methods, strict=True):
        col.markdown(f"**{m}**" + (" · query | match" if match is not None else ""))
    for i, label in enumerate(series_labels):
        cols = st.columns(widths)
        sim = f"similarity {exp.similarity[i]:.3f}" if exp.similarity else ""
        cols[0].markdown(f"**{label}**  \n{sim}")
        cols[0].button("Zoom", key=f"hm.zoom.{i}", on_click=zoom, args=(i,),
                       icon=":material/zoom_in:")  # fmt: skip
        for col, m in zip(cols[1:], methods, strict=True):
            tiles, caps = tiles_of(m, i, pend)
            col.image(tiles, width=TILE)
            col.caption(" | ".join(caps))
    if waiting and all(p.finished for p in pend.values()):
        st.rerun()


grid()

# -- scores, change between epochs, difference maps -----------------------------------------
st.subheader("Attribution scores")


def score_rows(m: str, side: str, sc: pd.DataFrame) -> list[dict]:
    out = []
    for label in exp.query[m].labels:
        s = sc[sc["label"] == label].set_index("region")
        out.append(
            {
                "method": m,
                "side": side,
                "checkpoint": label,
                "on animal": s["mass"].get("animal", np.nan) * 100,
                "on artifacts": s["mass"].get("artifacts", np.nan) * 100,
                "artifact enrichment": s["enrichment"].get("artifacts", np.nan),
                "peak on animal": bool(s["peak"].get("animal", False)),
                "no positive attribution": bool(s["empty"].iloc[0]) if len(s) else True,
            }
        )
    return out


rows = []
for m in ready:
    rows += score_rows(m, "query", exp.scores[m])
    if m in match_scores:
        rows += score_rows(m, "match", match_scores[m])
share = st.column_config.NumberColumn(format=ui.PCT_FORMAT)
st.dataframe(
    pd.DataFrame(rows), hide_index=True, key="hm.scores", placeholder=ui.EMPTY,
    column_config={"on animal": share, "on artifacts": share,
                   "artifact enrichment": st.column_config.NumberColumn(format="%.2f")},
)  # fmt: skip
if len(ready) < len(methods):
    st.caption(f"{', '.join(m for m in methods if m not in ready)}: scored once every map is "
               "ready.")  # fmt: skip
st.caption(
    "on animal / on artifacts: share of the positive attribution inside the region "
    "(relevance mass); enrichment: that share divided by the region's share of the photo "
    "(1 = no preference); peak: the hottest pixel lies in the region (pointing game)."
)

st.subheader("Change between epochs")
if not ready:
    st.info(f"{', '.join(methods)}: the maps are still being computed; this section appears "
            "when they are ready.")  # fmt: skip
    st.stop()
c1, c2, c3 = st.columns(3)
a = c1.selectbox("From", labels, index=0, key="hm.diff_a")
b = c2.selectbox("To", labels, index=len(labels) - 1, key="hm.diff_b")
dm = c3.selectbox("Method", ready, key="hm.diff_method")
ia, ib = labels.index(a), labels.index(b)
series_maps = exp.query[dm]
ma, mb = series_maps.heatmaps[ia].map, series_maps.heatmaps[ib].map
c1, c2, c3 = st.columns(3)
c1.image(framed(picture(query, ma, regions), None, 1), caption=a, width=TILE)
c2.image(framed(picture(query, mb, regions), None, 1), caption=b, width=TILE)
c3.image(
    framed(difference(mb - ma), None, 1), width=TILE,
    caption=f"{b} − {a}: red gained, blue lost · Spearman {change_score(ma, mb):.2f}",
)  # fmt: skip
scores = series_maps.change_scores()
st.caption(
    "Rank correlation of consecutive maps (1 = same ranking of pixels): "
    + " · ".join(f"{labels[i]} → {labels[i + 1]} {s:.2f}" for i, s in enumerate(scores))
)
