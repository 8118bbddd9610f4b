"""Streamlit entry point: the workspace (dataset, checkpoints, tag store) and the navigation."""

from __future__ import annotations

import streamlit as st

from pages import safety, ui

ui.through_app()
st.set_page_config(page_title="Re-ID workbench", page_icon="🐾", layout="wide")
if not safety.gate():  # sign-in required, or exposed to the network without it
    # one hidden page, so that no page of the folder is listed or reachable before sign-in
    st.navigation([st.Page(safety.closed, title="Re-ID workbench")], position="hidden").run()
    st.stop()
safety.show_callback_failure()

defaults = ui.workspace_defaults()
with st.sidebar:
    st.header("Workspace")
    st.text_input(
        "Dataset folder or manifest",
        value=defaults.data,
        key=ui.K_DATA,
        help="A torchreid layout (train/ query/ gallery/ with POSTID_PHOTONUM.jpg) or a "
        "manifest .csv/.parquet.",
    )
    st.text_input(
        "Checkpoint folder",
        value=defaults.checkpoints,
        key=ui.K_CHECKPOINTS,
        help="model.pth.tar-N files (torchreid), *.pth or *.pt, or torchreid's log/<run>/.",
    )
    st.text_input(
        "Tag store (SQLite file or database URL)",
        value=defaults.store,
        key=ui.K_STORE,
        help="A SQLite file inside the workspace is created on first use; a database server "
        "(postgresql+psycopg://user@host/db, shared by a team) only when configured at start.",
    )
    safety.account_box(ui.K_ANNOTATOR)
    st.button(
        "Reload from disk", key=ui.K_RELOAD, help="Forget cached data and models.",
        on_click=ui.clear_caches,
    )  # fmt: skip

pages = [
    st.Page(
        "pages/home.py", title="Overview", icon=":material/home:", default=True, url_path="overview"
    ),
    st.Page(
        "pages/checkpoints.py",
        title="Checkpoints",
        icon=":material/monitoring:",
        url_path="checkpoints",
    ),
    st.Page(
        "pages/heatmaps.py",
        title="Heatmaps",
        icon=":material/local_fire_department:",
        url_path="heatmaps",
    ),
    st.Page("pages/triage.py", title="Triage", icon=":material/inbox:", url_path="triage"),
    st.Page(
        "pages/curate.py",
        title="Curate & export",
        icon=":material/cleaning_services:",
        url_path="curate",
    ),
    st.Page(
        "pages/retrain.py", title="Retrain", icon=":material/model_training:", url_path="retrain"
    ),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare:", url_path="compare"),
    st.Page("pages/search.py", title="Search", icon=":material/search:", url_path="search"),
]
page = st.navigation(pages)
if safety.served():  # a spawned child re-running this file as its __main__ runs no page
    with safety.guarded(lambda: f"page {page.title}"):
        page.run()
