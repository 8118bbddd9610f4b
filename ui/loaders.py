"""Cached loaders: the workspace's dataset, checkpoints, their evaluation, the tag store and
photos.

Caches live in ui/ only: ``st.cache_resource`` for models and the tag store, ``st.cache_data``
for data. Every loader shows the library's error with its fix (``st.error``) and returns None,
so a page can stop cleanly instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from curation.dataset import Dataset, load_dataset
from curation.findings import DatasetError
from curation.images import ImageReadError, load_rgb
from curation.names import naming_from_env
from curation.store import StoreBusyError, StoreError, TagStore
from explain.heatmaps.explorer import Photo, gallery_self_queries, mean_colour, photo
from explain.heatmaps.layers import layer_shapes as _measure_layers
from explain.models.checkpoints import CheckpointError, CheckpointFile, LoadedModel, discover
from explain.models.series import load_series
from explain.retrieval.embeddings import embed_dataset
from explain.retrieval.series import SeriesEvaluation, evaluate_series
from ui.format import on_checkerboard, store_problem
from ui.progress import progress_callback
from ui.state import FIX_CHECKPOINTS, FIX_DATA, TOP_K
from ui.workspace import allowed, cache_dir, data_key, policy, workspace
from workbench import access

# what writing to or opening a tag store raises besides the library's own errors
STORE_ERRORS = (StoreError, StoreBusyError, SQLAlchemyError, OSError)


@st.cache_data(show_spinner="Reading the dataset…")
def _load(path: str) -> Dataset:
    # files reached through links (an export made with links) may lie in the allowed roots only
    return load_dataset(path, follow_links=policy().roots, **naming_from_env())


def dataset() -> Dataset | None:
    """The workspace's dataset, or None after showing the loader's error with its fix."""
    raw = workspace().data
    if not raw:
        st.error("No dataset given: enter a dataset folder or manifest in the sidebar.")
        return None
    path = allowed(raw, "The dataset", fix=FIX_DATA)
    if path is None:
        return None
    if path.is_file() and path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        st.error(f"The dataset `{raw}` is a file but not a manifest (.csv or .parquet). {FIX_DATA}")
        return None
    try:
        return _load(str(path))
    except DatasetError as exc:
        st.error(f"The dataset at `{raw}` cannot be used.\n\n```\n{exc}\n```")
        return None
    except OSError as exc:  # e.g. a folder the server may not read
        st.error(f"The dataset at `{raw}` cannot be read: {exc.strerror or exc}. {FIX_DATA}")
        return None


# -- checkpoints -----------------------------------------------------------------------------


def _stamp(files: list[CheckpointFile]) -> tuple:
    return tuple((str(f.path), f.path.stat().st_size, f.path.stat().st_mtime_ns) for f in files)


@st.cache_data(show_spinner=False, ttl=5)
def _discover(path: str) -> list[CheckpointFile]:
    return discover(path)


def _checkpoint_folder(raw: str) -> Path | None:
    return allowed(raw, "The checkpoint folder", expect="dir", fix=FIX_CHECKPOINTS)


def _listed(folder: Path, raw: str) -> list[CheckpointFile] | None:
    try:
        files = _discover(str(folder))
    except (OSError, CheckpointError) as exc:
        st.error(f"{exc}\n\n{FIX_CHECKPOINTS}")
        return None
    if not files:
        st.warning(
            f"No checkpoints in `{raw}`: expected model.pth.tar-N, *.pth or *.pt files. "
            "Train a series with `workbench train --data DIR --out DIR`."
        )
        return None
    return files


def checkpoint_files(path: str | None = None) -> list[CheckpointFile] | None:
    """The checkpoint files of ``path`` (default: the workspace's), or None after an error."""
    raw = path or workspace().checkpoints
    folder = _checkpoint_folder(raw)
    return None if folder is None else _listed(folder, raw)


@st.cache_resource(show_spinner="Loading the checkpoints…", max_entries=4)
def _series(path: str, stamp: tuple) -> list[LoadedModel]:
    return load_series(path)


def series(path: str | None = None) -> list[LoadedModel] | None:
    """Every checkpoint of ``path`` (default: the workspace's) loaded, or None after an error."""
    raw = path or workspace().checkpoints
    folder = _checkpoint_folder(raw)
    files = None if folder is None else _listed(folder, raw)
    if not files:
        return None
    try:
        return _series(str(folder), _stamp(files))
    except (CheckpointError, OSError) as exc:
        st.error(f"The checkpoints in `{raw}` cannot be loaded.\n\n```\n{exc}\n```")
        return None


@st.cache_data(show_spinner=False, max_entries=16)
def _layer_shapes(sha1: str, names: tuple[str, ...], _member: LoadedModel) -> dict:
    return _measure_layers(_member.model, list(names), _member.input_size)


def layer_shapes(member: LoadedModel, names: list[str]) -> dict[str, tuple[int, int]]:
    """Output ``(h, w)`` of each named layer at the model's input size (one forward, cached)."""
    return _layer_shapes(member.sha1, tuple(names), member)


def epoch_labels(models: list[LoadedModel]) -> list[str]:
    return [m.label for m in models]


# -- evaluation ------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=8)
def _evaluation(data: str, shas: tuple[str, ...], k: int, _ds: Dataset, _models: list):
    update, clear = progress_callback("Embedding photos")
    try:
        return evaluate_series(_ds, _models, cache_dir=cache_dir(), k=k, progress=update)
    finally:
        clear()


def evaluation(
    ds: Dataset, models: list[LoadedModel], k: int = TOP_K, *, required: bool = True
) -> SeriesEvaluation | None:
    """Retrieval metrics of every checkpoint; the first computation shows a progress bar.
    None when they cannot be computed: an error says why, or (``required=False``, a page that
    works without them) a note."""
    try:
        return _evaluation(data_key(ds), tuple(m.sha1 for m in models), k, ds, models)
    except (ValueError, ImageReadError) as exc:
        if required:
            st.error(f"Retrieval cannot be evaluated on this dataset.\n\n```\n{exc}\n```")
        else:
            st.caption(f"No retrieval evaluation on this dataset ({exc}); not needed here.")
        return None


@st.cache_data(show_spinner="Searching the gallery among itself…", max_entries=8)
def _gallery_queries(data: str, sha1: str, _ds: Dataset, _member: LoadedModel) -> pd.DataFrame:
    return gallery_self_queries(_ds, _member, cache_dir=cache_dir())


def gallery_queries(ds: Dataset, member: LoadedModel) -> pd.DataFrame:
    """Every gallery photo searched among the other gallery photos (for calibration)."""
    return _gallery_queries(data_key(ds), member.sha1, ds, member)


def evaluated() -> tuple[Dataset, list[LoadedModel], SeriesEvaluation]:
    """The workspace's dataset, checkpoints and their evaluation; stops the page (after showing
    why) when any of them is unavailable."""
    ds, models = dataset(), series()
    ev = evaluation(ds, models) if ds is not None and models is not None else None
    if ev is None:
        st.stop()
    return ds, models, ev


# -- tag store and heatmap cache -------------------------------------------------------------


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(url: str, data: str, _ds: Dataset | None) -> TagStore:
    return TagStore(url, dataset=_ds)


def store(ds: Dataset | None = None) -> TagStore | None:
    """The workspace's tag store (created when it is a new SQLite file inside the allowed
    folders), or None after an error. Database URLs other than the configured ones are refused
    before any connection is tried."""
    raw = workspace().store
    try:
        target = access.check_store(policy(), raw)
    except access.AccessError as exc:
        st.error(str(exc))
        return None
    try:
        return _store(str(target), data_key(ds) if ds is not None else "", ds)
    except (*STORE_ERRORS, ImportError) as exc:
        st.error(store_problem(raw, exc))
        return None


def store_state(tags: TagStore) -> pd.DataFrame:
    """The store's current state, read fresh on every run (other annotators write too)."""
    return tags.current()


# -- photos ----------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=512)
def _photo(key: str, image: str, size: tuple[int, int], _ds: Dataset) -> Photo:
    return photo(_ds, image, size)


def load_photo(ds: Dataset, image: str, size: tuple[int, int]) -> Photo:
    """A manifest image prepared for a model of input ``size`` (cached per image)."""
    return _photo(data_key(ds), image, size, ds)


@st.cache_data(show_spinner=False, max_entries=64)
def _full(key: str, image: str, _ds: Dataset) -> np.ndarray:
    return np.asarray(load_rgb(_ds.path(image)))


def full_photo(ds: Dataset, image: str, *, checkerboard: bool = False) -> np.ndarray:
    """A manifest image in its file's own pixels, ``(h, w, 3)`` uint8 (cached per image);
    ``checkerboard``: its black background drawn as a grey checkerboard, for display
    (:func:`ui.format.on_checkerboard`, cached too)."""
    if checkerboard:
        return _full_shown(data_key(ds), image, ds)
    return _full(data_key(ds), image, ds)


@st.cache_data(show_spinner=False, max_entries=64)
def _full_shown(key: str, image: str, _ds: Dataset) -> np.ndarray:
    return on_checkerboard(_full(key, image, _ds))


def thumbnail(ds: Dataset, image: str, size: tuple[int, int] = (256, 128)) -> np.ndarray:
    return np.asarray(load_photo(ds, image, size).picture)


@st.cache_data(show_spinner="Measuring the photos' mean colour…")
def _mean_colour(data: str, _ds: Dataset) -> tuple[float, float, float]:
    train = _ds.split("train")
    rows = train if len(train) else _ds.table
    return mean_colour(_ds, rows["image"].head(200).tolist())


def dataset_colour(ds: Dataset) -> tuple[float, float, float]:
    """Mean RGB in [0, 1] of the non-black pixels of up to 200 training photos."""
    return _mean_colour(data_key(ds), ds)


@st.cache_data(show_spinner="Embedding the gallery…", max_entries=8)
def _gallery_features(data: str, sha1: str, _ds: Dataset, _member: LoadedModel) -> np.ndarray:
    emb = embed_dataset(_member, _ds, cache_dir=cache_dir(), splits=("query", "gallery"))
    return emb.rows(_ds.split("gallery")["image"].tolist())


def gallery_features(ds: Dataset, member: LoadedModel) -> np.ndarray:
    """Unit-norm features ``(G, D)`` of the gallery rows, in ``ds.split("gallery")`` order."""
    return _gallery_features(data_key(ds), member.sha1, ds, member)
