"""Run several rules on a dataset: parse the ``--rules`` syntax, feed each rule its inputs.

Syntax: rules separated by commas; parameters after the name, each introduced by ``:``; list
values joined by ``+``::

    homogeneous_artifact:threshold=0.8,duplicates
    homogeneous_artifact:source=manifest:threshold=1:artifacts=tongue+hands
    exclude_by_tags:buckets=spurious:splits=train+query,quality_flags:blur=20

Inputs each rule reads (besides the manifest):

``homogeneous_artifact``  artifact tags; ``source=tags`` (the store, default), ``manifest`` (the
                          ground-truth ``artifacts`` column) or ``both`` (union per photo)
``duplicates``            the duplicate table (``workbench duplicates`` output)
``one_animal_per_post``   the store's post flags (and image flags unless ``images=false``)
``exclude_by_tags``       the store's current tags (and post flags unless ``posts=false``)
``quality_flags``         pixel measures, computed from the image files when not given
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curation.rules.base import REMOVAL_COLUMNS, removal_frame, tag_set
from curation.rules.decisions import exclude_by_tags, one_animal_per_post
from curation.rules.duplicates import duplicates
from curation.rules.homogeneous import homogeneous_artifact
from curation.rules.quality import quality_flags

RULES: dict[str, Callable[..., pd.DataFrame]] = {
    "homogeneous_artifact": homogeneous_artifact,
    "duplicates": duplicates,
    "one_animal_per_post": one_animal_per_post,
    "exclude_by_tags": exclude_by_tags,
    "quality_flags": quality_flags,
}
# parameters handled here rather than by the rule function: name -> default
_EXTRA: dict[str, dict[str, Any]] = {
    "homogeneous_artifact": {"source": "tags"},
    "one_animal_per_post": {"images": True},
    "exclude_by_tags": {"posts": True},
}
_INPUTS = {"table", "tags", "dup_pairs", "post_flags", "image_flags", "quality"}


@dataclass(frozen=True)
class RuleSpec:
    """One rule to run and the parameters given for it."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def effective(self) -> dict[str, Any]:
        """The parameters with every default filled in (for provenance)."""
        out = {**parameters(self.name), **self.params}
        return {k: list(v) if isinstance(v, tuple | set | frozenset) else v for k, v in out.items()}


def parameters(name: str) -> dict[str, Any]:
    """Tunable parameters of rule ``name`` and their defaults."""
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; available: {', '.join(RULES)}")
    sig = inspect.signature(RULES[name])
    out = {
        p.name: p.default
        for p in sig.parameters.values()
        if p.name not in _INPUTS and p.default is not inspect.Parameter.empty
    }
    return {**out, **_EXTRA.get(name, {})}


def parse_rules(rules: str | Iterable[str | RuleSpec | tuple[str, Mapping]]) -> list[RuleSpec]:
    """Read rules from the command-line syntax (see the module docstring) or from a list.

    List items may be strings in the same syntax, :class:`RuleSpec`, or ``(name, params)``.
    String values are converted to the type of the parameter's default.
    """
    if isinstance(rules, str):
        items: list = [r for r in rules.split(",") if r.strip()]
    else:
        items = list(rules)
    specs = []
    for item in items:
        if isinstance(item, RuleSpec):
            spec = item
        elif isinstance(item, tuple):
            spec = RuleSpec(item[0], dict(item[1]))
        else:
            name, *pairs = [p.strip() for p in str(item).split(":")]
            params = {}
            for pair in pairs:
                key, sep, value = pair.partition("=")
                if not sep or not key.strip():
                    raise ValueError(
                        f"rule {name}: parameter {pair!r} must be key=value, "
                        "e.g. homogeneous_artifact:threshold=0.8"
                    )
                params[key.strip()] = value.strip()
            spec = RuleSpec(name, params)
        specs.append(RuleSpec(spec.name, _coerce(spec.name, spec.params)))
    if not specs:
        raise ValueError(f"no rules given; choose from {', '.join(RULES)}")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"rule(s) {', '.join(dup)} given twice; give each rule once")
    return specs


def _coerce(name: str, params: Mapping[str, Any]) -> dict[str, Any]:
    defaults = parameters(name)
    out = {}
    for key, value in params.items():
        if key not in defaults:
            raise ValueError(
                f"rule {name}: unknown parameter {key!r}; it takes {', '.join(defaults)}"
            )
        out[key] = _convert(name, key, value, defaults[key]) if isinstance(value, str) else value
    return out


def _convert(name: str, key: str, value: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if default is None or isinstance(default, tuple | list):
            return tuple(v.strip() for v in value.split("+") if v.strip())
        return value
    except ValueError as exc:
        kind = type(default).__name__ if default is not None else "list"
        raise ValueError(f"rule {name}: {key}={value!r} is not a valid {kind}") from exc


def apply_rules(
    dataset,
    rules: str | Iterable,
    *,
    tags: pd.DataFrame | None = None,
    post_flags: pd.DataFrame | None = None,
    duplicate_groups: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``rules`` on ``dataset``; return ``(kept table, removals)``.

    ``tags``/``post_flags``: the store's :meth:`~TagStore.current` and
    :meth:`~TagStore.post_flags`. ``duplicate_groups``: the duplicate table. ``quality``: pixel
    measures (computed from the files when a quality rule runs without them; ``progress`` is
    passed on). The kept table is the manifest minus every removed image, in manifest order;
    removals hold one row per (image, rule, cause), so an image removed twice appears twice.
    """
    table = dataset.table
    parts = []
    for spec in parse_rules(rules):
        params = dict(spec.params)
        if spec.name == "homogeneous_artifact":
            source = params.pop("source", "tags")
            parts.append(homogeneous_artifact(table, _artifact_tags(table, tags, source), **params))
        elif spec.name == "duplicates":
            if duplicate_groups is None:
                raise ValueError(
                    "rule duplicates needs the duplicate table; run `workbench duplicates` and "
                    "pass its CSV with --duplicates"
                )
            parts.append(duplicates(duplicate_groups, table, **params))
        elif spec.name == "one_animal_per_post":
            _need(post_flags, "one_animal_per_post", "post flags")
            images = tags if params.pop("images", True) else None
            parts.append(one_animal_per_post(table, post_flags, image_flags=images, **params))
        elif spec.name == "exclude_by_tags":
            _need(tags, "exclude_by_tags", "tags")
            pf = post_flags if params.pop("posts", True) else None
            parts.append(exclude_by_tags(table, tags, post_flags=pf, **params))
        else:
            if quality is None:
                from curation.quality import measure_images

                splits = params.get("splits", ("train",))
                images = table.loc[table["split"].isin(list(splits)), "image"]
                quality = measure_images(dataset, images, progress=progress)
            parts.append(quality_flags(table, quality, **params))
    removals = removal_frame(pd.concat(parts).to_dict("records") if parts else [])
    kept = table[~table["image"].isin(set(removals["image"]))].reset_index(drop=True)
    return kept, removals[list(REMOVAL_COLUMNS)]


def _need(value, rule: str, what: str) -> None:
    if value is None:
        raise ValueError(f"rule {rule} needs the store's {what}; pass the tag store (--store)")


def _artifact_tags(table: pd.DataFrame, tags: pd.DataFrame | None, source: str) -> pd.DataFrame:
    if source not in ("tags", "manifest", "both"):
        raise ValueError(
            f"homogeneous_artifact: source must be tags, manifest or both, not {source!r}"
        )
    if source in ("manifest", "both") and "artifacts" not in table.columns:
        raise ValueError(
            "homogeneous_artifact:source=manifest needs the manifest's ground-truth 'artifacts' "
            "column; this dataset has none, use the store's tags (source=tags)"
        )
    if source in ("tags", "both") and tags is None:
        raise ValueError(
            "homogeneous_artifact reads the store's artifact tags; pass the tag store (--store), "
            "or use homogeneous_artifact:source=manifest for the manifest's ground truth"
        )
    if source == "manifest":
        return table[["image", "artifacts"]]
    if source == "tags":
        return tags[["image", "artifacts"]]
    merged: dict[str, frozenset[str]] = {}
    for frame in (table[["image", "artifacts"]], tags[["image", "artifacts"]]):
        for image, value in zip(frame["image"], frame["artifacts"], strict=True):
            merged[image] = merged.get(image, frozenset()) | tag_set(value)
    return pd.DataFrame(
        {"image": list(merged), "artifacts": [";".join(sorted(v)) for v in merged.values()]}
    )


def describe(specs: Sequence[RuleSpec]) -> list[dict[str, Any]]:
    """Rules with their effective parameters, JSON-ready (for provenance)."""
    return [{"name": s.name, "params": s.effective()} for s in specs]
