"""Named views: a page's filters (its address parameters) saved in the tag store under a name,
per dataset, and opened again from the sidebar by anyone on the same store."""

from __future__ import annotations

import streamlit as st

import ui
from curation.store import TagStore
from ui import safety


def _open(tags: TagStore, page: str, prefix: str) -> None:
    name = st.session_state.get(f"{prefix}.views.pick")
    rows = tags.views(page=page)
    hit = rows[rows["name"] == name]
    if hit.empty:
        st.session_state[f"{prefix}.views.flash"] = f"No saved view {name!r} any more."
        return
    st.query_params.from_dict(hit.iloc[0]["params"])
    for key in [k for k in st.session_state if str(k).startswith(f"{prefix}.")]:
        if not str(key).startswith(f"{prefix}.views."):
            del st.session_state[key]  # the page's widgets read the address again
    st.session_state[f"{prefix}.views.flash"] = f"Opened the view {name!r}."


def _save(tags: TagStore, page: str, prefix: str, who: str) -> None:
    name = str(st.session_state.get(f"{prefix}.views.name", "")).strip()
    if not who:
        st.session_state[f"{prefix}.views.flash"] = "Enter your name as Annotator first."
        return
    if not name:
        st.session_state[f"{prefix}.views.flash"] = "Give the view a name first."
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    params = {k: v[0] if len(v) == 1 else v for k, v in params.items() if k != "annotator"}
    try:
        tags.save_view(name, page, params, who)
    except ui.STORE_ERRORS as exc:
        st.session_state[f"{prefix}.views.flash"] = f"Not saved: {exc}"
        return
    st.session_state[f"{prefix}.views.flash"] = f"Saved the view {name!r}."


def saved_views(tags: TagStore, page: str, prefix: str, who: str) -> None:
    """The sidebar's saved views of ``page``: open one (its filters replace the address and the
    page's widgets), or save the current address under a name (replacing a view of that
    name). ``prefix``: the page's session-state key prefix."""
    with st.sidebar.expander("Saved views", expanded=False):
        rows = tags.views(page=page)
        if len(rows):
            st.selectbox("View", rows["name"].tolist(), key=f"{prefix}.views.pick")
            st.button("Open", key=f"{prefix}.views.open",
                      on_click=safety.callback(_open), args=(tags, page, prefix))  # fmt: skip
        else:
            st.caption("No saved view of this page yet.")
        st.text_input("Name for the current view", key=f"{prefix}.views.name")
        st.button("Save view", key=f"{prefix}.views.save",
                  on_click=safety.callback(_save), args=(tags, page, prefix, who))  # fmt: skip
        flash = st.session_state.pop(f"{prefix}.views.flash", None)
        if flash:
            (st.warning if flash.startswith(("Not", "No ", "Give", "Enter")) else st.success)(flash)
