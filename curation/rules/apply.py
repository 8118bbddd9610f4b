"""Run several rules on a dataset: parse the ``--rules`` syntax, feed each rule its inputs.

Syntax: rules separated by commas; parameters after the name, each introduced by ``:``; list
values joined by ``+``::

    homogeneous_artifact:threshold=0.8,duplicates
    homogeneous_artifact:source=detected:min_score=0.7:artifacts=tongue+hands
    exclude_by_tags:buckets=spurious:splits=train+query,quality_flags:blur=20

What each rule reads and its parameters are declared in :mod:`curation.rules.catalog`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from curation.rules.base import REMOVAL_COLUMNS, removal_frame
from curation.rules.catalog import MISSING, RULES, RuleInputs, rule
from curation.vocabulary import SPLITS


class SplitWarning(UserWarning):
    """A rule removes query or gallery photos (the evaluation set changes)."""


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
    """Tunable parameters of rule ``name`` and their defaults (from its catalog record)."""
    return rule(name).defaults()


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
    kind = next(p.kind for p in rule(name).params if p.name == key)
    try:
        if kind == "bool":
            low = value.lower()
            if low not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return low in ("true", "1", "yes")
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "multi":
            return tuple(v.strip() for v in value.split("+") if v.strip())
        return value
    except ValueError as exc:
        shown = {"multi": "list", "choice": "str"}.get(kind, kind)
        raise ValueError(f"rule {name}: {key}={value!r} is not a valid {shown}") from exc


def apply_rules(
    dataset,
    rules: str | Iterable,
    *,
    tags: pd.DataFrame | None = None,
    detections: pd.DataFrame | None = None,
    post_flags: pd.DataFrame | None = None,
    duplicate_groups: pd.DataFrame | None = None,
    quality: pd.DataFrame | None = None,
    progress: Callable[[int, int], None] | None = None,
    shortcuts: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run ``rules`` on ``dataset``; return ``(kept table, removals)``.

    ``tags``/``detections``/``post_flags``: the store's :meth:`~TagStore.current`,
    :meth:`~TagStore.detections` and :meth:`~TagStore.post_flags`. ``duplicate_groups``: the
    duplicate table. ``quality``: pixel measures (computed from the files when a quality rule
    runs without them; ``progress`` is passed on). ``shortcuts``: the post shortcut scores
    (``workbench shortcuts`` posts.csv). A :class:`SplitWarning` is issued for every rule that
    removes query or gallery photos (they change what the evaluation measures);
    :func:`removed_per_split` counts what each rule removed per split, and
    :func:`curation.coverage.rule_notes` says which rules look only at splits the dataset lacks
    (a gallery-only dataset needs ``splits=gallery``). The kept table is the manifest minus
    every removed image, in manifest order; removals hold one row per (image, rule, cause), so
    an image removed twice appears twice.
    """
    inputs = RuleInputs(
        dataset, tags=tags, detections=detections, post_flags=post_flags,
        duplicates=duplicate_groups, quality=quality, progress=progress, shortcuts=shortcuts,
    )  # fmt: skip
    parts = []
    for spec in parse_rules(rules):
        record = rule(spec.name)
        params = {**record.defaults(), **spec.params}
        for need in record.needs:
            if getattr(inputs, need) is None:
                raise ValueError(MISSING[need].format(rule=spec.name))
        part = record.run(inputs, dict(params))
        _warn_evaluation_splits(spec.name, part)
        parts.append(part)
    removals = removal_frame(pd.concat(parts).to_dict("records") if parts else [])
    table = dataset.table
    kept = table[~table["image"].isin(set(removals["image"]))].reset_index(drop=True)
    return kept, removals[list(REMOVAL_COLUMNS)]


def _warn_evaluation_splits(name: str, part: pd.DataFrame) -> None:
    counts = part.drop_duplicates("image")["split"].value_counts()
    hit = [f"{int(counts[s])} {s}" for s in ("query", "gallery") if s in counts]
    if hit:
        warnings.warn(
            f"rule {name} removes {' and '.join(hit)} photo(s): the evaluation then measures "
            "another set than before (metrics are not comparable with earlier runs)",
            SplitWarning,
            stacklevel=3,
        )


def removed_per_split(removals: pd.DataFrame) -> pd.DataFrame:
    """Photos removed per rule and split: ``rule``, then one column per split (counts of
    distinct images), one row per rule that removed something, sorted by rule."""
    if removals.empty:
        return pd.DataFrame(columns=["rule", *SPLITS])
    counts = removals.drop_duplicates(["rule", "image"]).groupby(["rule", "split"]).size().unstack()
    counts = counts.reindex(columns=list(SPLITS)).fillna(0).astype(int)
    return counts.reset_index().rename_axis(columns=None)


def describe(specs: Sequence[RuleSpec]) -> list[dict[str, Any]]:
    """Rules with their effective parameters, JSON-ready (for provenance)."""
    return [{"name": s.name, "params": s.effective()} for s in specs]
