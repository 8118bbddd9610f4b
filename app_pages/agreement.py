"""Agreement: how far annotators agree on buckets (Cohen's kappa per pair, Fleiss' kappa over
all) and the conflicts queue, each conflict a link to the query on the Triage page."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

import ui

MAX_LINKS = 100  # conflicts listed as links; the rest are counted
TRIAGE = "app_pages/triage.py"
PAIR_HEADERS = {"annotator_a": "annotator", "annotator_b": "and", "queries": "queries both decided",
                "agreed": "same bucket", "kappa": "Cohen's kappa"}  # fmt: skip

st.title("Agreement")
st.caption(
    "Every annotator's decisions are kept. Cohen's kappa compares two annotators over the "
    "queries both put in a bucket; Fleiss' kappa compares all of them over the queries every "
    "one decided (1 = full agreement, 0 = what chance alone would give). A conflict is a query "
    "whose buckets differ, or a photo whose artifact tags differ."
)
ds = ui.dataset()
if ds is None:
    st.stop()
store = ui.store(ds)
if store is None:
    st.stop()
try:
    result = store.agreement()
except ui.STORE_ERRORS as exc:
    st.error(ui.store_problem(ui.workspace().store, exc))
    st.stop()


def _kappa(value: float) -> str:
    return "undefined" if math.isnan(value) else f"{value:.3f}"


c1, c2, c3 = st.columns(3)
c1.metric("annotators", str(len(result.annotators)))
label = {"cohen": "Cohen's kappa", "fleiss": "Fleiss' kappa"}.get(result.method, "kappa")
c2.metric(label, _kappa(result.overall), f"over {result.overall_queries} queries",
          delta_color="off", delta_arrow="off")  # fmt: skip
c3.metric("conflicts", str(len(result.conflicts)))
if len(result.annotators) < 2:
    st.info(
        "Agreement needs two annotators or more who put queries in buckets; so far: "
        f"{', '.join(result.annotators) or 'nobody'}. Sort queries on the Triage page under "
        "different names (the sidebar's annotator)."
    )
else:
    if math.isnan(result.overall):
        st.caption(
            "A kappa is undefined with fewer than two queries in common, or when every "
            "decision is the same bucket."
        )
    pairs = result.pairs.assign(
        agreed=[ui.pct(v) if not math.isnan(v) else "" for v in result.pairs["agreed"]],
        kappa=[_kappa(v) for v in result.pairs["kappa"]],
    ).rename(columns=PAIR_HEADERS)
    st.dataframe(pairs, hide_index=True, key="agreement.pairs")

st.subheader("Conflicts")
conflicts = result.conflicts
if conflicts.empty:
    st.success("No conflicts: wherever two annotators decided, they decided the same.")
    st.stop()
kinds = sorted(set(conflicts["kind"]))
shown_kinds = st.pills("Show", kinds, selection_mode="multi", default=kinds, key="agreement.kinds")
shown = conflicts[conflicts["kind"].isin(set(shown_kinds or kinds))]
most = max((d.count("; ") + 1 for d in shown["decisions"]), default=1)
widths = [3, 5, *([1] * most)]  # the same columns on every row: the links line up
for row in shown.head(MAX_LINKS).itertuples(index=False):
    who = [part.split(": ", 1)[0] for part in row.decisions.split("; ")]
    cols = st.columns(widths)
    cols[0].page_link(TRIAGE, label=row.image, query_params={"query": row.image})
    cols[1].markdown(f"**{row.kind}** · {row.decisions}")
    for name, col in zip(who, cols[2:], strict=False):  # rows with fewer voters: empty columns
        col.page_link(
            TRIAGE, label=f"as {name}", query_params={"query": row.image, "annotator": name}
        )
if len(shown) > MAX_LINKS:
    st.caption(f"{len(shown) - MAX_LINKS} more conflict(s): resolve these first.")
with st.expander("Consensus per query"):
    consensus: pd.DataFrame = store.consensus()
    st.dataframe(
        consensus.assign(agreement=[ui.pct(v) for v in consensus["agreement"]]),
        hide_index=True,
        key="agreement.consensus",
    )
