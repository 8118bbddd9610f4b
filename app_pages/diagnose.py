"""Diagnose: which way to improve the model — better segmentation, aligned poses, more data,
cleaner posts — each answer with its number, a 95 % bootstrap interval and a plot, then the
ranked recommendation. The same call as `workbench diagnose`; the result is a folder
(diagnosis.json, diagnosis.md, plots) that this page reads back."""

from __future__ import annotations

import pandas as pd
import streamlit as st

import ui
from explain.diagnose import report
from ui import safety
from workbench.access import AccessError
from workbench.diagnosis import diagnose

K_RESULT = "diagnose.result"

st.title("Diagnose")
st.caption(
    "Which way to improve? Attribution on the background, the animal and what survived "
    "segmentation; retrieval with poses aligned; a learning curve; polluted posts. Intervals: "
    "95 % bootstrap over queries / photos / seeds, seed 0."
)
ds = ui.dataset()
models = ui.series()
if ds is None or models is None:
    st.stop()
epochs = [m.epoch for m in models]
c1, c2, c3 = st.columns(3)
epoch = c1.selectbox("Checkpoint (epoch)", epochs, index=len(epochs) - 1, key="diagnose.epoch")
experiment = c2.text_input("Experiment folder (optional)", key="diagnose.experiment",
                           help="Holds results.csv from `workbench experiment` (arms × seeds, "
                           "learning-curve fractions).")  # fmt: skip
shortcuts = c3.text_input("Shortcut posts.csv (optional)", key="diagnose.shortcuts",
                          help="The shortcut finder's per-post scores and causes.")  # fmt: skip
out = st.text_input("Diagnosis folder", key="diagnose.out",
                    value=str(ui.workspace_dir() / "diagnosis" / f"epoch-{epoch}"))  # fmt: skip


@safety.callback
def run() -> None:
    try:
        folder = ui.check(out, "The diagnosis folder", expect="dir", exists=False)
        exp = posts = None
        if experiment.strip():
            exp = ui.check(experiment, "The experiment folder", expect="dir")
        if shortcuts.strip():
            posts = ui.check(shortcuts, "The shortcut posts", expect="file")
        loaded = next(m for m in models if m.epoch == epoch)
        bar = st.progress(0.0, text="diagnosing")

        def progress(stage: str, done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{stage}: {done} of {total}")

        diagnose(ds, loaded, folder, cache_dir=ui.cache_dir(), experiment=exp,
                 shortcuts=posts, progress=progress)  # fmt: skip
        st.session_state[K_RESULT] = ""
    except (AccessError, OSError, ValueError) as exc:
        st.session_state[K_RESULT] = f"The diagnosis failed: {exc}"


st.button("Run the diagnosis", type="primary", key="diagnose.run", on_click=run,
          help="Embeds every photo and its mirror image, runs the detectors and Grad-CAM on "
          "query and gallery photos (cached maps are read); minutes on the sample.")  # fmt: skip
failed = st.session_state.pop(K_RESULT, "")
if failed:
    st.error(failed)
try:
    folder = ui.check(out, "The diagnosis folder", expect="dir", exists=False)
except AccessError as exc:
    st.error(str(exc))
    st.stop()
if not (folder / "diagnosis.json").is_file():
    st.info(f"No diagnosis in `{folder}` yet: run it here, or `workbench diagnose --data DIR "
            f"--checkpoints SERIES --out {folder}`.")  # fmt: skip
    st.stop()
try:
    d, figs = report.read(folder)
except ValueError as exc:
    st.error(str(exc))
    st.stop()


def estimates(rows: list[tuple[str, dict | None]], key: str) -> None:
    """Estimates as one table: measure, value, the 95 % interval, items."""
    table = pd.DataFrame(
        [{"measure": name, "value": (e or {}).get("value"), "95 % low": (e or {}).get("low"),
          "95 % high": (e or {}).get("high"), "n": (e or {}).get("n")} for name, e in rows]
    )  # fmt: skip
    st.dataframe(table, hide_index=True, key=key,
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in ("value", "95 % low", "95 % high")})  # fmt: skip


def fmt(e: dict | None) -> str:
    if not e or e.get("value") is None:
        return "n/a"
    if e.get("low") is None:
        return f"{e['value']:.3f}"
    return f"{e['value']:.3f} [{e['low']:.3f}, {e['high']:.3f}]"


info = d["info"]
st.caption(f"{d['dataset']}, epoch {info['epoch']}: {info['queries']} queries, "
           f"{info['gallery']} gallery photos · written to `{folder}`")  # fmt: skip
st.subheader("Which way to improve")
st.markdown("\n".join(f"{line}" for line in d["summary"]))
if "ranking" in figs:
    st.plotly_chart(figs["ranking"], key="diagnose.fig_ranking")

seg, po, data, pol = d["segmentation"], d["pose"], d["more_data"], d["polluted"]
st.subheader("Better segmentation?")
rows = [("attribution on the background", seg["shares"]["background"]),
        ("attribution on the animal", seg["shares"]["animal"]),
        (f"attribution on non-animal inside the silhouette ({seg['intruder_source']})",
         seg["shares"]["intruder"])]  # fmt: skip
if "intruder_truth" in seg:
    rows.append(("the same, from the manifest's ground-truth masks", seg["intruder_truth"]))
rows += [("share of the photo inside the silhouette", seg["silhouette_area"]),
         ("ΔmAP with the detected regions blacked out (paired over queries)",
          seg["cleaned"]["mAP"])]  # fmt: skip
estimates(rows, "diagnose.seg_table")
if "segmentation" in figs:
    st.plotly_chart(figs["segmentation"], key="diagnose.fig_segmentation")
st.markdown(f"**Dark fur**: {seg['dark']['photos']} photos ({len(seg['dark']['posts'])} posts) "
            "whose old threshold mask misses ≥ 10 % of the silhouette.")  # fmt: skip
if seg["dark"]["list"]:
    st.dataframe(pd.DataFrame(seg["dark"]["list"]), hide_index=True, key="diagnose.dark")

st.subheader("Aligned poses?")
st.metric("Posts mixing sides", f"{po['mixed_posts']} of {po['posts']}",
          help=f"Side from {po['decided_by']}.")  # fmt: skip
estimates([("mAP as is", po["as_is"]["mAP"]), ("mAP aligned", po["aligned"]["mAP"]),
           ("mAP flip-averaged", po["flip_average"]["mAP"]),
           ("ΔmAP aligned (paired over queries)", po["gain_aligned"]["mAP"]),
           ("ΔmAP flip-averaged (paired over queries)", po["gain_flip_average"]["mAP"]),
           ("Δrank-1 aligned", po["gain_aligned"]["rank1"])], "diagnose.pose_table")  # fmt: skip
if po.get("side_accuracy") is not None:
    st.caption(f"The sample's generator knows the side: the silhouette rule agrees on "
               f"{po['side_accuracy']:.1%} of {po['side_truth_known']} side views, the embedding "
               f"asymmetry on {po['side_accuracy_embedding']:.1%}.")  # fmt: skip
if "pose" in figs:
    st.plotly_chart(figs["pose"], key="diagnose.fig_pose")
st.caption(
    f"Maps of one post's photos on opposite sides ({po['maps']['pairs']} pairs), "
    f"Spearman as is {fmt(po['maps']['as_is'])}, aligned {fmt(po['maps']['aligned'])}."
)

st.subheader("More data?")
if data["measured"]:
    estimates([(f"ΔmAP per +{data['step']:.0%} posts ({data['form']} fit, extrapolated)",
                data["gain"])], "diagnose.data_table")  # fmt: skip
    st.plotly_chart(figs["data"], key="diagnose.fig_data")
else:
    st.info(f"Not measured: run {data['how']}. The points are never invented."
            + (f" ({data['reason']})" if data.get("reason") else ""))  # fmt: skip

st.subheader("Polluted posts?")
if pol.get("posts"):
    p = pol["posts"]
    st.markdown(f"The shortcut finder blames {p['polluted']} of {p['posts']} posts: "
                + ", ".join(f"{k} {v}" for k, v in p["by_cause"].items()))  # fmt: skip
    if p["top"]:
        st.dataframe(pd.DataFrame(p["top"]), hide_index=True, key="diagnose.polluted")
for arm, e in (pol.get("remedies") or {}).items():
    st.markdown(f"- {arm}: {fmt(e)} mAP vs the baseline (paired over seeds)")
if not pol.get("posts") and not pol.get("remedies"):
    st.info(f"Not measured: run {report.SHORTCUTS_HOW}; the remedy arms come from "
            f"{report.EXPERIMENT_HOW}.")  # fmt: skip
