"""Cached computations the pages ask for: heatmaps of a query, attribution outcomes, curation
rules' removals, match confidence and series comparison (each shows a progress bar while it
runs, and the library's error, with its fix, instead of a traceback)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from curation.dataset import Dataset
from curation.images import ImageReadError
from curation.quality import measure_images
from curation.rules import SplitWarning, apply_rules, parse_rules, removal_frame, rule
from curation.rules.shortcut import with_confirmations
from curation.store import TagStore
from explain.heatmaps.cache import HeatmapCache
from explain.heatmaps.explorer import (
    Photo,
    QueryExplanation,
    Regions,
    attribution_outcomes,
    explain_query,
)
from explain.models.checkpoints import LoadedModel
from explain.retrieval.confidence import CalibrationError, Confidence, fit_confidence
from explain.retrieval.duplicates import find_duplicates
from ui.loaders import gallery_queries
from ui.posts import read_scores
from ui.progress import progress_callback
from ui.workspace import cache_dir, data_key

if TYPE_CHECKING:
    from explain.compare.comparison import Comparison


@st.cache_resource(show_spinner=False)
def _heatmap_cache(root: str) -> HeatmapCache:
    return HeatmapCache(root)


def heatmap_cache() -> HeatmapCache:
    return _heatmap_cache(str(cache_dir()))


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
    (:func:`explain.explorer.attribution_outcomes`), recomputed when annotators' regions change."""
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
    data: str,
    specs_json: str,
    snapshot: str,
    scores_key: tuple,
    _ds: Dataset,
    _state,
    _post_flags,
    _detections,
    _shortcuts,
) -> tuple[pd.DataFrame, list[str]]:
    specs = rule_specs(json.loads(specs_json))
    quality = dups = None
    for spec in specs:
        reads = rule(spec.name).reads
        if "quality" in reads:  # measured on the splits the rule removes from, then cached
            splits = spec.effective()["splits"]
            rows = _ds.table[_ds.table["split"].isin(list(splits))]
            quality = _quality(data, tuple(rows["image"]), _ds)
        if "duplicates" in reads:
            dups = _duplicates(data, _ds)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", SplitWarning)
        _, removals = apply_rules(
            _ds, specs, tags=_state, post_flags=_post_flags, duplicate_groups=dups,
            quality=quality, detections=_detections, shortcuts=_shortcuts,
        )  # fmt: skip
    notes = [str(w.message) for w in said if issubclass(w.category, SplitWarning)]
    return removals, notes


def removals(
    ds: Dataset, tags: TagStore, specs: list[tuple[str, dict]], state, post_flags,
    shortcuts: Path | None = None,
) -> tuple[pd.DataFrame, list[str]] | None:  # fmt: skip
    """What ``specs`` (rule name, parameters) remove from ``ds`` and the warnings about query
    or gallery photos they remove, or None after an error. ``shortcuts``: a posts.csv of
    ``workbench shortcuts`` for the shortcut rule (its ``confirmed`` column from the store's
    review of the detections when the file has none)."""
    data = data_key(ds)
    try:
        if not specs:
            return removal_frame([]), []
        blob = json.dumps([[n, _plain(p)] for n, p in specs], sort_keys=True)
        dets = tags.detections()
        scores, key = None, ()
        if shortcuts is not None and shortcuts.is_file():
            stat = shortcuts.stat()
            key = (str(shortcuts), stat.st_size, stat.st_mtime_ns)
            scores = with_confirmations(read_scores(shortcuts), ds.table, dets)
        return _removals(data, blob, tags.snapshot_sha256(), key, ds, state, post_flags, dets,
                         scores)  # fmt: skip
    except (ValueError, ImageReadError) as exc:
        st.error(f"The rules cannot run: {exc}")
        return None


def _plain(params: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


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
    """:func:`explain.compare.compare_series` of two loaded series (cached), or None."""
    key = "|".join([data_key(ds), *(m.sha1 for m in base), "vs", *(m.sha1 for m in cur)])
    try:
        return _comparison(key, tuple(methods), n_queries, limit, ds, base, cur)
    except (ValueError, ImageReadError) as exc:
        st.error(f"The series cannot be compared: {exc}")
        return None
