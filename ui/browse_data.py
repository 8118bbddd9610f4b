"""What the Browse and Embeddings map pages show, as plain pandas (no Streamlit: tested
directly).

- :func:`photo_table` — one row per photo of the dataset: split, post, outcome at an epoch,
  the store's bucket / tags / flags, the ground-truth artifacts, the detectors' findings;
- :func:`filter_photos` — the rows the filters keep; :func:`filters_from_url` and
  :func:`filters_to_url` — the same filters as URL query parameters;
- :func:`read_detections` — a ``workbench detect --out`` CSV, checked;
- :func:`selected_images` — the photos a plotly box / lasso selection holds;
- :func:`bulk_changes` — the artifact and flag sets a bulk tag writes;
- :func:`cached_maps` — the Grad-CAM maps already in the heatmap cache (nothing computed).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from curation.dataset import Dataset
from curation.vocabulary import BUCKETS, SPLITS
from explain.heatmaps.base import Heatmap
from explain.heatmaps.cache import HeatmapCache, heatmap_key
from ui.queries import NO_BUCKET, OUTCOMES, outcome

FOUND_K = 5  # "found" = the first true match within the top 5, as on Triage and Checkpoints
NOT_A_QUERY = "not a query"
OUTCOME_CHOICES = (*OUTCOMES, NOT_A_QUERY)
NONE = "(none)"  # the artifact / detection filters' entry for "nothing tagged / found"
GT = "gt:"  # prefix of a ground-truth artifact in the artifact filter (and the URL)
REVIEWED = ("reviewed", "not reviewed")
LIST_PARAMS = ("split", "post", "outcome", "bucket", "artifact", "detection", "reviewed")
MAX_DETECTIONS_BYTES = 200 * 1024 * 1024
DETECTION_COLUMNS = ("image", "artifact", "detected")


def _joined(value: object) -> str:
    return value if isinstance(value, str) else ""


def photo_table(
    ds: Dataset,
    per_query: pd.DataFrame | None,
    state: pd.DataFrame,
    detections: pd.Series | None = None,
    k: int = FOUND_K,
) -> pd.DataFrame:
    """One row per photo of ``ds`` (manifest order): ``image``, ``name`` (file name),
    ``post_id``, ``split``, ``outcome`` (one of :data:`OUTCOME_CHOICES`, from ``per_query`` of
    one checkpoint, found = rank ≤ ``k``), ``rank`` (<NA> when not a query or no true match),
    ``bucket``, ``tags`` (the store's artifact tags, ``;``-joined), ``flags``, ``truth`` (the
    manifest's ground-truth artifacts, "" without that column), ``detected`` (the detectors'
    artifacts from :func:`read_detections`, "" when none; <NA> for every row when
    ``detections`` is None) and ``reviewed`` (the photo has a bucket, tags, flags or a note in
    the store)."""
    t = ds.table
    out = pd.DataFrame({
        "image": t["image"].to_numpy(),
        "name": [Path(i).name for i in t["image"]],
        "post_id": t["post_id"].astype(str).to_numpy(),
        "split": t["split"].to_numpy(),
    })  # fmt: skip
    outcomes, ranks = {}, {}
    if per_query is not None:
        for _, r in per_query.iterrows():
            outcomes[r["query"]] = outcome(r, k)
            ranks[r["query"]] = r["rank"]
    out["outcome"] = [outcomes.get(i, NOT_A_QUERY) for i in out["image"]]
    out["rank"] = pd.array([ranks.get(i) for i in out["image"]], dtype="Float64").astype("Int64")
    cur = state.set_index("image") if len(state) else None

    def column(name: str) -> list[str]:
        if cur is None:
            return [""] * len(out)
        return [_joined(cur.at[i, name]) if i in cur.index else "" for i in out["image"]]

    out["bucket"], out["tags"], out["flags"] = (
        column("bucket"),
        column("artifacts"),
        column("flags"),
    )
    notes = column("note")
    out["reviewed"] = [
        bool(b or a or f or n)
        for b, a, f, n in zip(out["bucket"], out["tags"], out["flags"], notes, strict=True)
    ]
    out["truth"] = [_joined(v) for v in t["artifacts"]] if "artifacts" in t.columns else ""
    if detections is None:
        out["detected"] = pd.NA
    else:
        out["detected"] = [_joined(detections.get(i, "")) for i in out["image"]]
    return out


def _split(value: str) -> set[str]:
    return {a for a in value.split(";") if a}


def filter_photos(
    table: pd.DataFrame,
    *,
    split: Iterable[str] = (),
    post: Iterable[str] = (),
    outcome: Iterable[str] = (),
    bucket: Iterable[str] = (),
    artifact: Iterable[str] = (),
    detection: Iterable[str] = (),
    reviewed: Iterable[str] = (),
) -> pd.DataFrame:
    """The rows of :func:`photo_table` that pass every non-empty filter (an empty one keeps
    all), in order, index renumbered. ``bucket``: :data:`NO_BUCKET` for undecided;
    ``artifact``: store tags, ``gt:NAME`` for a ground-truth artifact, :data:`NONE` for a photo
    with neither (a row passes when it has any of them); ``detection``: detected artifacts or
    :data:`NONE`; ``reviewed``: entries of :data:`REVIEWED`."""
    keep = pd.Series(True, index=table.index)
    split, post, outcome, bucket = set(split), set(post), set(outcome), set(bucket)
    artifact, detection, reviewed = set(artifact), set(detection), set(reviewed)
    if split:
        keep &= table["split"].isin(split)
    if post:
        keep &= table["post_id"].isin(post)
    if outcome:
        keep &= table["outcome"].isin(outcome)
    if bucket:
        keep &= table["bucket"].isin({"" if b == NO_BUCKET else b for b in bucket})
    if artifact:
        tags = {a for a in artifact if not a.startswith(GT) and a != NONE}
        truth = {a[len(GT) :] for a in artifact if a.startswith(GT)}
        keep &= np.array([
            bool(_split(t) & tags or _split(g) & truth or (NONE in artifact and not t and not g))
            for t, g in zip(table["tags"], table["truth"], strict=True)
        ], dtype=bool)  # fmt: skip
    if detection:
        found = [_joined(d) for d in table["detected"]]
        keep &= np.array(
            [bool(_split(d) & detection or (NONE in detection and not d)) for d in found], bool
        )
    if reviewed and reviewed != set(REVIEWED):
        keep &= table["reviewed"] if "reviewed" in reviewed else ~table["reviewed"]
    return table[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def artifact_options(table: pd.DataFrame, vocabulary: Sequence[str]) -> list[str]:
    """The artifact filter's entries: the store's vocabulary and any other tag in use, then
    ``gt:NAME`` for each ground-truth artifact, then :data:`NONE`."""
    used = sorted({a for v in table["tags"] for a in _split(v)} - set(vocabulary))
    truth = sorted({a for v in table["truth"] for a in _split(_joined(v))})
    return [*vocabulary, *used, *(GT + a for a in truth), NONE]


def option_label(value: str) -> str:
    """How a filter entry reads: ``gt:tongue`` → ``tongue (ground truth)``."""
    return f"{value[len(GT) :]} (ground truth)" if value.startswith(GT) else value


def detection_options(table: pd.DataFrame) -> list[str]:
    """Detected artifacts in the table, sorted, then :data:`NONE` (empty without detections)."""
    if table["detected"].isna().all():
        return []
    return [*sorted({a for v in table["detected"] for a in _split(_joined(v))}), NONE]


def filter_choices(table: pd.DataFrame, vocabulary: Sequence[str]) -> dict[str, list[str]]:
    """Every filter's allowed entries for ``table`` (the names of :data:`LIST_PARAMS`)."""
    return {
        "split": [s for s in SPLITS if s in set(table["split"])],
        "post": sorted(set(table["post_id"]), key=lambda p: (len(p), p)),
        "outcome": list(OUTCOME_CHOICES),
        "bucket": [*BUCKETS, NO_BUCKET],
        "artifact": artifact_options(table, vocabulary),
        "detection": detection_options(table),
        "reviewed": list(REVIEWED),
    }


def filters_from_url(
    params: Mapping[str, Sequence[str]], choices: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], list[str]]:
    """The filters named in URL query ``params`` (each a list of values; a value may also hold
    several entries separated by commas), kept to the allowed ``choices``; and a message per
    value that was dropped because no such entry exists (so a stale link says what it lost)."""
    filters, dropped = {}, []
    for name in LIST_PARAMS:
        values = [v.strip() for raw in params.get(name, ()) for v in str(raw).split(",")]
        values = [v for v in values if v]
        allowed = set(choices.get(name, ()))
        filters[name] = [v for v in dict.fromkeys(values) if v in allowed]
        dropped += [f"{name}={v}" for v in values if v not in allowed]
    return filters, dropped


def filters_to_url(filters: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """URL query parameters of ``filters``: each non-empty filter as one comma-joined value."""
    return {n: ",".join(filters[n]) for n in LIST_PARAMS if filters.get(n)}


def page_count(n: int, per_page: int) -> int:
    """Pages of ``per_page`` tiles for ``n`` rows (at least 1)."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    return max(1, math.ceil(n / per_page))


def page_rows(table: pd.DataFrame, page: int, per_page: int) -> pd.DataFrame:
    """Rows of 1-based ``page`` (clamped to the pages there are)."""
    page = min(max(1, int(page)), page_count(len(table), per_page))
    return table.iloc[(page - 1) * per_page : page * per_page]


def stored_detections(found: pd.DataFrame) -> pd.Series:
    """Detected artifacts per image (as :func:`read_detections`) from the tag store's machine
    tags (:meth:`curation.store.TagStore.detections`): results at or above their detector's
    threshold that no annotator rejected."""
    if found.empty:
        return pd.Series(dtype=object, name="artifact")
    hit = found[found["detected"].astype(bool) & (found["review"] != "rejected")]
    return hit.groupby("image")["artifact"].agg(lambda a: ";".join(sorted(set(a))))


def read_detections(path: str | Path) -> pd.Series:
    """Detected artifacts per image (``;``-joined, sorted; images without any detection are
    absent) from a ``workbench detect --out`` CSV (columns ``image``, ``artifact``,
    ``detected``). ValueError naming the file for a file too large, unreadable or without
    those columns."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_DETECTIONS_BYTES:
        raise ValueError(
            f"{path} is {size / 2**20:.0f} MB; a detections file may be at most "
            f"{MAX_DETECTIONS_BYTES // 2**20} MB (run `workbench detect` on a smaller dataset)"
        )
    try:
        df = pd.read_csv(path, usecols=lambda c: c in DETECTION_COLUMNS, dtype=str)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path} is not a readable CSV ({exc}); write it again with "
                         "`workbench detect --out`") from exc  # fmt: skip
    missing = [c for c in DETECTION_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(missing)}: not a detections file; write one "
            "with `workbench detect --data DIR --out detections.csv`"
        )
    hit = df[df["detected"].str.strip().str.lower().isin({"true", "1", "yes"})]
    return hit.groupby("image")["artifact"].agg(lambda a: ";".join(sorted(set(a))))


def selected_images(selection: Mapping | None) -> list[str]:
    """The images of the points a plotly selection holds (``points[i]["customdata"][0]``, as
    the map plots them), in selection order, each once; [] when nothing is selected."""
    if not selection:
        return []
    out = []
    for point in selection.get("points", ()):
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and data and isinstance(data[0], str):
            out.append(data[0])
        elif isinstance(data, str):
            out.append(data)
    return list(dict.fromkeys(out))


def bulk_changes(
    state: pd.DataFrame,
    images: Sequence[str],
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    flags: Iterable[str] = (),
) -> list[dict]:
    """What a bulk tag writes, per image whose sets change: ``image``, ``artifacts`` (its
    current tags + ``add`` − ``remove``, sorted) with the ``regions`` of the tags it keeps, and
    ``flags`` (its current flags + ``flags``, sorted) or None when they stay as they are."""
    add, remove, flags = set(add), set(remove), set(flags)
    both = add & remove
    if both:
        raise ValueError(f"{', '.join(sorted(both))}: both added and removed; choose one")
    cur = state.set_index("image") if len(state) else None
    out = []
    for img in dict.fromkeys(images):
        row = cur.loc[img] if cur is not None and img in cur.index else None
        have = _split(_joined(row["artifacts"])) if row is not None else set()
        had_flags = _split(_joined(row["flags"])) if row is not None else set()
        regions = list(row["regions"] or []) if row is not None else []
        tags = (have | add) - remove
        new_flags = had_flags | flags
        change = {"image": img, "artifacts": None, "regions": None, "flags": None}
        if tags != have:
            change["artifacts"] = sorted(tags)
            change["regions"] = [r for r in regions if r.get("artifact") in tags]
        if new_flags != had_flags:
            change["flags"] = sorted(new_flags)
        if change["artifacts"] is not None or change["flags"] is not None:
            out.append(change)
    return out


def cached_maps(
    cache: HeatmapCache, models: Sequence, image_sha1: str, method: str = "gradcam"
) -> list[Heatmap | None]:
    """Per checkpoint of ``models`` (loaded models: ``sha1``, ``model``, ``input_size``), the
    map of the photo's similarity to itself with the method's default parameters when it is
    in the cache, else None. Reads only; computes nothing."""
    out = []
    for m in models:
        key = heatmap_key(m.sha1, image_sha1, method, {}, "self", m.input_size, model=m.model)
        out.append(cache.get(key))
    return out
