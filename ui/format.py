"""How values read on screen: shares, empty cells, photos on a visible background, and what a
tag-store error means for the user."""

from __future__ import annotations

import cv2
import numpy as np

from curation.store import StoreBusyError, StoreError
from workbench import access

EMPTY = "—"  # what an empty cell or a missing number shows
PCT_FORMAT = "%.2f %%"  # a table column of shares times 100, printed as pct() prints them
CHECKER = (118, 140)  # the two greys of the background checkerboard, 0-255


def pct(value: float | None) -> str:
    """A share in [0, 1] as a percentage with two decimals (0.42 %, 12.35 %), as the tables
    show it (:data:`PCT_FORMAT` on values times 100); "—" when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return EMPTY
    return f"{value * 100:.2f} %"


def blank(value: object) -> object:
    """A table cell as shown: "—" for None / NaN, else the value unchanged."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return EMPTY
    return value


def on_checkerboard(image: np.ndarray, *, dark: int = 10, cell: int = 8) -> np.ndarray:
    """The photo (``(h, w, 3)`` uint8) with its black background — the dark pixels (every
    channel <= ``dark``, 0-255) connected to the photo's border, what segmentation leaves —
    drawn as a grey checkerboard of ``cell``-pixel squares, so a black animal on a black
    background stays visible. The animal's own dark pixels (not connected to the border) are
    kept. For display only: models never see this."""
    img = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
    if img.ndim != 3 or cell < 1:
        raise ValueError(f"need an (h, w, 3) image and cell >= 1, got {img.shape} and {cell}")
    mask = (img.max(axis=2) <= dark).astype(np.uint8)
    _, lab = cv2.connectedComponents(mask, connectivity=4)
    border = np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))
    background = np.isin(lab, border[border > 0]) & (mask > 0)
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w]
    board = np.where(((yy // cell + xx // cell) % 2) == 0, CHECKER[0], CHECKER[1]).astype(np.uint8)
    out = img.copy()
    out[background] = board[background][:, None]
    return out


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
