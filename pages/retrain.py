"""Retrain: train a new checkpoint series on a cleaned manifest with the baseline's recipe, as a
background job (one per workspace) that keeps running when you switch pages or close the tab."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd
import streamlit as st

from pages import ui
from workbench import jobs

K_MESSAGE = "retrain.message"

ui.through_app()
st.title("Retrain")
st.caption(
    "The new series is trained with the recipe recorded beside the baseline (architecture, "
    "input size, losses, schedule, seed), so Compare measures the effect of the data alone."
)
home = ui.workspace_dir()
exports = sorted((home / "exports").glob("*/manifest.csv")) if (home / "exports").is_dir() else []
c1, c2 = st.columns(2)
manifest = c1.text_input(
    "Cleaned manifest", value=str(exports[-1]) if exports else "", key="retrain.manifest",
    placeholder="…/manifest.csv written by Curate & export",
)  # fmt: skip
recipe = Path(ui.workspace().checkpoints) / "recipe.json"
recipe_in = c2.text_input(
    "Recipe", value=str(recipe) if recipe.exists() else "", key="retrain.recipe",
    placeholder="…/recipe.json of the baseline",
)  # fmt: skip
c1, c2, c3 = st.columns([2, 1, 1])
out = c1.text_input("New series folder", value=str(home / "series" / "curated"), key="retrain.out")
epochs = c2.text_input("Epochs (empty: the recipe's)", value="", key="retrain.epochs")
overwrite = c3.toggle("Replace checkpoints there", value=False, key="retrain.overwrite")


def arguments() -> list[str] | str:
    """The `workbench train` arguments, or the reason they cannot be built."""
    if not manifest.strip() or not Path(manifest).is_file():
        return f"No manifest at `{manifest}`: export one on Curate & export first."
    if recipe_in.strip() and not Path(recipe_in).is_file():
        return f"No recipe at `{recipe_in}`: give the baseline's recipe.json or leave it empty."
    # an export's files are links to the source dataset: the loader refuses those unless told
    args = ["--manifest", manifest.strip(), "--allow-external-links", "--out", out.strip()]
    if recipe_in.strip():
        args += ["--recipe", recipe_in.strip()]
    if epochs.strip():
        if not epochs.strip().isdigit() or int(epochs) < 1:
            return f"Epochs must be a whole number ≥ 1, not `{epochs}`."
        args += ["--epochs", epochs.strip()]
    if overwrite:
        args.append("--overwrite")
    return args


def launch(args: list[str]) -> None:
    try:
        job = jobs.start_training(home, args, cwd=ui.ROOT)
    except jobs.JobError as exc:
        st.session_state[K_MESSAGE] = f"Not started: {exc}"
    else:
        st.session_state[K_MESSAGE] = f"Started job {job.job_id}"


args = arguments()
if isinstance(args, str):
    st.info(args)
else:
    st.code("workbench train " + shlex.join(args), language="bash")
    current = jobs.current_job(home)
    busy = current is not None and current.active
    st.button("Start training", type="primary", key="retrain.start", on_click=launch,
              args=(args,), disabled=busy,
              help="One job at a time per workspace." if busy else None)  # fmt: skip
message = st.session_state.pop(K_MESSAGE, None)
if message:
    (st.error if message.startswith("Not started") else st.success)(message)


@st.fragment(run_every=2.0)
def status() -> None:
    job = jobs.current_job(home)
    if job is None:
        st.caption(f"No job has run in {home} yet.")
        return
    info = job.status()
    done, total = job.progress()
    st.markdown(f"**Job {info['job_id']}** — {info['state']} · started {info['started']}")
    if total:
        st.progress(done / total, text=f"epoch {done} of {total}")
    if info["state"] in jobs.ACTIVE:
        st.button("Cancel", key="retrain.cancel", on_click=jobs.cancel, args=(job,))
    elif info["state"] == "succeeded":
        st.success("Finished: open Compare with the new series as the curated one.")
    elif info["state"] in ("failed", "cancelled"):
        st.error(f"The job {info['state']} (return code {info['returncode']}); see its log.")
    st.code(jobs.read_log(job, tail_lines=25) or "(no output yet)", language="text")


st.subheader("Current job")
status()
past = jobs.list_jobs(home)
if len(past) > 1:
    st.subheader("Earlier jobs")
    rows = [j.status() for j in reversed(past[:-1])]
    st.dataframe(
        pd.DataFrame(rows)[["job_id", "state", "started", "finished", "returncode"]],
        hide_index=True, key="retrain.jobs",
    )  # fmt: skip
