"""Compare: two checkpoint series on the same dataset (e.g. before and after curation) —
metric deltas per epoch, artifact mass per artifact type, the counterfactual similarity drop and
the same queries' heatmaps side by side; and the HTML report."""

from __future__ import annotations

import streamlit as st

import ui
from explain.compare.intervals import headline, series_intervals
from explain.compare.report import figures, write_report
from ui import links, safety
from workbench import jobs
from workbench.access import AccessError

PAGE = "compare"
K_RUN = "compare.requested"
K_REPORT = "compare.report"
EFFECT_COLOURS = {"better": "#d4edda", "worse": "#f8d7da", "no detectable effect": "#eeeeee"}

st.title("Compare")
ds = ui.dataset()
if ds is None:
    st.stop()


def latest_trained() -> str | None:
    """The ``--out`` folder of the workspace's most recent training job that succeeded, when
    it still holds checkpoints and may be used; else None."""
    for job in reversed(jobs.list_jobs(ui.workspace_dir())):
        info = job.status()
        if info["state"] != "succeeded":
            continue
        command = info.get("command") or []
        out = next((command[i + 1] for i, a in enumerate(command[:-1]) if a == "--out"), None)
        try:
            folder = ui.check(out, "", expect="dir") if out else None
        except AccessError:
            continue
        if folder is not None and any(folder.glob("model.pth.tar-*")):
            return str(folder)
    return None


def default_curated() -> tuple[str, str]:
    """The series the curated side starts with, and where it comes from: the most recent
    trained series, else the shipped curated series (``compare`` setting), else nothing."""
    trained = latest_trained()
    if trained is not None:
        return trained, "the most recent series trained on the Retrain page"
    try:
        return str(ui.check(ui.compare_default(), "", expect="dir")), "the shipped curated series"
    except AccessError:  # absent, or outside the allowed folders: no default
        return "", ""


raw = links.incoming(PAGE, links.SERIES)
if raw is not None:
    st.session_state["compare.curated"] = raw
start, origin = default_curated()
if "compare.curated" not in st.session_state:
    st.session_state["compare.curated"] = start
c1, c2 = st.columns(2)
base_dir = c1.text_input("Baseline series", value=ui.workspace().checkpoints, key="compare.base")
cur_dir = c2.text_input("Curated series", key="compare.curated",
                        placeholder="checkpoint folder of the retrained model",
                        help=f"Starts at {origin}." if origin else None)  # fmt: skip
links.write(PAGE, **{links.SERIES: cur_dir.strip() or None})
c1, c2, c3 = st.columns(3)
methods = c1.multiselect(
    "Methods", ["gradcam", "gradcam++", "hirescam", "eigencam", "activation", "occlusion"],
    default=["gradcam"], key="compare.methods",
)  # fmt: skip
n_queries = int(c2.number_input("Queries in the heatmap grid", 1, 24, 6, key="compare.n"))
limit = int(c3.number_input(
    "Photos with artifacts scored", 10, 1000, 120, step=10, key="compare.limit",
    help="Half from polluted posts, half from clean ones.",
))  # fmt: skip
if not cur_dir.strip():
    st.info(
        "Give the curated series: export a cleaned manifest on Curate & export, retrain on it "
        "(Retrain page or `workbench train --manifest ...`), then point here."
    )
    st.stop()
base, cur = ui.series(base_dir.strip()), ui.series(cur_dir.strip())
if base is None or cur is None or not methods:
    if not methods:
        st.info("Choose at least one method.")
    st.stop()
shared = sorted({m.epoch for m in base} & {m.epoch for m in cur})
why_not = None
if not shared:
    why_not = (
        f"The two series share no epoch (baseline {[m.epoch for m in base]}, curated "
        f"{[m.epoch for m in cur]}): a comparison needs checkpoints of the same epochs. Train "
        "the curated series with the baseline's recipe (Retrain), or pick another folder."
    )
    st.warning(why_not)
key = (tuple(methods), n_queries, limit, base_dir, cur_dir)
if st.session_state.get(K_RUN) != key or why_not:
    st.button(
        "Run the comparison", type="primary", key="compare.run",
        on_click=lambda: st.session_state.__setitem__(K_RUN, key), disabled=why_not is not None,
        help=why_not or "Embeds both series and scores heatmaps of photos with artifacts; "
        "cached after.",
    )  # fmt: skip
    st.stop()
comp = ui.comparison(ds, base, cur, methods, n_queries, limit)
if comp is None:
    st.stop()

meta = comp.meta
st.caption(
    f"baseline: {meta['baseline']} ({meta['train_images']['baseline']} train photos) · "
    f"curated: {meta['curated']} ({meta['train_images']['curated']} train photos) · matched "
    f"epochs {meta['matched_epochs']} · {meta['clean_queries']} clean queries"
)
diffs = meta.get("recipe_differences") or {}
if diffs:
    st.warning(
        "The recipes differ beyond the training data, so the comparison is not like for like: "
        + "; ".join(f"{k}: {v[0]} → {v[1]}" for k, v in diffs.items())
    )
figs = figures(comp)
st.subheader("Retrieval")
if "metrics" in figs:
    st.plotly_chart(figs["metrics"], key="compare.fig_metrics")
st.dataframe(comp.metric_deltas, hide_index=True, key="compare.metric_deltas")
st.subheader("Is the difference more than noise?")
if comp.per_query is not None and not comp.per_query.empty:
    intervals = series_intervals(comp.per_query)
    st.markdown(f"**{headline(intervals)}**")
    st.caption(
        "Curated minus baseline with a 95% paired bootstrap interval over queries (fixed seed). "
        "One model per series: training noise is not in it — the Experiments page repeats "
        "each arm over seeds. Green: better, red: worse, grey: the interval covers 0."
    )
    st.dataframe(
        intervals.style.apply(
            lambda row: [f"background-color: {EFFECT_COLOURS.get(row['effect'], '')}"] * len(row),
            axis=1,
        ).format(precision=3),
        hide_index=True,
        key="compare.intervals",
    )
st.subheader("Artifact mass")
st.caption(
    "Share of each heatmap's positive attribution on the photo's artifact regions, for photos of "
    "polluted posts and of clean posts. A model that stopped using the artifact puts less there."
)
for name in ("artifact_mass", "artifact_epochs"):
    if name in figs:
        st.plotly_chart(figs[name], key=f"compare.fig_{name}")
if comp.artifact_deltas.empty:
    st.info("No artifact ground truth in this dataset: the artifact tables need masks.")
else:
    st.dataframe(comp.artifact_deltas, hide_index=True, key="compare.artifact_deltas")
st.subheader("Counterfactual similarity drop")
st.caption(
    "How much similarity falls when the artifact is removed from the photo (the sample data "
    "re-renders each photo without it): a model that matches on the artifact loses more."
)
if "counterfactual" in figs:
    st.plotly_chart(figs["counterfactual"], key="compare.fig_counterfactual")
if not comp.counterfactual_deltas.empty:
    st.dataframe(comp.counterfactual_deltas, hide_index=True, key="compare.cf_deltas")
st.subheader("The same queries")
for method, path in comp.grids.items():
    st.image(str(path), caption=f"{method}: rows = queries; columns = {', '.join(comp.columns)}")

st.subheader("Report")
out = st.text_input("Report folder", value=str(ui.workspace_dir() / "reports" / "compare"),
                    key="compare.out")  # fmt: skip


@safety.callback
def write() -> None:
    try:
        folder = ui.check(out, "The report folder", expect="dir", exists=False)
        st.session_state[K_REPORT] = str(write_report(comp, folder))
    except (AccessError, OSError, ValueError) as exc:
        st.session_state[K_REPORT] = f"error: {exc}"


st.button("Write the HTML report", key="compare.write", on_click=write)
done = st.session_state.pop(K_REPORT, None)
if done and done.startswith("error: "):
    st.error(f"The report was not written: {done[7:]}")
elif done:
    st.success(f"Wrote {done} (with CSV tables and grid PNGs beside it; opens offline)")
