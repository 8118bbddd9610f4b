"""Deep links: a page's query, epoch and filters in the address (``st.query_params``), so a
copied link opens the same view.

Parameter names, shared by every page: :data:`QUERY` (the image's path relative to the dataset
root, as in the manifest's ``image`` column), :data:`EPOCH` (a checkpoint's epoch number),
:data:`METHOD`, :data:`ANNOTATOR`, :data:`BUCKET`, :data:`VIEW`, and :data:`SERIES` for Compare.
A link to Triage is ``triage?query=query/12_1.jpg``. A value in the address is adopted once
(when it is new), then the page writes what it shows back; an unknown or stale value gives a
warning, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

QUERY, EPOCH, METHOD, ANNOTATOR, BUCKET, VIEW = (
    "query", "epoch", "method", "annotator", "bucket", "view",
)  # fmt: skip
SERIES = "series"  # Compare: the curated series' folder (checked like a path from the sidebar)
_SEEN = "links.seen"  # session state: {(page, param): the address value last adopted or written}


def _seen() -> dict:
    return st.session_state.setdefault(_SEEN, {})


def incoming(page: str, param: str) -> str | None:
    """The address's ``param`` when it is new for ``page`` in this session (a link just opened,
    not a value this page wrote itself), else None."""
    raw = st.query_params.get(param)
    if raw is None or _seen().get((page, param)) == raw:
        return None
    _seen()[(page, param)] = raw
    return raw


def adopt(
    page: str,
    param: str,
    key: str,
    choices: Sequence[Any],
    *,
    what: str,
    parse: Callable[[str], Any] = str,
) -> None:
    """Put a new address value of ``param`` into ``st.session_state[key]`` (before the widget
    with that key is drawn) when ``parse(value)`` is one of ``choices``; otherwise warn, naming
    the value, what it should be (``what``) and the choices kept."""
    raw = incoming(page, param)
    if raw is None:
        return
    try:
        value = parse(raw)
    except (ValueError, KeyError):
        value = None
    if value in choices:
        st.session_state[key] = value
        return
    shown = ", ".join(str(c) for c in list(choices)[:6]) + (" …" if len(choices) > 6 else "")
    st.warning(
        f"The link's {param} `{raw}` is not {what} here (one of: {shown}); showing the page's "
        "own choice instead."
    )


def write(page: str, **values: Any) -> None:
    """Put what ``page`` shows into the address (None removes a parameter), so copying the
    address copies the view."""
    for param, value in values.items():
        if value is None or value == "" or value == []:
            if param in st.query_params:
                del st.query_params[param]
            _seen().pop((page, param), None)
            continue
        text = ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        if st.query_params.get(param) != text:
            st.query_params[param] = text
        _seen()[(page, param)] = text


def epoch_parser(models: Sequence[Any]) -> Callable[[str], str]:
    """For :func:`adopt`: an address's epoch number (``"12"``) -> the label of the loaded
    checkpoint of that epoch (``models``: objects with ``epoch`` and ``label``); KeyError when
    no checkpoint has that epoch."""
    by_epoch = {str(m.epoch): m.label for m in models if m.epoch is not None}
    return lambda raw: by_epoch[raw.strip()]


def epoch_of(models: Sequence[Any], label: str) -> int | None:
    """The epoch number of the checkpoint with ``label`` (None when it has none)."""
    return next((m.epoch for m in models if m.label == label), None)


def remember_annotator(key: str, signed_in: bool) -> None:
    """The annotator's name survives a reload: an address's ``?annotator=`` fills the sidebar
    field (session state ``key``) when the field is still empty, and the field's name is written
    back to the address. With sign-in (``signed_in``) the login's identity is used instead and
    the address is ignored."""
    if signed_in:
        return
    raw = incoming("app", ANNOTATOR)
    if raw is not None and not str(st.session_state.get(key, "")).strip():
        st.session_state[key] = raw.strip()[:80]


def write_annotator(key: str, signed_in: bool) -> None:
    """After the sidebar is drawn: the field's name into the address (see
    :func:`remember_annotator`)."""
    if not signed_in:
        write("app", **{ANNOTATOR: str(st.session_state.get(key, "")).strip() or None})


def adopt_query(page: str, key: str, shown: Sequence[str], every: Sequence[str]) -> None:
    """A new address ``?query=`` into ``st.session_state[key]`` when it is one of the ``shown``
    queries; a warning when it is hidden by the page's filters (one of ``every``) or is not a
    query photo of the dataset at all."""
    raw = incoming(page, QUERY)
    if raw is None:
        return
    if raw in shown:
        st.session_state[key] = raw
    elif raw in every:
        st.warning(f"The link's query `{raw}` is hidden by the filters here; widen them to see it.")
    else:
        st.warning(
            f"The link's query `{raw}` is not a query photo of this dataset (a path relative to "
            "the dataset root, as in the manifest's image column, e.g. query/12_1.jpg); showing "
            "another query instead."
        )
