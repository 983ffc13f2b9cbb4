"""slm_help: the tool through which the orchestrator delegates to the specialist."""

from __future__ import annotations

from math_router.engine.errors import ToolError
from math_router.specialists.base import Specialist
from math_router.tools.base import Tool, ToolOutput


def slm_help_tool(specialist: Specialist) -> Tool:
    """The `slm_help` tool, forwarding to `specialist`."""

    def slm_help(question: str) -> ToolOutput:
        """Ask a math specialist model to solve a math problem step by step.
        It returns its worked solution and its final answer; check them before you use them.

        Args:
            question: The complete problem, self-contained, with every number it needs.
        """
        if not question.strip():
            raise ToolError("the question is empty; send the whole problem")
        result = specialist.solve(question)
        final = result.answer if result.answer is not None else "(none stated)"
        return ToolOutput(
            content=f"{result.text.strip()}\n\nSpecialist's final answer: {final}",
            usage={"specialist": result.usage},
            details={"model": specialist.name, "local": specialist.local,
                     "answer": result.answer, "seconds": result.seconds, **result.details})

    return Tool.from_function(slm_help)
