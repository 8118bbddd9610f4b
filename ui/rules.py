"""The Curate page's controls, drawn from the rule catalog (:mod:`curation.rules.catalog`):
one switch per rule, one widget per declared parameter, chosen by the parameter's kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from curation.rules.catalog import CATALOG, Param, Rule

# what a choice means, for people (the catalog's values stay the command line's)
CHOICE_LABELS = {
    "raise": "stop and list them",
    "ignore": "leave them out",
    "tags": "annotators' tags",
    "manifest": "the manifest's artifacts column",
    "both": "tags and manifest",
    "post": "the whole post",
    "image": "that photo only",
    "exact": "exact copies",
    "near": "near copies",
}


def title(text: str) -> str:
    """A rule's or parameter's words as a label: ``homogeneous_artifact`` -> "Homogeneous
    artifact", "share of the post's photos (0..1)" -> "Share of the post's photos (0..1)"."""
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]


def shown(value: Any) -> str:
    """How a choice reads on screen (:data:`CHOICE_LABELS`, else the value with spaces)."""
    return CHOICE_LABELS.get(value, str(value).replace("_", " ").replace("-", " "))


def help_for(rule: Rule, param: Param) -> str:
    """A parameter's help: what it is, and its name on the command line."""
    return (
        f"{title(param.label)}. Command line: `workbench export --rule {rule.name}:{param.name}=…`"
    )


def _default(param: Param, ground_truth: bool) -> Any:
    if ground_truth and param.truth_default is not None:
        return param.truth_default
    return param.default


def _toggle(param: Param, default: Any, key: str, options: tuple, hint: str) -> bool:
    return st.toggle(title(param.label), value=default, key=key, help=hint)


def _int(param: Param, default: Any, key: str, options: tuple, hint: str) -> int:
    return int(st.number_input(title(param.label), value=default, step=1, key=key, help=hint))


def _float(param: Param, default: Any, key: str, options: tuple, hint: str) -> float:
    step = 0.05 if default <= 1 else 1.0
    return float(st.number_input(title(param.label), value=default, step=step, key=key, help=hint))


def _choice(param: Param, default: Any, key: str, options: tuple, hint: str) -> Any:
    return st.selectbox(
        title(param.label), options, index=options.index(default), key=key, help=hint,
        format_func=shown,
    )  # fmt: skip


def _multi(param: Param, default: Any, key: str, options: tuple, hint: str) -> tuple | None:
    chosen = st.multiselect(
        title(param.label), options, default=[d for d in (default or ()) if d in options],
        key=key, placeholder="all" if default is None else "none", help=hint, format_func=shown,
    )  # fmt: skip
    return tuple(chosen) if chosen or default is not None else None


WIDGETS: dict[str, Callable[[Param, Any, str, tuple, str], Any]] = {
    "bool": _toggle,
    "int": _int,
    "float": _float,
    "choice": _choice,
    "multi": _multi,
}


def parameter(rule: Rule, param: Param, *, ground_truth: bool, values: Mapping[str, tuple]) -> Any:
    """The widget of one parameter; its value. ``values``: the data-dependent value sets a
    parameter may name as its choices (artifact tags, annotators)."""
    options = param.choices if isinstance(param.choices, tuple) else values.get(param.choices, ())
    default = _default(param, ground_truth)
    key = f"curate.{rule.name}.{param.name}"
    return WIDGETS[param.kind](param, default, key, tuple(options), help_for(rule, param))


def rule_controls(*, ground_truth: bool, values: Mapping[str, tuple]) -> list[tuple[str, dict]]:
    """One column per catalog rule: a switch, its description and, when on, its parameters;
    the (rule name, parameters) of every rule switched on, in catalog order."""
    specs = []
    for col, rule in zip(st.columns(len(CATALOG)), CATALOG, strict=True):
        with col:
            on = st.toggle(
                title(rule.name), value=rule.on_by_default, key=f"curate.{rule.name}",
                help=f"Command line: `workbench export --rule {rule.name}`",
            )  # fmt: skip
            st.caption(rule.description)
            if on:
                params = {
                    p.name: parameter(rule, p, ground_truth=ground_truth, values=values)
                    for p in rule.params
                }
                specs.append((rule.name, params))
    return specs
