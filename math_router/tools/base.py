"""Tool value type, schema derivation from a function, and the registry.

A new tool is one function: its signature gives the JSON schema, its docstring
gives the description the model reads and, under `Args:`, each parameter's.
"""

from __future__ import annotations

import inspect
import json
import re
import time
import types
import typing
from typing import Any, Callable, Literal, Union

import attrs

from math_router.engine.errors import ToolError, UserError
from math_router.engine.toolbox import ToolResult
from math_router.engine.trace import ModelAnswer, Usage

_SIMPLE_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean",
                 type(None): "null"}


@attrs.frozen
class ToolOutput:
    """What a tool may return besides plain text: the usage it caused and details."""

    content: str
    usage: dict[str, Usage] = attrs.field(factory=dict)
    details: dict[str, Any] = attrs.field(factory=dict)
    final: str | None = None  # an answer the run may end with, without another model turn
    model: ModelAnswer | None = None  # the model behind the tool, where it ran, its answer


@attrs.frozen
class Tool:
    """A function the model may call."""

    name: str
    description: str  # the model reads this: short, imperative
    parameters: dict  # JSON schema of the arguments object
    fn: Callable[..., object] = attrs.field(eq=False, repr=False)

    @classmethod
    def from_function(cls, fn: Callable[..., object], name: str | None = None,
                      description: str | None = None) -> Tool:
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        return cls(name=name or fn.__name__,
                   description=description or summary,
                   parameters=_schema_of(fn, arg_docs),
                   fn=fn)

    def schema(self) -> dict:
        """The chat-completions `tools` entry."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


def tool(fn: Callable[..., object] | None = None, *, name: str | None = None):
    """Decorator: `@tool` or `@tool(name=...)` turns a function into a Tool."""
    if fn is None:
        return lambda f: Tool.from_function(f, name=name)
    return Tool.from_function(fn)


def check_names(tools: typing.Iterable[Tool], taken: typing.Iterable[str] = ()) -> None:
    """Each tool name once (the model calls tools by name): the one check, wherever tools meet."""
    seen = set(taken)
    for t in tools:
        if t.name in seen:
            raise UserError(f"a tool named {t.name!r} is already registered")
        seen.add(t.name)


class ToolRegistry:
    """The tools one run offers; answers the model's calls, never crashes on them."""

    def __init__(self, tools: typing.Iterable[Tool] = ()):
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, t: Tool) -> None:
        check_names([t], self._tools)
        self._tools[t.name] = t

    def schemas(self) -> list[dict]:
        return [t.schema() for t in self._tools.values()]

    def call(self, name: str, arguments: str) -> ToolResult:
        """Run tool `name` on the model's JSON `arguments`.

        The model's mistakes (unknown tool, bad JSON, arguments off the schema)
        and the tool's own exceptions come back as an `Error: ...` result.
        A UserError (a transport failure, say) is not the model's to fix: it raises.
        """
        start = time.perf_counter()

        def error(message: str) -> ToolResult:
            return ToolResult(f"Error: {message}", is_error=True,
                              seconds=time.perf_counter() - start)

        t = self._tools.get(name)
        if t is None:
            return error(f"unknown tool {name!r}; available tools: {', '.join(self._tools) or 'none'}")
        try:
            args = json.loads(arguments or "{}")
        except json.JSONDecodeError as e:
            return error(f"arguments are not valid JSON ({e.msg} at position {e.pos})")
        import jsonschema  # here, not at import: the command line starts faster

        try:
            jsonschema.validate(args, t.parameters)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path)
            return error(f"arguments do not fit the schema{' at ' + where if where else ''}: {e.message}")
        try:
            out = t.fn(**args)
        except UserError:
            raise
        except ToolError as e:
            return error(str(e))
        except Exception as e:  # a tool's bug is reported to the model; the run goes on
            return error(f"{type(e).__name__}: {e}")
        seconds = time.perf_counter() - start
        if isinstance(out, ToolOutput):
            return ToolResult(out.content, seconds=seconds, usage=out.usage, details=out.details,
                              final=out.final, model=out.model)
        text = out if isinstance(out, str) else json.dumps(out, default=str)
        return ToolResult(text, seconds=seconds)


def _schema_of(fn: Callable[..., object], arg_docs: dict[str, str]) -> dict:
    hints = typing.get_type_hints(fn)
    properties: dict[str, dict] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise UserError(f"tool {fn.__name__}: *args and **kwargs have no JSON schema")
        prop = _type_schema(hints.get(param.name, str))
        if param.name in arg_docs:
            prop["description"] = arg_docs[param.name]
        if param.default is inspect.Parameter.empty:
            required.append(param.name)
        else:
            prop["default"] = param.default
        properties[param.name] = prop
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


def _type_schema(hint: Any) -> dict:
    if hint in _SIMPLE_TYPES:
        return {"type": _SIMPLE_TYPES[hint]}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        options = [_type_schema(a) for a in args]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if hint is list or origin is list:
        return {"type": "array", **({"items": _type_schema(args[0])} if args else {})}
    if hint is dict or origin is dict:
        return {"type": "object"}
    raise UserError(f"no JSON schema for the type {hint!r}")


_ARG_LINE = re.compile(r"^\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary (text before `Args:`) and each documented argument."""
    summary, _, rest = doc.partition("\nArgs:")
    args: dict[str, str] = {}
    current = None
    for line in rest.splitlines():
        if line.strip() and not line.startswith(" "):
            break  # the next section (Returns:, ...)
        m = _ARG_LINE.match(line)
        if m:
            current = m.group(1)
            args[current] = m.group(2).strip()
        elif current and line.strip():
            args[current] += " " + line.strip()
    return " ".join(summary.split()), args
