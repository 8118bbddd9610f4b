"""Streamlit entry point: the workspace (dataset, checkpoints, tag store) and the navigation."""

from __future__ import annotations

import streamlit as st

import ui
from ui import links, safety
from workbench.settings import SettingsError

# every page of the app: (file in app_pages/, title, icon, address, section of the sidebar),
# listed section by section; the first is the default
PAGES = [
    ("home.py", "Overview", "home", "overview", "Model"),
    ("checkpoints.py", "Checkpoints", "monitoring", "checkpoints", "Model"),
    ("heatmaps.py", "Heatmaps", "local_fire_department", "heatmaps", "Model"),
    ("search.py", "Search", "search", "search", "Model"),
    ("diagnose.py", "Diagnose", "troubleshoot", "diagnose", "Model"),
    ("triage.py", "Triage", "inbox", "triage", "Annotate"),
    ("posts.py", "Posts", "photo_library", "posts", "Annotate"),
    ("browse.py", "Browse", "grid_view", "browse", "Annotate"),
    ("embeddings.py", "Embeddings map", "scatter_plot", "embeddings", "Annotate"),
    ("agreement.py", "Agreement", "handshake", "agreement", "Annotate"),
    ("curate.py", "Curate & export", "cleaning_services", "curate", "Curate"),
    ("retrain.py", "Retrain", "model_training", "retrain", "Curate"),
    ("compare.py", "Compare", "compare", "compare", "Curate"),
    ("experiments.py", "Experiments", "science", "experiments", "Curate"),
]

st.set_page_config(page_title="Re-ID workbench", page_icon="🐾", layout="wide")
if not safety.gate():  # sign-in required, or exposed to the network without it
    # every page's address leads to one hidden, empty page: nothing is listed or reachable
    # before sign-in, and a bookmarked address gets the sign-in, not "page not found"
    closed = [
        st.Page(safety.closed, title="Re-ID workbench", url_path=url, default=i == 0)
        for i, (_, _, _, url, _) in enumerate(PAGES)
    ]
    st.navigation(closed, position="hidden").run()
    st.stop()
safety.show_callback_failure()

try:
    defaults = ui.workspace_defaults()
except SettingsError as exc:  # a broken workbench.toml: say which file and what is wrong
    st.error(f"The workbench settings cannot be read: {exc}")
    st.stop()
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
    signed_in = safety.signed_in_user() is not None
    links.remember_annotator(ui.K_ANNOTATOR, signed_in)
    safety.account_box(ui.K_ANNOTATOR, default=ui.annotator_default())
    links.write_annotator(ui.K_ANNOTATOR, signed_in)
    st.button(
        "Reload from disk", key=ui.K_RELOAD, help="Forget cached data and models.",
        on_click=ui.clear_caches,
    )  # fmt: skip

sections: dict[str, list] = {}
for i, (file, title, icon, url, section) in enumerate(PAGES):
    sections.setdefault(section, []).append(
        st.Page(f"app_pages/{file}", title=title, icon=f":material/{icon}:", url_path=url,
                default=i == 0)
    )  # fmt: skip
page = st.navigation(sections, expanded=True)  # every page listed, no "View more"
if safety.served():  # a spawned child re-running this file as its __main__ runs no page
    with safety.guarded(lambda: f"page {page.title}"):
        page.run()
