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
            found.add(node.module)
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
