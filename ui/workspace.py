"""The workspace a visitor works in: dataset, checkpoint folder and tag store from the sidebar
(their defaults, the cache and the annotator from :mod:`workbench.settings`), who tags, and what
a visitor may name.

Every path and store URL from the sidebar goes through :mod:`workbench.access` first (allowed
folders, configured database URLs) and is refused with a message outside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ui.safety import signed_in_user
from ui.state import K_ANNOTATOR, K_CHECKPOINTS, K_DATA, K_STORE
from workbench import access, settings

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Workspace:
    data: str
    checkpoints: str
    store: str


def configured() -> settings.Settings:
    """The settings the app was started with (:mod:`workbench.settings`: defaults, the
    workspace's workbench.toml, WORKBENCH_* variables); SettingsError when they cannot be read."""
    return settings.load()


def workspace_defaults() -> Workspace:
    """The sidebar's starting values, from the settings (a store URL with its password hidden:
    the browser sees this value)."""
    given = configured()
    return Workspace(
        data=given.data, checkpoints=given.checkpoints, store=access.public_store(given.store)
    )


def compare_default() -> str:
    """The series the Compare page starts with (``compare`` in the settings)."""
    return configured().compare


def annotator_default() -> str:
    """The sidebar's starting annotator name (``annotator`` in the settings, else empty)."""
    return configured().annotator


def workspace() -> Workspace:
    d = workspace_defaults()
    return Workspace(
        data=st.session_state.get(K_DATA, d.data).strip(),
        checkpoints=st.session_state.get(K_CHECKPOINTS, d.checkpoints).strip(),
        store=st.session_state.get(K_STORE, d.store).strip(),
    )


def workspace_dir() -> Path:
    """Where jobs, exports, uploads and reports go (``workspace`` in the settings)."""
    return access.workspace_dir()


def cache_dir() -> Path:
    """Disk cache of embeddings and heatmaps (``cache`` in the settings, as for the CLI)."""
    return access.cache_dir()


def annotator() -> str:
    """Who tags: the signed-in user when login is configured, else the sidebar's name."""
    who = signed_in_user()
    if who is not None:
        return who
    return str(st.session_state.get(K_ANNOTATOR, annotator_default())).strip()


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
