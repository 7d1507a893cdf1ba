"""Guardrails on the package's shape, so that it stays the way a newcomer can read it.

* no import cycle inside ``rmx_widgets`` (function-level, lazy and ``TYPE_CHECKING`` imports
  count: a cycle that only works because one side imports late is still a cycle);
* ``rmx_widgets.core`` (the engine) imports nothing from Jupyter and nothing from the faces
  (``widgets``, ``cli``);
* every name in ``rmx_widgets.__all__`` resolves;
* no module is over ~600 lines (data tables excepted).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import rmx_widgets

PACKAGE = Path(rmx_widgets.__file__).resolve().parent
ROOT = "rmx_widgets"
JUPYTER = {
    "ipywidgets",
    "anywidget",
    "traitlets",
    "IPython",
    "ipykernel",
    "jupyter",
    "jupyterlab",
    "jupyter_client",
    "jupyter_core",
    "notebook",
    "nbformat",
    "nbclient",
    "widgetsnbextension",
    "comm",
}
MAX_LINES = 600
DATA_TABLES: set[str] = set()  # modules that are mostly data; none at present


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> list[tuple[str, int]]:
    """Every module ``name`` imports anywhere in its body: (imported module, line)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.append((sub if sub in MODULES else module, node.lineno))
    return found


def _internal_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _ in _imports(m):
            while target and target not in MODULES and target.startswith(ROOT):
                target = target.rpartition(".")[0]  # ``import a.b.fn``-style leftovers
            if target in MODULES and target != m:
                graph[m].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = find_cycles(_internal_graph())
    assert cycles == [], "import cycles inside rmx_widgets: " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith(f"{ROOT}.core")))
def test_core_imports_nothing_from_jupyter_or_the_faces(module):
    bad = [
        (target, line)
        for target, line in _imports(module)
        if target.split(".")[0] in JUPYTER or target.startswith((f"{ROOT}.widgets", f"{ROOT}.cli"))
    ]
    assert bad == [], f"{module} imports {bad}"


@pytest.mark.parametrize("name", rmx_widgets.__all__)
def test_public_name_resolves(name):
    assert getattr(rmx_widgets, name) is not None


def test_modules_stay_small():
    long = {
        m: n
        for m, p in MODULES.items()
        if m not in DATA_TABLES and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"modules over {MAX_LINES} lines: {long}"


def test_every_module_imports():
    for m in MODULES:
        importlib.import_module(m)


def test_the_cli_starts_without_heavy_libraries():
    """``rmx --help`` and a bad-input error answer in a tenth of a second: the CLI and the
    package import pandas, torch, transformers and friends only when a command needs them."""
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "torch", "transformers", "httpx", "altair", "scipy")
    code = (
        "import sys, rmx_widgets, rmx_widgets.cli\n"
        "rmx_widgets.cli.build_parser()\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_test_modules_have_unique_basenames():
    """pytest imports test files by basename (no __init__.py in tests/): two files of one name
    in different folders stop the whole run at collection ("import file mismatch")."""
    names: dict[str, list[str]] = {}
    for path in sorted(Path(__file__).parent.rglob("test_*.py")):
        names.setdefault(path.name, []).append(str(path.parent.name))
    assert {n: d for n, d in names.items() if len(d) > 1} == {}
