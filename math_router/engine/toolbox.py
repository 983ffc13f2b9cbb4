"""What the loop needs of its tools, said here so the engine imports nothing above it.

tools.base.ToolRegistry is the implementation; any object with these two
methods will do.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from math_router.engine.trace import ModelAnswer, Usage


@attrs.frozen
class ToolResult:
    """A tool's answer as it goes back to the model."""

    content: str
    is_error: bool = False
    seconds: float = 0.0
    usage: dict[str, Usage] = attrs.field(factory=dict)
    details: dict[str, Any] = attrs.field(factory=dict)
    final: str | None = None  # the tool's answer may end the run (see loop.run)
    model: ModelAnswer | None = None  # the tool's model and its answer, where it has one


class Toolbox(Protocol):
    def schemas(self) -> list[dict]:
        """The chat-completions `tools` entries."""

    def call(self, name: str, arguments: str) -> ToolResult:
        """Run a tool on the model's JSON arguments; the model's mistakes come back as errors."""
