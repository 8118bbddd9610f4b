"""Streamlit entry point: the workspace (dataset, checkpoints, tag store) and the navigation."""

from __future__ import annotations

import streamlit as st

from pages import ui

st.set_page_config(page_title="Re-ID workbench", page_icon="🐾", layout="wide")

defaults = ui.workspace_defaults()
with st.sidebar:
    st.header("Workspace")
    st.text_input("Dataset folder or manifest", value=defaults.data, key=ui.K_DATA)
    st.text_input("Checkpoint folder", value=defaults.checkpoints, key=ui.K_CHECKPOINTS)
    st.text_input("Tag store (SQLite file or database URL)", value=defaults.store, key=ui.K_STORE)

nav = st.navigation(
    [
        st.Page("pages/home.py", title="Overview", icon="🏠", default=True),
    ]
)
nav.run()
