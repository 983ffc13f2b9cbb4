"""What happened during one question: turns, tool calls, tokens, seconds, cost.

Every figure a user reads comes from a Trace, so all methods are measured the
same way. Traces round-trip through JSON (`to_dict` / `from_dict`).
"""

from __future__ import annotations

import json
from typing import Any

import attrs


@attrs.frozen
class Usage:
    """Tokens of real (not cached) calls, plus what cache hits would have cost."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cached_calls: int = 0
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other))))

    @classmethod
    def of_call(cls, input_tokens: int, output_tokens: int, cached: bool = False) -> Usage:
        """Usage of one call; a cache hit counts apart from real calls."""
        if cached:
            return cls(cached_calls=1, cached_input_tokens=input_tokens,
                       cached_output_tokens=output_tokens)
        return cls(input_tokens, output_tokens, calls=1)


@attrs.frozen
class ToolRequest:
    """A tool call as the model asked for it."""

    id: str
    name: str
    arguments: str  # raw JSON text, exactly as the model wrote it


@attrs.frozen
class Turn:
    """One orchestrator reply."""

    content: str | None
    tool_requests: list[ToolRequest] = attrs.field(factory=list)
    usage: Usage = Usage()
    seconds: float = 0.0
    finish_reason: str | None = None
    cached: bool = False


@attrs.frozen
class ToolCall:
    """A tool call as it ran: what was asked, what came back, how long it took."""

    name: str
    arguments: str
    result: str
    seconds: float
    is_error: bool = False
    usage: dict[str, Usage] = attrs.field(factory=dict)
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Trace:
    """The record of one question answered by one method."""

    method: str
    final_text: str | None
    turns: list[Turn] = attrs.field(factory=list)
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    usage: dict[str, Usage] = attrs.field(factory=dict)  # component -> tokens
    seconds: float = 0.0
    component_seconds: dict[str, float] = attrs.field(factory=dict)
    models: dict[str, str] = attrs.field(factory=dict)  # component -> model name
    local: list[str] = attrs.field(factory=list)  # components run in process: no API cost
    cost_usd: float | None = None
    component_cost_usd: dict[str, float | None] = attrs.field(factory=dict)
    stopped: str = "answer"  # "answer" | "max_turns"
    details: dict[str, Any] = attrs.field(factory=dict)
    vote: dict[str, Any] | None = None  # set by methods that vote over samples (the cascade)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        def usage_map(raw: dict) -> dict[str, Usage]:
            return {k: Usage(**v) for k, v in raw.items()}

        turns = [
            Turn(**{**t, "usage": Usage(**t["usage"]),
                    "tool_requests": [ToolRequest(**r) for r in t["tool_requests"]]})
            for t in data.get("turns", [])
        ]
        calls = [ToolCall(**{**c, "usage": usage_map(c["usage"])}) for c in data.get("tool_calls", [])]
        return cls(**{**data, "turns": turns, "tool_calls": calls,
                      "usage": usage_map(data.get("usage", {}))})


def parse_arguments(arguments: str) -> object:
    """A tool call's arguments as data when they parse, else the raw text the model wrote."""
    try:
        return json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments


def usage_of_response(response: dict) -> "Usage":
    """Tokens of an OpenAI-shaped response dict (llama-cpp-python returns these)."""
    usage = response.get("usage") or {}
    return Usage.of_call(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))


def add_usage(total: dict[str, Usage], more: dict[str, Usage]) -> dict[str, Usage]:
    """Merge per-component usage maps."""
    merged = dict(total)
    for component, usage in more.items():
        merged[component] = merged.get(component, Usage()) + usage
    return merged
