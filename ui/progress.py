"""A progress bar for a long library call: ``update(done, total)`` and ``clear()``."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st


def progress_callback(text: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress bar and ``(update(done, total), clear())``."""
    bar = st.empty()

    def update(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{text}: {done} of {total}")

    return update, bar.empty
