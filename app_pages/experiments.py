"""Experiments: a grid of training runs (arms × seeds) from `workbench experiment` — a running
one's progress, a finished one's verdicts, per-arm table with intervals, coloured deltas, plot."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from workbench.experiment.results import arm_table, delta_table, figure, summarise
from workbench.experiment.runner import GRID, RESULT, load_results

COLOURS = {"better": "#d4edda", "worse": "#f8d7da", "no detectable effect": "#eeeeee"}

st.title("Experiments")
st.caption(
    "Does curation help? Each remedy (drop, repair, augment) and the random-drop control is "
    "trained with the same recipe on several seeds; differences from the baseline come with a "
    "95% t interval over seeds and a bootstrap interval over queries. Start one with "
    "`workbench experiment --data DIR --out EXPDIR`."
)
home = ui.workspace_dir() / "experiments"
found = sorted(p.parent for p in home.glob(f"*/{GRID}")) if home.is_dir() else []
raw = st.text_input(
    "Experiment folder", value=str(found[-1]) if found else "", key="experiments.folder",
    placeholder="…/EXPDIR given to workbench experiment --out",
)  # fmt: skip
if not raw.strip():
    st.info("Give the folder an experiment writes (`workbench experiment --out EXPDIR`).")
    st.stop()
folder = ui.allowed(raw.strip(), "The experiment folder", expect="dir")
if folder is None:
    st.stop()
if not (folder / GRID).is_file():
    st.warning(f"{folder} holds no {GRID}: it is not an experiment folder (or it has not started).")
    st.stop()
grid = json.loads((folder / GRID).read_text())


def running(folder: Path, planned: list[str]) -> pd.DataFrame:
    """Planned runs without a result: epochs logged so far (0 = not started)."""
    rows = []
    for name in planned:
        run = folder / "runs" / name
        if (run / RESULT).is_file():
            continue
        log = run / "model" / "train_log.csv"
        epochs = max(0, len(log.read_text().splitlines()) - 1) if log.is_file() else 0
        rows.append({"run": name, "epochs done": epochs, "of": grid["epochs"]})
    return pd.DataFrame(rows)


results = load_results(folder)
planned = grid["runs"]
done = sum(r["run"] in set(planned) for r in results)
st.progress(done / max(len(planned), 1), text=f"{done} of {len(planned)} runs finished")
pending = running(folder, planned)
if not pending.empty:
    st.dataframe(pending, hide_index=True, key="experiments.pending")
    st.button("Refresh", key="experiments.refresh")
if not results:
    st.info("No run has finished yet.")
    st.stop()
summary = summarise(results)
st.subheader("Verdicts")
st.caption(
    f"{grid['epochs']} epochs per run, seeds {grid['seeds']}; a difference whose interval "
    "covers 0 is reported as no detectable effect."
)
for line in summary["verdicts"].values():
    st.markdown(f"- {line}")
st.subheader("Arms (mean over seeds [95% t interval])")
st.dataframe(arm_table(summary), hide_index=True, key="experiments.arms")
st.subheader("Differences from the baseline")
deltas = delta_table(summary)
if not deltas.empty:
    styled = deltas.style.apply(
        lambda row: [f"background-color: {COLOURS.get(row['effect'], '')}"] * len(row), axis=1
    ).format(precision=3)
    st.dataframe(styled, hide_index=True, key="experiments.deltas")
st.plotly_chart(figure(summary), key="experiments.figure")
