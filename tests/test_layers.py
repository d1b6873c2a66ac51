"""The import structure of core/: no loops between modules, no arrow pointing up the layers, no UI.

Every ``import`` / ``from ... import`` statement of every core module counts, wherever it stands:
at module level, inside a function, or under ``if TYPE_CHECKING:``. A function-level import that
only hides a loop is still a loop.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"

# The layers of core/, lowest first; a module may import its own package and any lower layer, never
# a higher one or another package of its own layer. Read off the code (issue #14):
#   errors, env       the one error type every layer raises; whole numbers read from the environment
#   ast_guard         one ast.parse at a time (a CPython 3.11 bug); core/__init__ installs it
#   data, viz         the data model and loaders; the pure figure builders (they import nothing else)
#   store, metrics    the SQLite workspace; LaMP's metrics (used by methods and by evaluate)
#   llm               the one client layer (caches and traces go to the store)
#   embed             embedders (the OpenAI one shares llm's endpoint handling)
#   stages            the pipeline: features, projection, clustering, factors, summary, paths, profile
#   methods           answering methods over a built profile
#   evaluate          the evaluation harness (it runs engines through a protocol, never imports them)
#   engine            runs users' builds and evaluations locally or on Ray (calls stages and evaluate)
#   ui_state          settings shared by the CLI and the pages
#   views             UI-free view models and policies the pages and the CLI share
#   cli               ``python -m core ...``
#   __main__          the entry point
LAYERS: list[set[str]] = [
    {"errors", "ast_guard"},
    {"env"},
    {"data", "viz"},
    {"store", "metrics"},
    {"llm"},
    {"embed"},
    {"stages"},
    {"methods"},
    {"evaluate"},
    {"engine"},
    {"ui_state"},
    {"views"},
    {"cli"},
    {"__main__", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
UI_MODULES = ("streamlit", "pages", "app")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(CORE.rglob("*.py"))}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The core module an imported name lives in (``core.x.y.Name`` -> ``core.x.y``), else None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every imported dotted name of a module with its line (relative imports made absolute)."""
    out: list[tuple[str, int]] = []
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names] + [(base, node.lineno)]
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for name, _ in _imports(module, path):
            target = _resolve(name)
            if target is not None and target != module and not module.startswith(target + "."):
                graph[module].add(target)  # a package's own __init__ is not an edge of its submodules
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

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
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_core_package_has_a_layer():
    assert {_layer(m) for m in MODULES} <= set(RANK), "add the new package to LAYERS"


def test_no_import_loops_between_core_modules():
    assert _cycles(_graph()) == []


def test_cycle_finder_sees_a_loop_hidden_in_a_function():
    graph = {"core.a": {"core.b"}, "core.b": {"core.a"}, "core.c": {"core.a"}}
    assert _cycles(graph) == [["core.a", "core.b"]]


def test_no_import_points_up_or_sideways_across_layers():
    upward = []
    for module, targets in _graph().items():
        for target in targets:
            a, b = _layer(module), _layer(target)
            if a != b and RANK[b] >= RANK[a]:
                upward.append(f"{module} ({a}) imports {target} ({b})")
    assert upward == []


def test_core_never_imports_the_ui():
    bad = [f"{module}:{line} imports {name}" for module, path in MODULES.items()
           for name, line in _imports(module, path) if name.split(".")[0] in UI_MODULES]
    assert bad == []
