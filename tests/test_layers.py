"""The package's imports only look down (README, Layout): no module imports one above it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "math_router"

# Lowest first; a module may import its own layer and those below.
LAYERS = [{"engine"}, {"llama"}, {"specialists", "sandbox", "probe"}, {"tools"}, {"options"}, {"evals"},
          {"api", "factory", "checks", "server_connections", "server_metrics"}, {"cli", "server", "testing"}]


def layer_of(module: str) -> int:
    part = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if part in names)


def imports(path: Path) -> set[str]:
    """Every math_router module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "math_router":
            found.update(f"math_router.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from math_router.llama import step_sampling` imports the module step_sampling.
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                found.add(sub if is_module else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.startswith("math_router.")}


def test_every_module_has_a_layer():
    modules = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.glob("*")
               if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert modules - {"__init__"} == set().union(*LAYERS)


def test_imports_only_look_down():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent == PACKAGE and path.name == "__init__.py":
            continue  # the package's lazy index names everything, importing nothing
        module = ".".join(("math_router", *path.relative_to(PACKAGE).with_suffix("").parts))
        for target in imports(path):
            if layer_of(target) > layer_of(module):
                upward.append(f"{module} imports {target}")
    assert not upward, upward


def test_no_module_imports_itself_round_a_circle():
    """Inside a layer too: no circle of modules (a function-level import counts, since it only
    hides the circle), so each package reads as floors of its own."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py":
            continue  # package indexes name their modules lazily
        module = ".".join(("math_router", *path.relative_to(PACKAGE).with_suffix("").parts))
        graph[module] = {t for t in imports(path) if not t.endswith("__init__")}
    circles = []
    for start in graph:  # a path from a module's imports back to itself
        seen, todo = set(), list(graph[start])
        while todo:
            node = todo.pop()
            if node == start:
                circles.append(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
    assert not circles, f"modules on an import circle: {sorted(circles)}"
