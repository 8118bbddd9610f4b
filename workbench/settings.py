"""Where the workbench finds and keeps things, read once: defaults, then an optional
``workbench.toml`` in the workspace, then environment variables, then command-line flags.

========================  ========================  ===============================================
setting                   environment variable      default
========================  ========================  ===============================================
``workspace``             ``WORKBENCH_WORKSPACE``   ``<project>/workspace`` (jobs, exports, uploads)
``data``                  ``WORKBENCH_DATA``        ``<project>/sample_data/pets``
``checkpoints``           ``WORKBENCH_CHECKPOINTS`` ``<project>/sample_data/series/baseline``
``compare``               ``WORKBENCH_COMPARE``     ``<project>/sample_data/series/curated``
``store``                 ``WORKBENCH_STORE``       ``<workspace>/tags.sqlite`` (file or URL)
``cache``                 ``WORKBENCH_CACHE``       ``<project>/.workbench/cache``
``annotator``             ``WORKBENCH_ANNOTATOR``   "" (the app asks; the CLI uses the login name)
========================  ========================  ===============================================

``workbench.toml`` (in the workspace; the workspace itself comes from the environment) holds
any of these keys but ``workspace``, e.g. ``data = "datasets/pets"``; relative paths are taken
from the workspace folder. The CLI and the app read settings; the library (explain/,
curation/) never does: it takes explicit arguments.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
FILE_NAME = "workbench.toml"
ENV = {
    "workspace": "WORKBENCH_WORKSPACE",
    "data": "WORKBENCH_DATA",
    "checkpoints": "WORKBENCH_CHECKPOINTS",
    "compare": "WORKBENCH_COMPARE",
    "store": "WORKBENCH_STORE",
    "cache": "WORKBENCH_CACHE",
    "annotator": "WORKBENCH_ANNOTATOR",
}
PATHS = ("data", "checkpoints", "compare", "cache")  # taken from the workspace when relative


class SettingsError(ValueError):
    """A setting cannot be read; the message names the file or variable and the fix."""


@dataclass(frozen=True)
class Settings:
    """Every setting (paths as the user wrote them, made absolute where relative to the
    workspace file), and ``source``: where each came from (``default``, the toml file's path,
    the environment variable's name, or ``flag``)."""

    workspace: Path
    data: str
    checkpoints: str
    compare: str
    store: str
    cache: Path
    annotator: str
    source: dict[str, str] = field(default_factory=dict, compare=False)

    def configured(self, name: str) -> Any:
        """The setting when someone set it (file, environment or flag), else None."""
        return None if self.source.get(name, "default") == "default" else getattr(self, name)


def _defaults(workspace: Path) -> dict[str, Any]:
    return {
        "data": str(PROJECT / "sample_data" / "pets"),
        "checkpoints": str(PROJECT / "sample_data" / "series" / "baseline"),
        "compare": str(PROJECT / "sample_data" / "series" / "curated"),
        "store": str(workspace / "tags.sqlite"),
        "cache": str(PROJECT / ".workbench" / "cache"),
        "annotator": "",
    }


def read_file(path: Path) -> dict[str, str]:
    """The settings in a ``workbench.toml`` (empty when there is no such file); relative paths
    resolved against its folder. Raises SettingsError for a file that is not valid TOML, an
    unknown key, or a value that is not a string."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read as TOML ({exc}); fix or remove it") from exc
    allowed = [k for k in ENV if k != "workspace"]
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise SettingsError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; it may set {', '.join(allowed)} "
            f"(the workspace itself comes from {ENV['workspace']})"
        )
    out = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise SettingsError(
                f'{path}: {key} must be a string, e.g. {key} = "...", not {value!r}'
            )
        if key in PATHS or (key == "store" and "://" not in value):
            value = str(path.parent / Path(value).expanduser()) if value else value
        out[key] = value
    return out


def load(env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
    """The settings: defaults < ``<workspace>/workbench.toml`` < environment < ``flags`` (a flag
    given as None counts as not given). ``env``: default ``os.environ``."""
    env = os.environ if env is None else env
    source: dict[str, str] = {}
    workspace = flags.get("workspace") or env.get(ENV["workspace"], "").strip()
    source["workspace"] = (
        "flag" if flags.get("workspace") else ENV["workspace"] if workspace else "default"
    )
    workspace = Path(workspace).expanduser() if workspace else PROJECT / "workspace"
    values = _defaults(workspace)
    source.update(dict.fromkeys(values, "default"))
    toml = workspace / FILE_NAME
    for key, value in read_file(toml).items():
        values[key], source[key] = value, str(toml)
    for key in values:
        raw = env.get(ENV[key], "")
        if raw.strip():
            values[key], source[key] = raw.strip(), ENV[key]
    unknown = sorted(set(flags) - {"workspace", *values})
    if unknown:
        raise TypeError(f"unknown setting(s) {', '.join(unknown)}")
    for key, value in flags.items():
        if key != "workspace" and value is not None:
            values[key], source[key] = str(value), "flag"
    return Settings(
        workspace=workspace,
        data=values["data"],
        checkpoints=values["checkpoints"],
        compare=values["compare"],
        store=values["store"],
        cache=Path(values["cache"]).expanduser(),
        annotator=values["annotator"],
        source=source,
    )
