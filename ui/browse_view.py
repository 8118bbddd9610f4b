"""The photo browser's parts, shared by the Browse and Embeddings map pages: filters kept in
the URL, a grid of thumbnails with checkboxes, a bulk tag bar and the photo dialog.

State lives in ``st.session_state`` under ``<prefix>.*`` keys (one prefix per page), so both
pages can hold their own selection. The data side is :mod:`ui.browse_data`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageEnhance, ImageOps

from curation.dataset import Dataset
from curation.images import ImageReadError, load_rgb
from curation.paths import PathError
from curation.regions import RegionError
from curation.store import TagStore
from curation.vocabulary import FLAGS
from ui import loaders, safety
from ui.browse_data import (
    LIST_PARAMS,
    bulk_changes,
    filters_from_url,
    filters_to_url,
    option_label,
)
from ui.format import store_problem
from ui.workspace import annotator as sidebar_annotator
from ui.workspace import data_key, workspace

TILE = (150, 200)  # thumbnail box (width, height), pixels: photos are fitted and padded
LABELS = {
    "split": "Split", "post": "Post", "outcome": "Outcome", "bucket": "Bucket",
    "artifact": "Artifact", "detection": "Detection", "reviewed": "Reviewed",
}  # fmt: skip


def keys(prefix: str) -> dict[str, str]:
    """The session-state keys of one page's browser."""
    names = ("selected", "open", "order", "flash", "url_read", "dropped")
    return {n: f"{prefix}.{n}" for n in names}


def who() -> str:
    """Who tags: the signed-in user, else the sidebar's annotator, else ``?annotator=`` from
    the URL (a link can carry the name; a signed-in user is never replaced by it)."""
    name = sidebar_annotator()
    if name or safety.signed_in_user() is not None:
        return name
    return str(st.query_params.get("annotator", "")).strip()


def url_values(name: str) -> list[str]:
    return st.query_params.get_all(name)


def init_from_url(prefix: str, choices: Mapping[str, Sequence[str]]) -> None:
    """On a session's first run of the page, set the filter widgets from the URL (values not
    among ``choices`` are dropped and listed once under the filters)."""
    k = keys(prefix)
    if st.session_state.get(k["url_read"]):
        return
    params = {n: url_values(n) for n in LIST_PARAMS}
    filters, dropped = filters_from_url(params, choices)
    for name, values in filters.items():
        st.session_state[f"{prefix}.f.{name}"] = values
    st.session_state[k["dropped"]] = dropped
    st.session_state[k["url_read"]] = True


def url_int(name: str, default: int | None = None) -> int | None:
    """A whole-number URL parameter, or ``default`` when absent or not a number."""
    raw = st.query_params.get(name)
    try:
        return int(raw) if raw is not None else default
    except ValueError:
        return default


def filter_bar(
    prefix: str, choices: Mapping[str, Sequence[str]], names: Sequence[str] = LIST_PARAMS,
    *, detection_help: str = "",
) -> dict[str, list[str]]:  # fmt: skip
    """A multiselect per filter in ``names`` (choices from
    :func:`ui.browse_data.filter_choices`); the chosen entries per filter."""
    out: dict[str, list[str]] = {}
    per_row = 4
    cols = [c for i in range(0, len(names), per_row) for c in st.columns(per_row)]
    for col, name in zip(cols, names, strict=False):
        key = f"{prefix}.f.{name}"
        options = list(choices.get(name, ()))
        # a value that is no longer an option (a tag removed, a detections file gone) is dropped
        st.session_state[key] = [v for v in st.session_state.get(key, []) if v in options]
        disabled = name == "detection" and not options
        out[name] = col.multiselect(
            LABELS[name], options, key=key, format_func=option_label, disabled=disabled,
            placeholder="no detections" if disabled else "any",
            help=detection_help if name == "detection" else None,
        )  # fmt: skip
    if "detection" in names and not choices.get("detection") and detection_help:
        st.caption(detection_help)
    dropped = st.session_state.pop(keys(prefix)["dropped"], None)
    if dropped:
        st.warning(f"The link asked for filters that match nothing here: {', '.join(dropped)}")
    return out


def sync_url(filters: Mapping[str, Sequence[str]], **single: object) -> None:
    """Write the filters and the single values (``page``, ``epoch``, ``annotator``, ...; None
    or "" leaves one out) into the URL, so the address opens this view."""
    want = filters_to_url(filters)
    want.update({k: str(v) for k, v in single.items() if v not in (None, "")})
    have = {k: st.query_params.get(k) for k in st.query_params}
    if have != want:
        st.query_params.from_dict(want)


# -- thumbnails ------------------------------------------------------------------------------


def fit(picture: Image.Image, box: tuple[int, int]) -> np.ndarray:
    """``picture`` scaled to fit ``box`` (width, height) and padded with black to exactly it:
    ``(height, width, 3)`` uint8."""
    fitted = ImageOps.contain(picture, box)
    canvas = Image.new("RGB", box)
    canvas.paste(fitted, ((box[0] - fitted.width) // 2, (box[1] - fitted.height) // 2))
    return np.asarray(canvas)


@st.cache_data(show_spinner=False, max_entries=4096)
def _thumb(data: str, image: str, box: tuple[int, int], _ds: Dataset) -> np.ndarray:
    return fit(load_rgb(_ds.path(image)), box)


def thumbnail(ds: Dataset, image: str, box: tuple[int, int] = TILE) -> np.ndarray | None:
    """The photo fitted into ``box``, or None when it cannot be read (shown as a caption)."""
    try:
        return _thumb(data_key(ds), image, box, ds)
    except (ImageReadError, PathError, OSError):
        return None


# -- selection and grid ----------------------------------------------------------------------


def selection(prefix: str) -> list[str]:
    return list(st.session_state.get(keys(prefix)["selected"], []))


def _toggle(prefix: str, image: str) -> None:
    sel = selection(prefix)
    on = bool(st.session_state.get(f"{prefix}.sel.{image}"))
    sel = [*sel, image] if on and image not in sel else [i for i in sel if i != image or on]
    st.session_state[keys(prefix)["selected"]] = sel


def select(prefix: str, images: Sequence[str]) -> None:
    """Add ``images`` to the page's selection."""
    st.session_state[keys(prefix)["selected"]] = list(dict.fromkeys([*selection(prefix), *images]))


def clear_selection(prefix: str) -> None:
    st.session_state[keys(prefix)["selected"]] = []


def open_photo(prefix: str, image: str, order: Sequence[str]) -> None:
    k = keys(prefix)
    st.session_state[k["open"]] = image
    st.session_state[k["order"]] = list(order)


def tile_caption(row: pd.Series) -> str:
    bits = [f"post {row['post_id']} · {row['split']}"]
    if row["split"] == "query":
        rank = row["rank"]
        bits.append(row["outcome"] + ("" if pd.isna(rank) else f" (rank {int(rank)})"))
    if row["bucket"]:
        bits.append(f"**{row['bucket']}**")
    if row["tags"]:
        bits.append("tags: " + row["tags"].replace(";", ", "))
    if row["truth"]:
        bits.append("truth: " + row["truth"].replace(";", ", "))
    if isinstance(row["detected"], str) and row["detected"]:
        bits.append("found: " + row["detected"].replace(";", ", "))
    return "  \n".join(bits)


def grid(ds: Dataset, rows: pd.DataFrame, order: Sequence[str], *, prefix: str,
         columns: int = 6) -> None:  # fmt: skip
    """Tiles of ``rows`` (:func:`ui.browse_data.photo_table` rows), ``columns`` a row: the
    thumbnail, a checkbox for the selection, a View button (the dialog moves through
    ``order``) and what is known about the photo."""
    chosen = set(selection(prefix))
    records = rows.to_dict("records")
    for start in range(0, len(records), columns):
        cols = st.columns(columns)
        for col, row in zip(cols, records[start : start + columns], strict=False):
            image = row["image"]
            with col.container(border=True):
                pic = thumbnail(ds, image)
                if pic is None:
                    st.caption(f"`{row['name']}` cannot be read")
                else:
                    st.image(pic, width="stretch")
                ck = f"{prefix}.sel.{image}"
                st.session_state[ck] = image in chosen
                c1, c2 = st.columns([1, 3], vertical_alignment="center")
                c1.checkbox(f"select {row['name']}", key=ck, on_change=_toggle,
                            args=(prefix, image), label_visibility="collapsed")  # fmt: skip
                c2.button("View", key=f"{prefix}.open.{image}", on_click=open_photo,
                          args=(prefix, image, order), width="stretch")  # fmt: skip
                st.markdown(f"**`{row['name']}`**")
                st.caption(tile_caption(pd.Series(row)))


# -- bulk tagging ----------------------------------------------------------------------------


def _apply(prefix: str, tags: TagStore, state: pd.DataFrame, who_: str, model: str | None,
           epoch: int | None) -> None:  # fmt: skip
    k = keys(prefix)
    images = selection(prefix)
    add = st.session_state.get(f"{prefix}.bulk.add", [])
    remove = st.session_state.get(f"{prefix}.bulk.remove", [])
    flags = st.session_state.get(f"{prefix}.bulk.flags", [])
    if not who_:
        st.session_state[k["flash"]] = (
            "Not saved: enter your name as Annotator in the sidebar first (or open the page "
            "with ?annotator=NAME)."
        )
        return
    if not images:
        st.session_state[k["flash"]] = "Not saved: select photos first (checkboxes or Select page)."
        return
    try:
        changes = bulk_changes(state, images, add=add, remove=remove, flags=flags)
    except ValueError as exc:
        st.session_state[k["flash"]] = f"Not saved: {exc}"
        return
    done = 0
    try:
        for c in changes:
            if c["artifacts"] is not None:
                tags.set_artifacts(c["image"], c["artifacts"], who_, c["regions"], model=model,
                                   epoch=epoch)  # fmt: skip
            if c["flags"] is not None:
                tags.flag_image(c["image"], c["flags"], who_, model=model, epoch=epoch)
            done += 1
    except RegionError as exc:
        st.session_state[k["flash"]] = f"Not saved after {done} photo(s): {exc}"
        return
    except loaders.STORE_ERRORS as exc:
        problem = store_problem(workspace().store, exc)
        st.session_state[k["flash"]] = f"Not saved after {done} photo(s): {problem}"
        return
    what = [*(f"+{a}" for a in add), *(f"−{a}" for a in remove), *(f"flag {f}" for f in flags)]
    unchanged = len(images) - done
    st.session_state[k["flash"]] = f"Saved: {', '.join(what) or 'nothing'} on {done} photo(s)" + (
        f"; {unchanged} already had it" if unchanged else ""
    )
    st.session_state[f"{prefix}.bulk.applied"] = True


def bulk_bar(prefix: str, tags: TagStore, state: pd.DataFrame, page_images: Sequence[str],
             *, model: str | None = None, epoch: int | None = None,
             select_label: str = "Select page") -> None:  # fmt: skip
    """``select_label`` (adds ``page_images`` to the selection) / clear, how many are selected,
    and tags to add or remove (and flags to set) on every selected photo, written to the store
    under :func:`who`."""
    k = keys(prefix)
    sel = selection(prefix)
    who_ = who()
    c = st.columns([1, 1, 2, 2, 2, 1.4])
    c[0].button(select_label, key=f"{prefix}.select_page", on_click=select,
                args=(prefix, list(page_images)))  # fmt: skip
    c[1].button("Clear", key=f"{prefix}.clear", on_click=clear_selection, args=(prefix,),
                disabled=not sel)  # fmt: skip
    vocab = tags.vocabulary()
    c[2].multiselect("Add tags", vocab, key=f"{prefix}.bulk.add", placeholder="tags to add")
    c[3].multiselect("Remove tags", vocab, key=f"{prefix}.bulk.remove", placeholder="to remove")
    c[4].multiselect("Set flags", list(FLAGS), key=f"{prefix}.bulk.flags", placeholder="flags")
    c[5].button(
        f"Tag {len(sel)} selected", key=f"{prefix}.bulk.apply", type="primary",
        disabled=not sel, on_click=_apply, args=(prefix, tags, state, who_, model, epoch),
    )  # fmt: skip
    st.caption(
        f"**{len(sel)} selected** · tags are recorded as "
        + (f"**{who_}**" if who_ else "nobody yet: enter your name as Annotator in the sidebar")
    )
    flash = st.session_state.pop(k["flash"], None)
    if flash:
        (st.warning if flash.startswith("Not saved") else st.success)(flash)


# -- the photo dialog ------------------------------------------------------------------------


def adjust(picture: Image.Image, brightness: float, contrast: float) -> Image.Image:
    """``picture`` with brightness and contrast factors applied (1.0 leaves it as it is)."""
    out = ImageEnhance.Brightness(picture).enhance(brightness)
    return ImageEnhance.Contrast(out).enhance(contrast)


def move(prefix: str, step: int) -> None:
    k = keys(prefix)
    order = st.session_state.get(k["order"], [])
    image = st.session_state.get(k["open"])
    if image in order:
        st.session_state[k["open"]] = order[(order.index(image) + step) % len(order)]


def close(prefix: str) -> None:
    st.session_state.pop(keys(prefix)["open"], None)


def opened(prefix: str) -> str | None:
    """The photo whose dialog is open on this page, or None."""
    return st.session_state.get(keys(prefix)["open"])
