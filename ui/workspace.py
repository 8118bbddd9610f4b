"""The workspace a visitor works in: dataset, checkpoint folder and tag store from the sidebar
(defaults from :mod:`workbench.settings`), who tags, and what a visitor may name.

Every path and store URL from the sidebar goes through :mod:`workbench.access` first (allowed
folders, configured database URLs) and is refused with a message outside them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ui.safety import signed_in_user
from ui.state import K_ANNOTATOR, K_CHECKPOINTS, K_DATA, K_STORE
from workbench import access

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "sample_data" / "pets"
DEFAULT_CHECKPOINTS = ROOT / "sample_data" / "series" / "baseline"
DEFAULT_COMPARE = ROOT / "sample_data" / "series" / "curated"
DEFAULT_STORE = ROOT / "workspace" / "tags.sqlite"


@dataclass(frozen=True)
class Workspace:
    data: str
    checkpoints: str
    store: str


def workspace_defaults() -> Workspace:
    """Defaults from WORKBENCH_DATA / WORKBENCH_CHECKPOINTS / WORKBENCH_STORE, else the sample
    (a store URL with its password hidden: the browser sees this value)."""
    return Workspace(
        data=os.environ.get("WORKBENCH_DATA", str(DEFAULT_DATA)),
        checkpoints=os.environ.get("WORKBENCH_CHECKPOINTS", str(DEFAULT_CHECKPOINTS)),
        store=access.public_store(os.environ.get("WORKBENCH_STORE", str(DEFAULT_STORE))),
    )


def workspace() -> Workspace:
    d = workspace_defaults()
    return Workspace(
        data=st.session_state.get(K_DATA, d.data).strip(),
        checkpoints=st.session_state.get(K_CHECKPOINTS, d.checkpoints).strip(),
        store=st.session_state.get(K_STORE, d.store).strip(),
    )


def workspace_dir() -> Path:
    """Where jobs, exports, uploads and reports go (WORKBENCH_WORKSPACE, else ./workspace)."""
    return access.workspace_dir()


def cache_dir() -> Path:
    """Disk cache of embeddings and heatmaps (the CLI's default when run from the project)."""
    return access.cache_dir()


def annotator() -> str:
    """Who tags: the signed-in user when login is configured, else the sidebar's name."""
    who = signed_in_user()
    if who is not None:
        return who
    return str(st.session_state.get(K_ANNOTATOR, "")).strip()


def clear_caches() -> None:
    st.cache_data.clear()
    st.cache_resource.clear()


# -- what a visitor may name -----------------------------------------------------------------


def policy() -> access.Policy:
    """The folders and store URLs this app may use, from the environment it was started in."""
    return access.Policy.from_env()


def check(raw: str | Path, what: str, **kw) -> Path:
    """:func:`workbench.access.check_path` under the app's policy; raises AccessError."""
    return access.check_path(policy(), raw, what=what, **kw)


def allowed(raw: str | Path, what: str, **kw) -> Path | None:
    """The resolved path when the policy allows it, else None after showing why."""
    try:
        return check(raw, what, **kw)
    except access.AccessError as exc:
        st.error(str(exc))
        return None


def data_key(ds) -> str:
    """What identifies a dataset (a :class:`curation.dataset.Dataset`) in the cache keys."""
    return f"{ds.source}|{ds.root}"
