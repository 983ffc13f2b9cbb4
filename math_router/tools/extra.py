"""Tools of the user's own, for the router's and the cascade's orchestrator beside slm_help.

Three ways in:
- in code, once before `solve` or `evaluate`: `math_router.register_tool(fn)`;
- on the command line: `--tool package.module:function` (repeatable);
- from an installed package, by name: an entry point in the group `math_router.tools`
  (`[options.entry_points] math_router.tools = unit_price = mypkg.tools:unit_price`),
  chosen with `--tool unit_price`.
A function becomes a Tool as `@tool` makes it (its type hints and docstring).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from typing import Callable

from math_router.engine.errors import UserError
from math_router.tools.base import Tool, check_names

ENTRY_POINT_GROUP = "math_router.tools"

_registered: list[Tool] = []
_lock = threading.Lock()


def as_tool(obj: Tool | Callable[..., object]) -> Tool:
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return Tool.from_function(obj)
    raise UserError(f"{obj!r} is neither a Tool nor a function")


def register_tool(obj: Tool | Callable[..., object]) -> Tool:
    """Offer a tool to every later `solve` and `evaluate` in this process; returns the Tool."""
    tool = as_tool(obj)
    with _lock:
        check_names([tool], (t.name for t in _registered))
        _registered.append(tool)
    return tool


def unregister_tools() -> None:
    """Forget every registered tool (tests, notebooks starting over)."""
    with _lock:
        _registered.clear()


def registered_tools() -> list[Tool]:
    with _lock:
        return list(_registered)


def load_tool(reference: str) -> Tool:
    """`module:function` (or `module:TOOL`), or the name of an installed entry point."""
    module_name, sep, attribute = reference.partition(":")
    if sep:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise UserError(f"--tool {reference}: cannot import {module_name} ({e})") from None
        if not hasattr(module, attribute):
            raise UserError(f"--tool {reference}: {module_name} has no {attribute}")
        return as_tool(getattr(module, attribute))
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == reference:
            return as_tool(entry.load())
    installed = sorted(e.name for e in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    raise UserError(f"--tool {reference}: write module:function, or the name of an installed tool"
                    + (f" ({', '.join(installed)})" if installed else " (none is installed)"))
