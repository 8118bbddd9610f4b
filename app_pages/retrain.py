"""Retrain: train a new checkpoint series on a cleaned manifest with the baseline's recipe, as a
background job (one per workspace) that keeps running when you switch pages or close the tab."""

from __future__ import annotations

import shlex
from pathlib import Path

import pandas as pd
import streamlit as st

import ui
from ui import links, safety
from ui.widgets import kept
from workbench import access, jobs
from workbench.access import AccessError

K_MESSAGE = "retrain.message"

st.title("Retrain")
st.caption(
    "The new series is trained with the recipe recorded beside the baseline (architecture, "
    "input size, losses, schedule, seed), so Compare measures the effect of the data alone."
)
home = ui.workspace_dir()
exports = sorted((home / "exports").glob("*/manifest.csv")) if (home / "exports").is_dir() else []
c1, c2 = st.columns(2)
manifest = c1.text_input(
    "Cleaned manifest", placeholder="…/manifest.csv written by Curate & export",
    key="retrain.manifest", **kept("retrain.manifest", str(exports[-1]) if exports else ""),
)  # fmt: skip


def default_recipe() -> str:
    """The checkpoint folder's recipe.json when it exists and may be used, else ""."""
    try:
        return str(ui.check(Path(ui.workspace().checkpoints) / "recipe.json", "", expect="file"))
    except AccessError:  # outside the allowed folders or absent: no default (nothing to show)
        return ""


recipe_in = c2.text_input(
    "Recipe", placeholder="…/recipe.json of the baseline",
    key="retrain.recipe", **kept("retrain.recipe", default_recipe()),
)  # fmt: skip
c1, c2, c3 = st.columns([2, 1, 1])
out = c1.text_input(
    "New series folder", key="retrain.out", **kept("retrain.out", str(home / "series" / "curated"))
)
epochs = c2.text_input(
    "Epochs (empty: the recipe's)", key="retrain.epochs", **kept("retrain.epochs", "")
)
overwrite = c3.toggle(
    "Replace checkpoints there", key="retrain.overwrite", **kept("retrain.overwrite", False)
)


def arguments() -> list[str] | str:
    """The `workbench train` arguments, or the reason they cannot be built."""
    if not manifest.strip():
        return "No manifest given: export one on Curate & export first."
    try:
        manifest_file = ui.check(
            manifest, "The cleaned manifest", expect="file",
            fix="Export one on Curate & export first.",
        )  # fmt: skip
        recipe_file = None
        if recipe_in.strip():
            recipe_file = ui.check(
                recipe_in, "The recipe", expect="file",
                fix="Give the baseline's recipe.json or leave the field empty.",
            )  # fmt: skip
        out_dir = ui.check(out, "The new series folder", expect="dir", exists=False)
    except AccessError as exc:
        return str(exc)
    # an export's files are links to the source dataset: the loader refuses those unless told
    args = ["--manifest", str(manifest_file), "--allow-external-links", "--out", str(out_dir)]
    if recipe_file is not None:
        args += ["--recipe", str(recipe_file)]
    if epochs.strip():
        if not epochs.strip().isdigit() or int(epochs) < 1:
            return f"Epochs must be a whole number ≥ 1, not `{epochs}`."
        args += ["--epochs", epochs.strip()]
    if overwrite:
        args.append("--overwrite")
    return args


@safety.callback
def launch(args: list[str]) -> None:
    try:
        job = jobs.start_training(home, args, cwd=ui.ROOT)
    except (jobs.JobError, OSError) as exc:
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
    with safety.guarded("the job status"):
        job_status()


def job_status() -> None:
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
        st.button(
            "Cancel", key="retrain.cancel", on_click=safety.callback(jobs.cancel), args=(job,)
        )
    elif info["state"] == "succeeded":
        folder = series_folder(info.get("command") or [])
        st.success("Finished" + (f": the new series is in `{folder}`." if folder else "."))
        if folder:
            st.page_link(
                "app_pages/compare.py", label="Compare it with the baseline",
                icon=":material/compare:", query_params={links.SERIES: folder},
            )  # fmt: skip
    elif info["state"] == "cancelled" and (job.dir / "cancelled").exists():
        st.info(f"Cancelled by you at epoch {done}" + (f" of {total}." if total else "."))
    elif info["state"] in ("failed", "cancelled"):
        st.error(f"The job {info['state']} (return code {info['returncode']}); see its log.")
    log = access.without_tracebacks(jobs.read_log(job, tail_lines=400))
    log = "\n".join(log.split("\n")[-25:])
    st.code(log or "(no output yet)", language="text")


def series_folder(command: list[str]) -> str | None:
    """The ``--out`` folder of a training command (its new series), or None."""
    return next((command[i + 1] for i, a in enumerate(command[:-1]) if a == "--out"), None)


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
