"""Package exports that import their module on first use.

Each subpackage of :mod:`explain` lists its public names by module; ``import explain.models`` stays
cheap (the command line imports only what a subcommand runs) and ``explain.models.load_series``
imports :mod:`explain.models.checkpoints` when it is first looked up.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` exporting, from each submodule named
    in ``modules``, the names listed for it (``{"cache": ("DiskCache", "make_key")}``)."""
    where = {name: module for module, names in modules.items() for name in names}

    def getattr_(name: str) -> object:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted({*where, *vars(sys.modules[package])})

    return sorted(where), getattr_, dir_
