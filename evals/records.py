"""Traces as the flat records users read: `solve --json` and the eval JSONL rows."""

from __future__ import annotations

from typing import Any

from engine.loop import tool_arguments
from engine.trace import Trace, Usage
from evals.grading import extract_answer

COMPONENTS = ("orchestrator", "specialist")


def usage_table(trace: Trace) -> dict[str, dict[str, int]]:
    """Tokens per component, both components always present."""
    names = list(COMPONENTS) + [c for c in trace.usage if c not in COMPONENTS]
    table = {}
    for name in names:
        u = trace.usage.get(name, Usage())
        table[name] = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                       "calls": u.calls, "cached_calls": u.cached_calls}
    return table


def summary(trace: Trace) -> dict[str, Any]:
    """One question's result, as `solve --json` prints it."""
    return {
        "answer": extract_answer(trace.final_text or ""),
        "final_text": trace.final_text,
        "method": trace.method,
        "stopped": trace.stopped,
        "tool_calls": [{"name": c.name, "arguments": tool_arguments(c), "seconds": round(c.seconds, 3),
                        "is_error": c.is_error} for c in trace.tool_calls],
        "usage": usage_table(trace),
        "cost_usd": trace.cost_usd,
        "component_cost_usd": trace.component_cost_usd,
        "models": trace.models,
        "local": trace.local,
        "seconds": round(trace.seconds, 3),
        "component_seconds": {k: round(v, 3) for k, v in trace.component_seconds.items()},
        "details": trace.details,
    }
