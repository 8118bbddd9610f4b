"""The Curate page's controls, drawn from the rule catalog (:mod:`curation.rules.catalog`):
one switch per rule, one widget per declared parameter, chosen by the parameter's kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from curation.rules.catalog import CATALOG, Param, Rule


def _default(param: Param, ground_truth: bool) -> Any:
    if ground_truth and param.truth_default is not None:
        return param.truth_default
    return param.default


def _toggle(param: Param, default: Any, key: str, options: tuple) -> bool:
    return st.toggle(param.name, value=default, key=key, help=param.label)


def _int(param: Param, default: Any, key: str, options: tuple) -> int:
    return int(st.number_input(param.name, value=default, step=1, key=key, help=param.label))


def _float(param: Param, default: Any, key: str, options: tuple) -> float:
    step = 0.05 if default <= 1 else 1.0
    return float(st.number_input(param.name, value=default, step=step, key=key, help=param.label))


def _choice(param: Param, default: Any, key: str, options: tuple) -> Any:
    return st.selectbox(
        param.name, options, index=options.index(default), key=key, help=param.label
    )


def _multi(param: Param, default: Any, key: str, options: tuple) -> tuple | None:
    chosen = st.multiselect(
        param.name, options, default=[d for d in (default or ()) if d in options], key=key,
        placeholder="all" if default is None else "none", help=param.label,
    )  # fmt: skip
    return tuple(chosen) if chosen or default is not None else None


WIDGETS: dict[str, Callable[[Param, Any, str, tuple], Any]] = {
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
    return WIDGETS[param.kind](param, default, f"curate.{rule.name}.{param.name}", tuple(options))


def rule_controls(*, ground_truth: bool, values: Mapping[str, tuple]) -> list[tuple[str, dict]]:
    """One column per catalog rule: a switch, its description and, when on, its parameters;
    the (rule name, parameters) of every rule switched on, in catalog order."""
    specs = []
    for col, rule in zip(st.columns(len(CATALOG)), CATALOG, strict=True):
        with col:
            on = st.toggle(
                rule.name.replace("_", " "), value=rule.on_by_default, key=f"curate.{rule.name}"
            )
            st.caption(rule.description)
            if on:
                params = {
                    p.name: parameter(rule, p, ground_truth=ground_truth, values=values)
                    for p in rule.params
                }
                specs.append((rule.name, params))
    return specs
