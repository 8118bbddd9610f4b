"""Checkpoints: metrics per epoch, CMC curves, per-query ranks across epochs, match confidence."""

from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

import ui
from explain.retrieval.baselines import evaluate_baselines, verdict, yardstick
from explain.retrieval.confidence import choose_threshold
from explain.retrieval.epochs import TRAJECTORIES, cmc_frame, found_but_not, rank_table
from ui import links


@st.cache_data(show_spinner="Scoring the trivial baselines (colour histogram, pHash)…")
def _baselines(data: str, _ds) -> list:
    return evaluate_baselines(_ds, cache_dir=ui.cache_dir())


st.title("Checkpoints")
ds, models, ev = ui.evaluated()
m = ev.metrics
st.caption(
    f"{len(models)} checkpoints of {models[0].arch} · {int(m['num_query'].iloc[0])} queries "
    f"({int(m['num_valid'].iloc[0])} with a true match in the gallery) against "
    f"{int(m['num_gallery'].iloc[0])} gallery photos · torchreid's protocol (same post and camid "
    "left out) · cosine similarity, exact faiss search"
)

cols = st.columns(len(m))
for col, (_, row) in zip(cols, m.iterrows(), strict=True):
    col.metric(
        row["label"],
        f"mAP {row['mAP']:.1%}",
        f"rank-1 {row['rank1']:.1%}",
        "off",
        delta_arrow="off",
    )

yard = yardstick(m, _baselines(ui.data_key(ds), ds))
with st.expander(f"Better than colour? {verdict(yard)}", expanded=False):
    st.dataframe(
        yard,
        hide_index=True,
        key="ckpt.yardstick",
        column_config={
            c: st.column_config.NumberColumn(c, format="%.3f")
            for c in ("mAP", "rank1", "rank5", "rank10", "mINP")
        },
    )
    st.caption(
        "Trivial matchers through the same metrics code: a colour histogram of the animal's "
        "pixels (HSV) and a perceptual hash. A model below them matches mostly on colour."
    )

left, right = st.columns(2)
long = m.melt(
    id_vars=["epoch"],
    value_vars=["mAP", "rank1", "rank5", "rank10", "mINP"],
    var_name="metric",
    value_name="value",
)
fig = px.line(long, x="epoch", y="value", color="metric", markers=True, title="Metrics per epoch")
fig.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=380)
left.plotly_chart(fig, key="ckpt.metrics")
cmc = cmc_frame(ev)
fig = px.line(cmc, x="rank", y="cmc", color="label", markers=True, title="CMC curves")
fig.update_layout(yaxis_tickformat=".0%", yaxis_range=[0, 1], height=380)
right.plotly_chart(fig, key="ckpt.cmc")

# -- per-query table -------------------------------------------------------------------------
st.subheader("Per query")
k = st.slider("Found = true match within the top", 1, ui.TOP_K, 5, key="ckpt.k")
table = rank_table(ev, k=k)
labels = m["label"].tolist()
c1, c2, c3 = st.columns([2, 1, 1])
picked = c1.multiselect(
    "Trajectory over the epochs",
    TRAJECTORIES,
    default=[],
    key="ckpt.trajectory",
    help="found later: not found at the first checkpoint, found from some point on; "
    "lost: found at one checkpoint, not found at a later one.",
)
found_at = c2.selectbox("Found at", ["(any)", *labels], key="ckpt.found_at")
not_at = c3.selectbox(
    "but not at", ["(any)", *[lb for lb in labels if lb != found_at]], key="ckpt.not_at",
    help="Another checkpoint than the one in Found at (a query cannot be both found and not "
    "found at one checkpoint).",
)  # fmt: skip
shown = table[table["trajectory"].isin(picked)] if picked else table
if found_at != "(any)" and not_at == found_at:  # kept from before Found at changed
    st.warning(f"Found at and but not at are both {found_at}: choose two different checkpoints.")
elif found_at != "(any)" and not_at != "(any)":
    shown = found_but_not(shown, found_at, not_at)
counts = table["trajectory"].value_counts()
st.caption(
    " · ".join(f"{t}: {int(counts.get(t, 0))}" for t in TRAJECTORIES)
    + f" — showing {len(shown)} of {len(table)}"
)
shown = shown.reset_index(drop=True)
picked_rows = st.dataframe(
    shown.drop(columns=[c for c in shown.columns if c.startswith("found ")]),
    hide_index=True,
    key="ckpt.table",
    height=320,
    column_config={"in_gallery": st.column_config.CheckboxColumn("in gallery")},
    on_select="rerun",
    selection_mode="single-row",
    placeholder=ui.EMPTY,
)
rows = picked_rows.selection.rows if picked_rows is not None else []
if rows and rows[0] < len(shown):
    q = shown.iloc[rows[0]]["query"]
    latest = links.epoch_of(models, labels[-1])
    params = {links.QUERY: q, **({links.EPOCH: latest} if latest is not None else {})}
    c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="center")
    c1.markdown(f"Selected `{q}`:")
    c2.page_link("app_pages/heatmaps.py", label="Open in Heatmaps",
                 icon=":material/local_fire_department:", query_params=params)  # fmt: skip
    c3.page_link("app_pages/triage.py", label="Open in Triage", icon=":material/inbox:",
                 query_params=params)  # fmt: skip
else:
    st.caption("Select a row (the box at its left) to open that query in Heatmaps or Triage.")

# -- match confidence ------------------------------------------------------------------------
st.subheader("Match confidence")
st.caption(
    "How likely is the top-1 match the right animal? A calibrator maps the top-1 similarity and "
    "its margin over the next identity to a probability; it is fitted on one half of the posts "
    "and scored on the other, so the curve below is measured on held-out queries."
)
c1, c2, c3, c4 = st.columns(4)
epoch_label = c1.selectbox("Checkpoint", labels, index=len(labels) - 1, key="ckpt.conf_epoch")
method = c2.selectbox("Calibration", ["logistic", "isotonic"], key="ckpt.conf_method")
target = c3.slider("Target precision", 0.5, 1.0, 0.9, 0.01, key="ckpt.conf_target")
more = c4.toggle(
    "Also gallery vs gallery",
    value=True,
    key="ckpt.conf_gallery",
    help="Search every gallery photo among the others too: more matches to calibrate on.",
)
member = models[labels.index(epoch_label)]
conf = ui.confidence(ds, member, ev.per_query[labels.index(epoch_label)], method=method,
                     gallery=more)  # fmt: skip
if conf is None:
    st.stop()
try:
    choice = choose_threshold(conf, target)
except ValueError as exc:
    st.error(f"No threshold can be chosen: {exc}")
    st.stop()

left, right = st.columns(2)
rel = conf.reliability.dropna(subset=["accuracy"])
fig = go.Figure()
fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"}))
fig.add_trace(
    go.Scatter(
        x=rel["mean_confidence"],
        y=rel["accuracy"],
        mode="lines+markers",
        name=f"{method} (held out)",
        marker={"size": 6 + 30 * rel["count"] / max(rel["count"].max(), 1)},
        text=[f"{c} matches" for c in rel["count"]],
    )
)
fig.update_layout(
    title=f"Reliability · ECE {conf.ece:.3f} · Brier {conf.brier:.3f}",
    xaxis_title="confidence",
    yaxis_title="share of top-1 matches that are right",
    xaxis_range=[0, 1],
    yaxis_range=[0, 1],
    height=380,
)
left.plotly_chart(fig, key="ckpt.reliability")
curve = choice.curve
fig = px.line(curve, x="recall", y="precision", markers=True, hover_data=["threshold", "accepted"])
fig.add_hline(y=target, line_dash="dot", annotation_text=f"target {target:.0%}")
if choice.threshold is not None:
    fig.add_trace(
        go.Scatter(
            x=[choice.recall],
            y=[choice.precision],
            mode="markers",
            marker={"size": 14, "symbol": "star"},
            name="chosen",
        )
    )
fig.update_layout(title="Precision / recall of accepting a top-1 match", height=380)
fig.update_layout(xaxis_range=[0, 1], yaxis_range=[0, 1.02])
right.plotly_chart(fig, key="ckpt.pr")
n = len(conf.table)
if choice.threshold is None:
    st.session_state.pop(ui.K_THRESHOLD, None)
    st.warning(
        f"No threshold reaches {target:.0%} precision on these {n} matches; the most precise "
        f"one gives {choice.precision:.0%} at {choice.recall:.0%} recall."
    )
else:
    st.session_state[ui.K_THRESHOLD] = {
        "checkpoint": epoch_label, "calibration": method, "gallery": more,
        "threshold": float(choice.threshold), "target": float(target),
    }  # fmt: skip
    st.success(
        f"Act on a top-1 match when its confidence is at least **{choice.threshold:.2f}** "
        "(the Search page uses it for this checkpoint): "
        f"{choice.accepted} of {n} matches accepted, precision {choice.precision:.0%}, recall "
        f"{choice.recall:.0%} of the animals that have a match in the gallery."
    )
