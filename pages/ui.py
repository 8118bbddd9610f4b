"""What the pages share: session-state keys, the workspace, and the cached library calls.

Caches live here and only here: ``st.cache_resource`` for models and the tag store,
``st.cache_data`` for data. Every loader shows the library's error with its fix (``st.error``)
and returns None, so a page can stop cleanly instead of showing a traceback.

Every path and store URL from the sidebar goes through :mod:`workbench.access` first (allowed
folders, configured database URLs) and is refused with a message outside them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from curation.dataset import Dataset, load_dataset
from curation.findings import DatasetError
from curation.images import ImageReadError
from curation.names import naming_from_env
from curation.quality import measure_images
from curation.rules import apply_rules, parse_rules, removal_frame
from curation.store import StoreBusyError, StoreError, TagStore
from explain.heatmaps.cache import HeatmapCache
from explain.heatmaps.explorer import (
    Photo,
    QueryExplanation,
    Regions,
    attribution_outcomes,
    explain_query,
    gallery_self_queries,
    mean_colour,
    photo,
)
from explain.heatmaps.layers import layer_shapes as _measure_layers
from explain.models.checkpoints import CheckpointError, CheckpointFile, LoadedModel, discover
from explain.models.series import load_series
from explain.retrieval.confidence import CalibrationError, Confidence, fit_confidence
from explain.retrieval.duplicates import find_duplicates
from explain.retrieval.embeddings import embed_dataset
from explain.retrieval.series import SeriesEvaluation, evaluate_series
from pages.safety import signed_in_user
from workbench import access

if TYPE_CHECKING:
    from explain.compare.comparison import Comparison

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / "sample_data" / "pets"
DEFAULT_CHECKPOINTS = ROOT / "sample_data" / "series" / "baseline"
DEFAULT_COMPARE = ROOT / "sample_data" / "series" / "curated"
DEFAULT_STORE = ROOT / "workspace" / "tags.sqlite"
TOP_K = 10
FIX_DATA = "Enter a dataset folder (train/ query/ gallery/) or a manifest .csv/.parquet."
FIX_CHECKPOINTS = "Enter a folder with model.pth.tar-N files in the sidebar."

# session-state keys (widgets and page state)
K_DATA = "workspace.data"
K_CHECKPOINTS = "workspace.checkpoints"
K_STORE = "workspace.store"
K_ANNOTATOR = "workspace.annotator"
K_RELOAD = "workspace.reload"
K_QUERY = "explore.query"  # the query a page is looking at (shared by Heatmaps and Triage)
# what writing to or opening a tag store raises besides the library's own errors
STORE_ERRORS = (StoreError, StoreBusyError, SQLAlchemyError, OSError)


def through_app() -> None:
    """Make sure this run goes through ``app.py``'s ``st.navigation``.

    Streamlit treats a folder named ``pages/`` beside the entry point as an old-style multipage
    app until ``st.navigation`` has run in the process (and ``AppTest`` resets that before every
    run); in that mode a page's address runs the page alone, without ``app.py``'s workspace.
    Every page calls this first: it switches to ``st.navigation`` and starts the run again.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@dataclass(frozen=True)
class Workspace:
    data: str
    checkpoints: str
    store: str


def workspace_defaults() -> Workspace:
    """Defaults from WORKBENCH_DATA / WORKBENCH_CHECKPOINTS / WORKBENCH_STORE, else the sample
    (a store URL with its password hidden: the browser sees this value)."""
    return Workspace(
        data=os.environ.get("WORKBENCH_DATA", str(DEFAULT_DATA)),
        checkpoints=os.environ.get("WORKBENCH_CHECKPOINTS", str(DEFAULT_CHECKPOINTS)),
        store=access.public_store(os.environ.get("WORKBENCH_STORE", str(DEFAULT_STORE))),
    )


def workspace() -> Workspace:
    d = workspace_defaults()
    return Workspace(
        data=st.session_state.get(K_DATA, d.data).strip(),
        checkpoints=st.session_state.get(K_CHECKPOINTS, d.checkpoints).strip(),
        store=st.session_state.get(K_STORE, d.store).strip(),
    )


def workspace_dir() -> Path:
    """Where jobs, exports, uploads and reports go (WORKBENCH_WORKSPACE, else ./workspace)."""
    return access.workspace_dir()


def cache_dir() -> Path:
    """Disk cache of embeddings and heatmaps (the CLI's default when run from the project)."""
    return access.cache_dir()


def annotator() -> str:
    """Who tags: the signed-in user when login is configured, else the sidebar's name."""
    who = signed_in_user()
    if who is not None:
        return who
    return str(st.session_state.get(K_ANNOTATOR, "")).strip()


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


# -- dataset ---------------------------------------------------------------------------------


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


def data_key(ds: Dataset) -> str:
    """What identifies a dataset in the cache keys below."""
    return f"{ds.source}|{ds.root}"


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


def evaluation(ds: Dataset, models: list[LoadedModel], k: int = TOP_K) -> SeriesEvaluation | None:
    """Retrieval metrics of every checkpoint; the first computation shows a progress bar."""
    try:
        return _evaluation(data_key(ds), tuple(m.sha1 for m in models), k, ds, models)
    except (ValueError, ImageReadError) as exc:
        st.error(f"Retrieval cannot be evaluated on this dataset.\n\n```\n{exc}\n```")
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


@st.cache_resource(show_spinner=False)
def _heatmap_cache(root: str) -> HeatmapCache:
    return HeatmapCache(root)


def heatmap_cache() -> HeatmapCache:
    return _heatmap_cache(str(cache_dir()))


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


def method_params(
    method: str, *, layer: str | None, window: int, stride: int, baseline: str, colour
) -> dict:
    """The parameters a page passes to a heatmap method."""
    if method == "occlusion":
        p = {"window": window, "stride": stride, "baseline": baseline}
        if baseline == "mean":
            p["colour"] = [round(c, 4) for c in colour]
        return p
    if method in ("randomcam",):
        return {}
    return {"layer": layer} if layer else {}


@st.cache_data(show_spinner=False, max_entries=128)
def _explanation(
    key: str,
    methods: tuple[str, ...],
    params_json: str,
    _models: list,
    _query: Photo,
    _match: Photo | None,
    _regions: Regions | None,
) -> QueryExplanation:
    update, clear = progress_callback("Computing heatmaps")
    try:
        return explain_query(
            _models,
            _query,
            methods,
            match=_match,
            regions=_regions,
            params=json.loads(params_json),
            cache=heatmap_cache(),
            progress=update,
        )
    finally:
        clear()


def explanation(
    models: list[LoadedModel],
    query: Photo,
    methods: list[str],
    params: dict[str, dict],
    *,
    match: Photo | None = None,
    regions: Regions | None = None,
    regions_key: str = "",
) -> QueryExplanation | None:
    """Maps of a query (and match) for every checkpoint; progress while any is computed."""
    key = "|".join(
        [*(m.sha1 for m in models), query.sha1, match.sha1 if match else "self", regions_key]
    )
    try:
        out = _explanation(
            key, tuple(methods), json.dumps(params, sort_keys=True), models, query, match,
            regions,
        )  # fmt: skip
    except ValueError as exc:
        st.error(f"The heatmaps cannot be computed: {exc}")
        return None
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def _outcomes(
    key: str, method: str, _ds: Dataset, _member: LoadedModel, _per_query: pd.DataFrame,
    _drawn: dict,
) -> pd.DataFrame:  # fmt: skip
    update, clear = progress_callback("Scoring each query's heatmap")
    try:
        return attribution_outcomes(
            _ds, _member, _per_query, method=method, annotator_regions=_drawn,
            cache=heatmap_cache(), progress=update,
        )  # fmt: skip
    finally:
        clear()


def outcomes(
    ds: Dataset, member: LoadedModel, per_query: pd.DataFrame, state: pd.DataFrame,
    method: str = "gradcam",
) -> pd.DataFrame:  # fmt: skip
    """Per query: retrieval rank and the share of its attribution on the animal / artifacts
    (:func:`explain.heatmaps.explorer.attribution_outcomes`), recomputed when annotators' regions
    change."""
    drawn = {}
    if len(state):
        for img, regions in zip(state["image"], state["regions"], strict=True):
            if isinstance(regions, list) and regions:
                drawn[img] = regions
    key = f"{data_key(ds)}|{member.sha1}|{json.dumps(drawn, sort_keys=True)}"
    return _outcomes(key, method, ds, member, per_query, drawn)


def rule_specs(specs: list[tuple[str, dict]]) -> list:
    return parse_rules([(name, params) for name, params in specs]) if specs else []


@st.cache_data(show_spinner=False, max_entries=4)
def _quality(data: str, images: tuple[str, ...], _ds: Dataset) -> pd.DataFrame:
    update, clear = progress_callback("Measuring photo quality")
    try:
        return measure_images(_ds, list(images), progress=update)
    finally:
        clear()


@st.cache_data(show_spinner="Looking for duplicates (perceptual hashes)…", max_entries=4)
def _duplicates(data: str, _ds: Dataset) -> pd.DataFrame:
    return find_duplicates(_ds, cache_dir=cache_dir()).groups


@st.cache_data(show_spinner=False, max_entries=32)
def _removals(
    data: str, specs_json: str, snapshot: str, _ds: Dataset, _state, _post_flags
) -> pd.DataFrame:
    specs = rule_specs(json.loads(specs_json))
    names = {s.name for s in specs}
    quality = dups = None
    if "quality_flags" in names:
        splits = next(s for s in specs if s.name == "quality_flags").effective()["splits"]
        rows = _ds.table[_ds.table["split"].isin(list(splits))]
        quality = _quality(data, tuple(rows["image"]), _ds)
    if "duplicates" in names:
        dups = _duplicates(data, _ds)
    _, removals = apply_rules(
        _ds, specs, tags=_state, post_flags=_post_flags, duplicate_groups=dups, quality=quality
    )
    return removals


def removals(
    ds: Dataset, tags: TagStore, specs: list[tuple[str, dict]], state, post_flags
) -> pd.DataFrame | None:
    """What ``specs`` (rule name, parameters) remove from ``ds``, or None after an error."""
    data = data_key(ds)
    try:
        if not specs:
            return removal_frame([])
        blob = json.dumps([[n, _plain(p)] for n, p in specs], sort_keys=True)
        return _removals(data, blob, tags.snapshot_sha256(), ds, state, post_flags)
    except (ValueError, ImageReadError) as exc:
        st.error(f"The rules cannot run: {exc}")
        return None


def _plain(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


@st.cache_data(show_spinner="Embedding the gallery…", max_entries=8)
def _gallery_features(data: str, sha1: str, _ds: Dataset, _member: LoadedModel) -> np.ndarray:
    emb = embed_dataset(_member, _ds, cache_dir=cache_dir(), splits=("query", "gallery"))
    return emb.rows(_ds.split("gallery")["image"].tolist())


def gallery_features(ds: Dataset, member: LoadedModel) -> np.ndarray:
    """Unit-norm features ``(G, D)`` of the gallery rows, in ``ds.split("gallery")`` order."""
    return _gallery_features(data_key(ds), member.sha1, ds, member)


@st.cache_data(show_spinner="Calibrating the match confidence…", max_entries=16)
def _confidence(
    data: str, sha1: str, method: str, gallery: bool, _per_query: pd.DataFrame, _ds, _member
) -> Confidence:
    per_query = _per_query
    if gallery:
        per_query = pd.concat([per_query, gallery_queries(_ds, _member)], ignore_index=True)
    return fit_confidence(per_query, method=method)


def confidence(
    ds: Dataset, member: LoadedModel, per_query: pd.DataFrame, *, method: str = "logistic",
    gallery: bool = True,
) -> Confidence | None:  # fmt: skip
    """The match-confidence model of ``member`` fitted on its queries (and, with ``gallery``,
    every gallery photo searched among the others), or None after a warning."""
    try:
        return _confidence(data_key(ds), member.sha1, method, gallery, per_query, ds, member)
    except (CalibrationError, ValueError) as exc:
        st.warning(f"No match confidence for {member.label}: {exc}")
        return None


@st.cache_data(show_spinner=False, max_entries=4)
def _comparison(
    key: str, methods: tuple[str, ...], n_queries: int, limit: int, _ds: Dataset, _base, _cur
) -> Comparison:
    from explain.compare.series import compare_series

    bar = st.empty()

    def note(stage: str, done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{stage}: {done} of {total}")

    try:
        return compare_series(
            _ds, _base, _cur, methods=methods, n_queries=n_queries, limit=limit,
            cache=heatmap_cache(), progress=note,
        )  # fmt: skip
    finally:
        bar.empty()


def comparison(
    ds: Dataset, base: list[LoadedModel], cur: list[LoadedModel], methods, n_queries: int,
    limit: int,
) -> Comparison | None:  # fmt: skip
    """:func:`explain.compare.series.compare_series` of two loaded series (cached), or None."""
    key = "|".join([data_key(ds), *(m.sha1 for m in base), "vs", *(m.sha1 for m in cur)])
    try:
        return _comparison(key, tuple(methods), n_queries, limit, ds, base, cur)
    except (ValueError, ImageReadError) as exc:
        st.error(f"The series cannot be compared: {exc}")
        return None


def progress_callback(text: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A progress bar and ``(update(done, total), clear())``."""
    bar = st.empty()

    def update(done: int, total: int) -> None:
        bar.progress(done / max(total, 1), text=f"{text}: {done} of {total}")

    return update, bar.empty


def pct(value: float | None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    return f"{value:.0%}"
