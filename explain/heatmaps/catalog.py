"""The heatmap-method catalog: every method, its parameters and defaults, read by everyone.

A method module in :mod:`explain.heatmaps.methods` declares itself with :func:`register`; the
catalog imports every module of that package (``pkgutil``) the first time it is asked, so the
registry, the command line (choices and help), the pages (method lists), the checks and the batch
precompute all list the same methods. What the catalog knows of a method (:class:`MethodSpec`):

- its name, module and one-line summary (the first line of the function's docstring);
- its parameters and their defaults, read from the function's signature (after
  ``model, x, target``), and which of them only affect execution (``batch_size``, ``engine``,
  ``progress`` ...: how fast a map is made, never what it shows);
- ``reference``: a baseline that explains nothing (RandomCAM), which checks compare against;
- ``slow``: a perturbation method (hundreds of forwards per map), left out of default lists.

Two functions turn options into parameters, the same way for every caller:

- :func:`method_params`: the settings a method takes, out of the options a command or a page
  offers (``layer``, ``window``, ``stride``, ``baseline``, ``colour`` ...), None meaning "the
  method's default";
- :func:`canonical_params`: what a map depends on, and nothing else: defaults filled in,
  execution-only options removed, ``layer=None`` replaced by the architecture's default layer
  (so ``layer=None`` and ``layer="conv5"`` are one cache key on OSNet), then the method's own
  canonical form (occlusion: window and stride as ``[h, w]``, the colour only for the ``mean``
  baseline). A cache key is made of these (:func:`explain.heatmaps.cache.heatmap_key`), and they
  equal the ``params`` a method reports in its :class:`~explain.heatmaps.base.Heatmap`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from explain.heatmaps.base import Heatmap, check_heatmap, input_shape
from explain.heatmaps.layers import default_layer as layer_of
from explain.heatmaps.targets import as_target
from explain.models.engine import APPROXIMATE_ENGINES

METHODS_PACKAGE = "explain.heatmaps.methods"
Method = Callable[..., Heatmap]
Canonical = Callable[[dict[str, Any]], dict[str, Any]]
METHODS: dict[str, Method] = {}  # name -> the method wrapped in the contract check
SPECS: dict[str, MethodSpec] = {}
_DISCOVERED = False


@dataclass(frozen=True)
class Parameter:
    """One keyword parameter of a method: ``default`` from its signature; ``execution_only``
    when it changes how a map is computed (speed, progress), never the map."""

    name: str
    default: Any
    execution_only: bool = False


@dataclass(frozen=True)
class MethodSpec:
    """What the catalog knows about one method (see the module docstring)."""

    name: str
    module: str
    summary: str
    parameters: tuple[Parameter, ...]
    reference: bool = False
    slow: bool = False
    canonical: Canonical | None = None

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def defaults(self) -> dict[str, Any]:
        """Default of every parameter that decides the map (execution-only ones left out)."""
        return {p.name: p.default for p in self.parameters if not p.execution_only}

    @property
    def execution_only(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters if p.execution_only)


def _spec(
    name: str,
    fn: Method,
    execution_only: Sequence[str],
    reference: bool,
    slow: bool,
    canonical: Canonical | None,
) -> MethodSpec:
    sig = list(inspect.signature(fn).parameters.values())
    if len(sig) < 3:
        raise ValueError(
            f"heatmap method {name!r} must take (model, x, target, **params), "
            f"not ({', '.join(p.name for p in sig)})"
        )
    params = []
    for p in sig[3:]:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
            continue
        if p.default is p.empty:
            raise ValueError(f"heatmap method {name!r}: parameter {p.name!r} needs a default")
        params.append(Parameter(p.name, p.default, p.name in execution_only))
    unknown = set(execution_only) - {p.name for p in params}
    if unknown:
        raise ValueError(f"heatmap method {name!r} has no parameter(s) {sorted(unknown)}")
    doc = inspect.getdoc(fn) or ""
    return MethodSpec(
        name=name,
        module=fn.__module__,
        summary=doc.split("\n\n")[0].replace("\n", " ").strip(),
        parameters=tuple(params),
        reference=reference,
        slow=slow,
        canonical=canonical,
    )


def _guarded(name: str, fn: Method) -> Method:
    @functools.wraps(fn)
    def method(model: nn.Module, x, target: object, **params) -> Heatmap:
        return check_heatmap(name, fn(model, x, target, **params), input_shape(x))

    return method


def register(
    name: str,
    *,
    execution_only: Sequence[str] = (),
    reference: bool = False,
    slow: bool = False,
    canonical: Canonical | None = None,
) -> Callable[[Method], Method]:
    """Decorator adding a method to the catalog under ``name``; it returns the method wrapped in
    :func:`~explain.heatmaps.base.check_heatmap` (``__wrapped__`` is the undecorated function).

    ``execution_only``: parameter names that never change the map; ``reference``: a baseline
    that explains nothing; ``slow``: hundreds of forwards per map; ``canonical``: the method's
    own canonical form of its (defaults-filled) parameters, see :func:`canonical_params`.
    """

    def deco(fn: Method) -> Method:
        existing = METHODS.get(name)
        if existing is not None:
            if getattr(existing, "__wrapped__", None) is not fn:
                raise ValueError(f"heatmap method {name!r} is registered twice")
            return existing
        spec = _spec(name, fn, execution_only, reference, slow, canonical)
        METHODS[name] = _guarded(name, fn)
        SPECS[name] = spec
        return METHODS[name]

    return deco


def unregister(name: str) -> None:
    """Remove a method registered at run time (e.g. a test's); KeyError when unknown."""
    del METHODS[name]
    del SPECS[name]


def discover() -> None:
    """Import every method module of :mod:`explain.heatmaps.methods` once (names starting with
    ``_`` are helpers and skipped)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module(METHODS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{METHODS_PACKAGE}.{info.name}")
    _DISCOVERED = True


def specs() -> list[MethodSpec]:
    """Every method's :class:`MethodSpec`, sorted by name."""
    discover()
    return [SPECS[n] for n in sorted(SPECS)]


def names(*, reference: bool | None = None, slow: bool | None = None) -> list[str]:
    """Method names, sorted; ``reference`` / ``slow`` True or False keep only the methods that
    are (or are not) a baseline / slow, None keeps both."""
    return [
        s.name
        for s in specs()
        if (reference is None or s.reference == reference) and (slow is None or s.slow == slow)
    ]


def reference_method() -> str:
    """The name of the one method registered with ``reference=True`` (RandomCAM): the baseline
    faithfulness checks compare every method against."""
    found = names(reference=True)
    if len(found) != 1:
        raise ValueError(
            f"the catalog needs exactly one reference method, found {found or 'none'}; "
            "register one baseline with reference=True"
        )
    return found[0]


def available() -> list[str]:
    """Registered method names, sorted."""
    return names()


def spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``name``; ValueError listing the names otherwise."""
    discover()
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(
            f"unknown heatmap method {name!r}; choose one of {', '.join(sorted(SPECS))}"
        ) from None


def get_method(name: str) -> Method:
    """The method registered under ``name``; ValueError listing the names otherwise."""
    spec(name)
    return METHODS[name]


def compute(name: str, model: nn.Module, x, target: object, **params) -> Heatmap:
    """Run method ``name`` on one image: ``(model, x, target) -> Heatmap``."""
    return get_method(name)(model, x, as_target(target), **params)


# --------------------------------------------------------------------------- parameters


def method_params(method: str, **settings: Any) -> dict[str, Any]:
    """The parameters of ``method`` among ``settings`` (the options a command or page offers to
    every method at once: ``layer``, ``window``, ``stride``, ``baseline``, ``colour`` ...).

    Settings the method does not take are left out, and so are None values (the method's
    default applies), so one set of options serves every method.
    """
    s = spec(method)
    return {k: v for k, v in settings.items() if v is not None and s.parameter(k) is not None}


def check_params(method: str, params: Mapping[str, Any]) -> None:
    """ValueError naming the parameters ``method`` does not take, and the ones it does."""
    s = spec(method)
    unknown = sorted(k for k in params if s.parameter(k) is None)
    if unknown:
        takes = ", ".join(p.name for p in s.parameters) or "no parameters"
        raise ValueError(f"heatmap method {method!r} takes {takes}; not {', '.join(unknown)}")


def split_params(method: str, params: Mapping[str, Any]) -> tuple[dict, dict]:
    """``(what decides the map, execution-only options)`` of ``params``, as given."""
    check_params(method, params)
    only = set(spec(method).execution_only)
    return (
        {k: v for k, v in params.items() if k not in only},
        {k: v for k, v in params.items() if k in only},
    )


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists); ValueError for anything else."""
    if isinstance(value, tuple | list):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(
        f"parameter value {value!r} ({type(value).__name__}) cannot be part of a cache key; "
        "use numbers, strings, lists or None"
    )


def canonical_params(
    method: str,
    params: Mapping[str, Any],
    *,
    model: nn.Module | None = None,
    default_layer: str | None = None,
) -> dict[str, Any]:
    """What a map of ``method`` depends on: ``params`` with the defaults filled in, the
    execution-only options removed, ``layer=None`` replaced by the architecture's default layer
    (``default_layer``, else :func:`explain.heatmaps.layers.default_layer` of ``model``), then
    the method's own canonical form, plus ``approximate`` naming an approximate engine (bf16).
    JSON data, equal to the ``params`` of the Heatmap the method returns for these parameters."""
    s = spec(method)
    check_params(method, params)
    values = {**s.defaults, **{k: v for k, v in params.items() if k in s.defaults}}
    if "layer" in values and values["layer"] is None:
        if default_layer is None and model is not None:
            default_layer = layer_of(model)
        if default_layer is None:
            raise ValueError(
                f"the canonical parameters of {method!r} need the target layer: pass layer=, "
                "or the model (or its default layer) so layer=None can be resolved"
            )
        values["layer"] = default_layer
    if s.canonical is not None:
        values = s.canonical(values)
    if params.get("engine") in APPROXIMATE_ENGINES:  # another map: never shares the exact one's key
        values["approximate"] = params["engine"]
    return jsonable(values)
