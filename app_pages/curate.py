"""Curate & export: curation rules with a live preview, then the cleaned training manifest,
the torchreid layout, the worked / missed / spurious folders and provenance."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import plotly.express as px
import streamlit as st

import ui
from curation.coverage import rule_notes, training_note
from curation.export import ExportError, export, tags_provenance
from curation.rules import RuleSpec, describe, summarise
from curation.rules.catalog import ANNOTATORS, ARTIFACT_TAGS
from curation.vocabulary import SPLITS
from ui import safety
from ui.rules import rule_controls
from workbench.access import AccessError

K_RESULT = "curate.result"


def tables_zip(result) -> bytes:
    """The export's tables (manifest CSV, removals, provenance, buckets) in one zip, in memory:
    kilobytes, not the photos."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in ("manifest.csv", "removals.csv", "provenance.json", "buckets.csv"):
            if (result.out_dir / name).is_file():
                z.write(result.out_dir / name, name)
    return buf.getvalue()


st.title("Curate & export")
ds = ui.dataset()
if ds is None:
    st.stop()
tags = ui.store(ds)
if tags is None:
    st.stop()
state, post_flags = ui.store_state(tags), tags.post_flags()
vocab = sorted(set(tags.vocabulary()) | {a for v in ds.table.get("artifacts", []) if isinstance(
    v, str) for a in v.split(";") if a})  # fmt: skip
values = {
    ARTIFACT_TAGS: tuple(vocab),
    ANNOTATORS: tuple(sorted(state["annotator"].dropna().unique())) if len(state) else (),
}
st.caption(
    f"{len(ds.table)} photos · tag store: {len(state)} tagged photos, {len(post_flags)} flagged "
    f"posts · rules run on the train split unless told otherwise"
)


specs = rule_controls(ground_truth=ds.has_ground_truth, values=values)
if not specs:
    st.info("Switch on at least one rule to see what it removes.")
scores_path = None
if any(name == "shortcut" for name, _ in specs):
    raw = st.text_input(
        "Shortcut scores for the shortcut rule (posts.csv)", key="curate.shortcut_scores",
        value=str(ui.workspace_dir() / "shortcuts" / "posts.csv"),
        help="Written by `workbench shortcuts --data DIR --checkpoints SERIES --out posts.csv`; "
        "'confirmed only' counts the posts whose detections an annotator confirmed on Posts.",
    )  # fmt: skip
    scores_path = ui.allowed(
        raw.strip(), "The shortcut-score table", expect="file",
        fix="Write it with `workbench shortcuts --data DIR --checkpoints SERIES --out FILE`.",
    )  # fmt: skip
    if scores_path is None:
        st.stop()
computed = ui.removals(ds, tags, specs, state, post_flags, shortcuts=scores_path)
if computed is None:
    st.stop()
removals, split_notes = computed
for note in split_notes:
    st.warning(note)

# -- preview ---------------------------------------------------------------------------------
st.subheader("What the rules remove")
summary = summarise(removals)
removed = removals["image"].nunique()
c1, c2, c3 = st.columns(3)
c1.metric("photos removed", removed)
c2.metric("posts touched", removals["post_id"].nunique())
c3.metric("photos kept", len(ds.table) - removed)
removed_set = set(removals["image"])
for note in rule_notes(ds.table, [RuleSpec(name, params) for name, params in specs]):
    st.info(note)
if summary.empty:
    st.success("No rule removes anything with these parameters.")
else:
    left, right = st.columns([1, 1])
    fig = px.bar(summary, x="images", y="cause", color="rule", orientation="h",
                 title="Photos removed, by reason", hover_data=["posts"])  # fmt: skip
    fig.update_layout(height=120 + 40 * len(summary))
    left.plotly_chart(fig, key="curate.summary_chart")
    right.dataframe(summary, hide_index=True, key="curate.summary")
    if ds.has_ground_truth and "polluted" in ds.table:
        truth = set(ds.table.loc[ds.table["polluted"].astype(bool), "post_id"])
        hit = set(removals.loc[removals["rule"] == "homogeneous_artifact", "post_id"])
        if hit or truth:
            st.caption(
                f"Against the sample data's ground truth: {len(hit & truth)} of {len(truth)} "
                f"planted polluted posts removed, {len(hit - truth)} clean posts removed."
            )
    reason = st.selectbox("Look at", ["(all)", *summary["cause"].unique()], key="curate.look")
    sample = removals if reason == "(all)" else removals[removals["cause"] == reason]
    sample = sample.drop_duplicates("image").head(24)
    st.image(
        [ui.thumbnail(ds, img) for img in sample["image"]],
        caption=[f"{p} · {c}" for p, c in zip(sample["post_id"], sample["cause"], strict=True)],
        width=96,
    )
    with st.expander("Every removed photo with its reason"):
        st.dataframe(removals, hide_index=True, key="curate.removals")

# -- export ----------------------------------------------------------------------------------
st.subheader("Export")
c1, c2, c3 = st.columns([3, 1, 1])
if "curate.out" not in st.session_state:  # a new folder per export unless you name one
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    st.session_state["curate.out"] = str(ui.workspace_dir() / "exports" / f"cleaned-{stamp}")
out = c1.text_input(
    "Output folder", key="curate.out",
    help="A new folder is suggested for each export; an existing export is replaced only "
    "when you tick the box that appears for it.",
)  # fmt: skip
try:  # only a folder the app may use is looked at (the export's click says what is wrong else)
    exists = (
        out.strip() != ""
        and ui.check(out, "The output folder", expect="dir", exists=False).is_dir()
    )
except AccessError:
    exists = False
replace = False
if exists:
    replace = st.checkbox(
        f"Replace the export in {out.strip()} (its files are deleted and written again)",
        value=False, key="curate.replace",
    )  # fmt: skip
layout = c2.selectbox(
    "Layout", ["mirror", "symlink", "copy"], key="curate.layout",
    help="mirror: links at the source paths next to the manifest; symlink/copy: torchreid's "
    "train/ query/ gallery/ with POSTID_PHOTONUM.jpg names.",
)  # fmt: skip
c3.toggle("worked / missed / spurious folders", value=True, key="curate.buckets")


@safety.callback
def do_export(removals, specs, state) -> None:
    layout = st.session_state["curate.layout"]
    try:
        out = ui.check(
            st.session_state["curate.out"], "The output folder", expect="dir", exists=False,
            fix="Give a new folder, or an earlier export to replace.",
        )  # fmt: skip
    except AccessError as exc:
        st.session_state[K_RESULT] = f"The export was not written: {exc}"
        return
    if out.exists() and not st.session_state.get("curate.replace", False):
        st.session_state[K_RESULT] = (
            f'The export was not written: {out} exists. Tick "Replace the export" to replace '
            "it, or give a new folder name."
        )
        return
    extra = {"rules": describe(ui.rule_specs(specs)), "tags": tags_provenance(tags)}
    try:
        result = export(
            ds, removals, out, layout=None if layout == "mirror" else layout,
            buckets=state if st.session_state["curate.buckets"] else None, provenance=extra,
        )  # fmt: skip
    except (ExportError, ValueError, OSError) as exc:
        st.session_state[K_RESULT] = (
            f"The export was not written (any previous export is intact): {exc}"
        )
    else:
        st.session_state[K_RESULT] = result


st.button(
    "Replace the export" if exists else "Export", type="primary", key="curate.export",
    on_click=do_export, args=(removals, specs, state), disabled=exists and not replace,
    help="Tick the box above to replace the existing folder, or name a new one."
    if exists and not replace else None,
)  # fmt: skip
result = st.session_state.pop(K_RESULT, None)
if isinstance(result, str):
    st.error(result)
elif result is not None:
    st.success(
        f"Wrote {result.out_dir}: {result.kept_images} photos kept, "
        f"{result.removed_images} removed."
    )
    st.code(
        f"{result.manifest_csv}\n{result.manifest_parquet}\n{result.removals_csv}\n"
        f"{result.provenance}\n"
        + (f"{result.out_dir}/worked|missed|spurious/ ({result.bucket_counts})\n"
           if result.bucket_counts else "")
        + (
            f"\n{no_training}"
            if (no_training := training_note(ds.table[~ds.table["image"].isin(removed_set)]))
            else f"\nretrain: workbench train --manifest {result.manifest_csv} --out SERIES "
            f"--recipe {ui.workspace().checkpoints}/recipe.json"
        ),
        language="text",
    )  # fmt: skip
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download the manifest (CSV)", result.manifest_csv.read_bytes(), file_name="manifest.csv",
        mime="text/csv", key="curate.download_csv", on_click="ignore",
    )  # fmt: skip
    c2.download_button(
        "Download manifest, removals and provenance (zip)", tables_zip(result),
        file_name=f"{result.out_dir.name}.zip", mime="application/zip",
        key="curate.download_zip", on_click="ignore",
    )  # fmt: skip
    st.json(json.loads(result.provenance.read_text()), expanded=False)
kept_split = ds.table[~ds.table["image"].isin(set(removals["image"]))]
st.caption(
    "After the rules: "
    + ", ".join(
        f"{s} {int((kept_split['split'] == s).sum())} photos / "
        f"{kept_split.loc[kept_split['split'] == s, 'post_id'].nunique()} posts"
        for s in SPLITS
    )
)
