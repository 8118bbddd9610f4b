"""What the app's pages share (Streamlit is allowed here, as in app.py and app_pages/).

- :mod:`ui.state` — session-state keys and the messages that name a fix;
- :mod:`ui.workspace` — the sidebar's dataset / checkpoints / store, who tags, allowed paths;
- :mod:`ui.loaders` — cached loaders (dataset, checkpoints, evaluation, tag store, photos);
- :mod:`ui.compute` — cached computations (heatmaps, outcomes, rule removals, comparison);
- :mod:`ui.background` — slow heatmaps computed by one background worker, placeholders meanwhile;
- :mod:`ui.widgets`, :mod:`ui.queries` — the query picker, top-k strip, query tables;
- :mod:`ui.format`, :mod:`ui.progress` — how values and errors read, progress bars;
- :mod:`ui.safety` — sign-in, exposure gate, failures shown with a reference;
- :mod:`ui.links` — deep links: the page's query, epoch and filters in the address.

A page does ``import ui`` and calls these names; a new page goes in app_pages/ and is listed
in app.py.
"""

from ui.compute import (
    comparison,
    confidence,
    explanation,
    heatmap_cache,
    outcomes,
    removals,
    rule_specs,
)
from ui.format import EMPTY, PCT_FORMAT, blank, on_checkerboard, pct, store_problem
from ui.loaders import (
    STORE_ERRORS,
    checkpoint_files,
    dataset,
    dataset_colour,
    epoch_labels,
    evaluated,
    evaluation,
    full_photo,
    gallery_features,
    gallery_queries,
    layer_shapes,
    load_photo,
    series,
    store,
    store_state,
    thumbnail,
)
from ui.progress import progress_callback
from ui.state import (
    DEFAULT_THRESHOLD,
    FIX_CHECKPOINTS,
    FIX_DATA,
    K_ANNOTATOR,
    K_CHECKPOINTS,
    K_DATA,
    K_QUERY,
    K_RELOAD,
    K_STORE,
    K_THRESHOLD,
    TOP_K,
)
from ui.workspace import (
    ROOT,
    Workspace,
    allowed,
    annotator,
    annotator_default,
    cache_dir,
    check,
    clear_caches,
    compare_default,
    configured,
    data_key,
    policy,
    workspace,
    workspace_defaults,
    workspace_dir,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "EMPTY",
    "FIX_CHECKPOINTS",
    "FIX_DATA",
    "K_ANNOTATOR",
    "K_CHECKPOINTS",
    "K_DATA",
    "K_QUERY",
    "K_RELOAD",
    "K_STORE",
    "K_THRESHOLD",
    "PCT_FORMAT",
    "ROOT",
    "STORE_ERRORS",
    "TOP_K",
    "Workspace",
    "allowed",
    "annotator",
    "annotator_default",
    "blank",
    "cache_dir",
    "check",
    "checkpoint_files",
    "clear_caches",
    "compare_default",
    "comparison",
    "confidence",
    "configured",
    "data_key",
    "dataset",
    "dataset_colour",
    "epoch_labels",
    "evaluated",
    "evaluation",
    "explanation",
    "full_photo",
    "gallery_features",
    "gallery_queries",
    "heatmap_cache",
    "layer_shapes",
    "load_photo",
    "on_checkerboard",
    "outcomes",
    "pct",
    "policy",
    "progress_callback",
    "removals",
    "rule_specs",
    "series",
    "store",
    "store_problem",
    "store_state",
    "thumbnail",
    "workspace",
    "workspace_defaults",
    "workspace_dir",
]  # fmt: skip
