"""python: the sandboxed Python executor as a tool the orchestrator may call."""

from __future__ import annotations

from math_router.sandbox.executor import PythonExecutor
from math_router.tools.base import Tool, ToolOutput


def python_tool(executor: PythonExecutor) -> Tool:
    """The `python` tool, running code in `executor`'s sandbox."""

    def python(code: str) -> ToolOutput:
        """Run a short Python program and return what it prints (a last bare expression is
        printed too). math, fractions, numpy and sympy are available; there is no network and
        no file outside the program's own folder. Use it to check arithmetic.

        Args:
            code: The whole program.
        """
        run = executor.run(code)
        return ToolOutput(content=run.text or "(no output)",
                          details={**run.as_dict(), "local": True})

    return Tool.from_function(python)
