"""The codebase's shape, checked from the source: small modules and functions, and layers without
import cycles (every import counted, those inside functions too). Pure ast: nothing is imported."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("litetrack_core", "litetrack_ros")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 60


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of ``package``."""
    out = {}
    for path in sorted((REPO / package).rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path) -> set[str]:
    """Every module name ``path`` imports (absolute; relative imports resolved against ``name``)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]) if node.level else node.module or ""
            found.add(base.strip("."))
            found.update(f"{base.strip('.')}.{a.name}" for a in node.names)
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_and_functions_stay_small(package):
    too_big = []
    for name, path in _modules(package).items():
        source = path.read_text()
        if (lines := len(source.splitlines())) > MAX_MODULE_LINES:
            too_big.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_big.append(f"{name}:{node.lineno} {node.name}(): {node.end_lineno - node.lineno + 1} lines")
    assert not too_big, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {too_big}"


def test_layers_of_litetrack_core_import_without_cycles():
    """Sub-packages (models, weights, tracking, data, ...) and modules form a directed acyclic graph."""
    modules = _modules("litetrack_core")

    def owner(imported: str) -> str | None:  # the longest module name that ``imported`` lies in
        while imported and imported not in modules:
            imported = imported.rpartition(".")[0]
        return imported or None

    module_graph = {m: {o for i in _imports(m, p) if (o := owner(i)) and o != m} for m, p in modules.items()}
    layer = lambda m: m.split(".")[1] if m.count(".") else None  # noqa: E731 - litetrack_core itself: no layer
    layer_graph: dict[str, set[str]] = {}
    for m, targets in module_graph.items():
        for t in targets:
            if layer(m) and layer(t) and layer(m) != layer(t):
                layer_graph.setdefault(layer(m), set()).add(layer(t))
    for graph in (layer_graph, module_graph):
        try:
            tuple(graphlib.TopologicalSorter(graph).static_order())
        except graphlib.CycleError as err:
            pytest.fail(f"import cycle (each is imported by the next): {' -> '.join(err.args[1])}")
    seen = set(layer_graph).union(*layer_graph.values())
    assert {"models", "weights", "tracking", "data", "training", "eval"} <= seen  # the graph was really read


def test_the_core_never_imports_ros():
    ros = ("rclpy", "sensor_msgs", "std_msgs", "vision_msgs", "diagnostic_msgs", "litetrack_ros")
    offenders = [f"{m} imports {i}" for m, p in _modules("litetrack_core").items() for i in _imports(m, p) if i.split(".")[0] in ros]
    assert not offenders
