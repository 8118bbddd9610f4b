"""Project rules that a test can check: lint, formatting, where streamlit may be imported."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    exe = Path(sys.executable).with_name("ruff")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed; install the dev extras: pip install -e '.[dev]'")
    return [found]


def test_ruff_lint_is_clean():
    out = subprocess.run([*_ruff(), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format_is_clean():
    out = subprocess.run(
        [*_ruff(), "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_never_loads_checkpoints_unsafely():
    offenders = []
    for package in ("explain", "curation", "workbench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "torch"
                ):
                    kw = {k.arg: k.value for k in node.keywords}
                    safe = (
                        isinstance(kw.get("weights_only"), ast.Constant)
                        and kw["weights_only"].value is True
                    )
                    if not safe:
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == [], f"torch.load without weights_only=True: {offenders}"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make run" in head and "make test" in head
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


WIDGETS = {
    "button", "selectbox", "multiselect", "slider", "text_input", "number_input", "toggle",
    "text_area", "file_uploader", "segmented_control", "select_slider", "checkbox", "radio",
    "pills", "plotly_chart", "dataframe",
}  # fmt: skip


def test_every_widget_has_an_explicit_key():
    missing = []
    for path in sorted(
        [*(ROOT / "app_pages").glob("*.py"), *(ROOT / "ui").glob("*.py"), ROOT / "app.py"]
    ):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in WIDGETS
                and not any(k.arg == "key" for k in node.keywords)
            ):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.attr}")
    assert missing == [], f"widgets without key=: {missing}"


# -- layers and import cycles ----------------------------------------------------------------

LAYERS = {  # package -> what it must never import
    "curation": ("explain", "workbench", "ui", "app_pages", "app"),
    "explain": ("workbench", "ui", "app_pages", "app"),
    "workbench": ("ui", "app_pages", "app"),
}
APP_LAYER = ("app", "app_pages", "ui")  # the only code that may import streamlit
# the series comparison and its HTML report import each other (the report for a type): the split
# of explain/ into subpackages gives them one package, explain/compare/, which removes this pair
KNOWN_CYCLES: set[frozenset[str]] = set()  # none: a cycle found is a failure


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    """Every module of the code the project ships: the packages, app.py and the pages."""
    out = {"app": ROOT / "app.py"}
    for package in ("explain", "curation", "workbench", "ui", "app_pages"):
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = path
    return out


def _imported(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The project modules ``path`` (module ``name``) imports anywhere — inside functions and
    under ``if TYPE_CHECKING:`` too (a cycle of types is still a knot a reader has to untie):
    for ``from a import b`` the module ``a.b`` when it is one, else ``a``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]  # fmt: skip
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `import a.b.c` of a non-module name
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _project_modules()
    return {name: _imported(path, name, modules) for name, path in modules.items()}


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package", list(LAYERS))
def test_each_layer_imports_only_downwards(package):
    graph = _graph()
    offenders = sorted(
        f"{mod} -> {dep}"
        for mod, deps in graph.items()
        if _top(mod) == package
        for dep in deps
        if _top(dep) in LAYERS[package]
    )
    assert offenders == [], f"{package} must not import {', '.join(LAYERS[package])}: {offenders}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules():
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    cycles = [c for c in _cycles(_graph()) if frozenset(c) not in KNOWN_CYCLES]
    assert cycles == [], "import cycles (each line one cycle):\n" + "\n".join(
        " <-> ".join(c) for c in cycles
    )


def test_the_import_graph_sees_imports_inside_functions():
    graph = _graph()
    # workbench/commands/export.py imports the rule catalog inside a method only
    assert "curation.rules.catalog" in graph["workbench.commands.export"]
    assert "ui.queries" in graph["ui.widgets"]  # a multi-line from-import


def test_streamlit_is_imported_only_by_the_app_layer():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks", ".venv", "sample_data") or rel.parts[0] in (
            *APP_LAYER[1:], "app.py", "serve.py",
        ):  # fmt: skip
            continue
        if "streamlit" in _imports(path):
            offenders.append(str(rel))
    assert offenders == [], (
        f"streamlit imported outside app.py, serve.py, app_pages/ and ui/: {offenders}"
    )


def test_only_page_files_in_app_pages_each_registered_in_app_py():
    listed = set()
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", "") == "PAGES" for t in node.targets
        ):
            listed = {elt.elts[0].value for elt in node.value.elts}
    files = {p.name for p in (ROOT / "app_pages").iterdir() if p.name != "__pycache__"}
    assert listed, "app.py lists no PAGES"
    assert files == listed, f"in app_pages/ but not in app.py: {sorted(files - listed)}; " \
        f"in app.py but missing: {sorted(listed - files)}"  # fmt: skip


def test_no_folder_named_pages_beside_app_py():
    """Streamlit routes a fresh server's first request to a page's address to a file in a
    folder named pages/ beside the entry point, alone: without app.py's sign-in gate. And
    ``client.showSidebarNavigation = false`` would hide st.navigation's own list as well."""
    import tomllib

    assert not (ROOT / "pages").exists()
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"].get("showSidebarNavigation", True) is True


def _layout_rows() -> list[tuple[list[str], str]]:
    text = (ROOT / "README.md").read_text().split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 2:
            rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1]))
    return rows


def _packages() -> list[str]:
    """Every package of the shipped code, as ``a/`` or ``a/b/`` (three levels deep at most)."""
    out = []
    for init in sorted(ROOT.glob("*/**/__init__.py")):
        rel = init.parent.relative_to(ROOT)
        if rel.parts[0] in ("tests", "benchmarks", "sample_data", ".venv") or len(rel.parts) > 3:
            continue
        out.append(rel.as_posix() + "/")
    return out


def test_every_path_of_the_layout_table_exists():
    rows = _layout_rows()
    assert len(rows) >= 10, rows
    missing = [p for paths, _ in rows for p in paths if not (ROOT / p).exists()]
    assert missing == [], f"the README's Layout table names paths that do not exist: {missing}"


def test_every_package_is_named_in_the_layout_table():
    named = " ".join(
        " ".join(f"`{p}`" for p in paths) + " " + what for paths, what in _layout_rows()
    )
    unnamed = [p for p in _packages() if f"`{p}`" not in named]
    assert unnamed == [], f"packages missing from the README's Layout table: {unnamed}"


def test_every_name_imported_from_the_project_exists():
    """``from a.b import name`` anywhere (functions included) names something module a.b has:
    a lazy import of a moved name fails only when its command runs."""
    import importlib

    modules = _project_modules()
    missing = []
    for name, path in modules.items():
        if _top(name) in ("app", "app_pages"):  # run as scripts by Streamlit
            continue
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([base] if base else [])])
            if base not in modules:
                continue
            target = importlib.import_module(base)
            for alias in node.names:
                if not hasattr(target, alias.name) and f"{base}.{alias.name}" not in modules:
                    missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {base}.{alias.name}")
    assert missing == [], f"imports of names that do not exist: {missing}"
