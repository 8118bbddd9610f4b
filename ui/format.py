"""How values read on screen: shares, and what a tag-store error means for the user."""

from __future__ import annotations

import numpy as np

from curation.store import StoreBusyError, StoreError
from workbench import access


def pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.0%}"


def store_problem(raw: str, exc: BaseException) -> str:
    """What a tag-store error means for the user, and what to do (no driver traceback)."""
    shown = access.public_store(raw)
    if isinstance(exc, StoreError | StoreBusyError):  # the store's own message names the file
        text = str(exc)
        return text[:1].upper() + text[1:]
    if isinstance(exc, ImportError):
        return (
            f"The tag store `{shown}` needs a database driver that is not installed ({exc.name}); "
            "install the project's postgres extra: pip install -e '.[postgres]'."
        )
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    low = text.lower()
    if "file is not a database" in low or "not a database" in low:
        return (
            f"The tag store `{shown}` is not a SQLite database (the file holds something else). "
            "Give a new file name to start a store, or the path of an existing tag store."
        )
    if "readonly" in low or "read-only" in low:
        return (
            f"The tag store `{shown}` is read-only for the app ({text}). Make the file and its "
            "folder writable for the user running the app, or choose another store file."
        )
    if "unable to open database file" in low:
        return (
            f"The tag store `{shown}` cannot be opened ({text}): its folder is missing or not "
            "accessible. Choose a store file in a folder the app can write to."
        )
    if isinstance(exc, OSError):
        return f"The tag store `{shown}` cannot be used: {exc.strerror or exc}."
    return f"The tag store `{shown}` failed: {text}"
