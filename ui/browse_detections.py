"""Where the Browse pages find the detectors' findings: a ``workbench detect --out`` CSV named
in the sidebar (default ``<workspace>/detections.csv``), checked against the allowed folders."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.browse_data import read_detections
from ui.workspace import check, workspace, workspace_dir
from workbench import access

FILE_NAME = "detections.csv"


@st.cache_data(show_spinner=False, max_entries=4)
def _read(path: str, stamp: tuple) -> pd.Series:
    return read_detections(path)


def detections(prefix: str) -> tuple[pd.Series | None, str]:
    """The detected artifacts per image from the sidebar's detections file, or None; and the
    detection filter's help (how to make the file when there is none)."""
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
    if not raw:
        return None, how
    try:
        path = check(raw, "The detections file", expect="file", exists=False)
    except access.AccessError as exc:
        st.sidebar.error(str(exc))
        return None, how
    if not path.is_file():
        return None, how
    try:
        stat = path.stat()
        return _read(str(path), (stat.st_size, stat.st_mtime_ns)), ""
    except (ValueError, OSError) as exc:
        st.sidebar.error(f"The detections file cannot be used: {exc}")
        return None, how
