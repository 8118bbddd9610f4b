"""What the pages share: session-state keys, the workspace, and the cached library calls.

Caches live here and only here: ``st.cache_resource`` for models, ``st.cache_data`` for data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from curation.dataset import Dataset, load_dataset
from curation.findings import DatasetError
from explain.checkpoints import CheckpointFile, discover

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "sample_data" / "pets"
DEFAULT_CHECKPOINTS = ROOT / "sample_data" / "series" / "baseline"
DEFAULT_STORE = ROOT / "workspace" / "tags.sqlite"

# session-state keys
K_DATA = "workspace.data"
K_CHECKPOINTS = "workspace.checkpoints"
K_STORE = "workspace.store"


@dataclass(frozen=True)
class Workspace:
    data: str
    checkpoints: str
    store: str


def workspace_defaults() -> Workspace:
    """Defaults from WORKBENCH_DATA / WORKBENCH_CHECKPOINTS / WORKBENCH_STORE, else the sample."""
    return Workspace(
        data=os.environ.get("WORKBENCH_DATA", str(DEFAULT_DATA)),
        checkpoints=os.environ.get("WORKBENCH_CHECKPOINTS", str(DEFAULT_CHECKPOINTS)),
        store=os.environ.get("WORKBENCH_STORE", str(DEFAULT_STORE)),
    )


def workspace() -> Workspace:
    d = workspace_defaults()
    return Workspace(
        data=st.session_state.get(K_DATA, d.data),
        checkpoints=st.session_state.get(K_CHECKPOINTS, d.checkpoints),
        store=st.session_state.get(K_STORE, d.store),
    )


@st.cache_data(show_spinner="Reading the dataset…")
def _load(path: str) -> Dataset:
    return load_dataset(path)


def dataset() -> Dataset | None:
    """The workspace's dataset, or None after showing the loader's error with its fix."""
    path = workspace().data
    try:
        return _load(path)
    except DatasetError as exc:
        st.error(f"The dataset at `{path}` cannot be used.\n\n```\n{exc}\n```")
        return None


@st.cache_data(show_spinner=False)
def _discover(path: str) -> list[CheckpointFile]:
    return discover(path)


def checkpoints() -> list[CheckpointFile] | None:
    """The workspace's checkpoint files, or None after showing why they cannot be listed."""
    path = workspace().checkpoints
    try:
        files = _discover(path)
    except FileNotFoundError as exc:
        st.error(str(exc))
        return None
    if not files:
        st.warning(
            f"No checkpoints in `{path}`: expected model.pth.tar-N, *.pth or *.pt files. "
            "Train a series with `workbench train --data DIR --out DIR`."
        )
    return files
