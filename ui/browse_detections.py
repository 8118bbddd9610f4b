"""Where the Browse pages find the detectors' findings: a ``workbench detect --out`` CSV named
in the sidebar (default ``<workspace>/detections.csv``), checked against the allowed folders;
without one, the tag store's machine tags (``workbench detect --to-store``, reviews on Posts)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from curation.store import TagStore
from ui.browse_data import read_detections, stored_detections
from ui.workspace import check, workspace, workspace_dir
from workbench import access

FILE_NAME = "detections.csv"


@st.cache_data(show_spinner=False, max_entries=4)
def _read(path: str, stamp: tuple) -> pd.Series:
    return read_detections(path)


def detections(prefix: str, tags: TagStore | None = None) -> tuple[pd.Series | None, str]:
    """The detected artifacts per image from the sidebar's detections file — or, without one,
    from the machine tags of ``tags`` when it holds any — or None; and the detection filter's
    help (how to make the file when there is neither)."""
    default = str(workspace_dir() / FILE_NAME)
    raw = st.sidebar.text_input(
        "Detections CSV", value=default, key=f"{prefix}.detections",
        help="Written by `workbench detect --data DIR --out FILE`: the artifact detectors' "
        "findings (hands, tongue, grass, glare, ...) per photo.",
    ).strip()  # fmt: skip
    how = (
        f"No detections file at `{raw or default}`. Make one with `workbench detect --data "
        f"{workspace().data} --out {raw or default}`, then reload."
    )
    stored = tags.detections() if tags is not None else None
    if stored is not None and stored.empty:
        stored = None
    if raw:
        try:
            path = check(raw, "The detections file", expect="file", exists=False)
        except access.AccessError as exc:
            st.sidebar.error(str(exc))
            return None, how
    if not raw or not path.is_file():
        if stored is None:
            return None, how
        st.sidebar.caption(
            f"Detections from the tag store's machine tags ({stored['image'].nunique()} "
            "photos); a detections file here is read instead when there is one."
        )
        return stored_detections(stored), ""
    try:
        stat = path.stat()
        return _read(str(path), (stat.st_size, stat.st_mtime_ns)), ""
    except (ValueError, OSError) as exc:
        st.sidebar.error(f"The detections file cannot be used: {exc}")
        return None, how
