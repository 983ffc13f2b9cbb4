"""--dry-run: what a job would do and cost, before anything runs.

Per method: the problems left (a rerun into the same folder skips what finished), the
requests and tokens they take, and the orchestrator's cost at the price table's
prices. Per problem figures come from the folder's own earlier records where the
method has some (the mean of what those problems took), else from typical figures
measured on GSM8K (docs/benchmarks.md: the local stand-in runs of 2026-11-30 and the
gpt-6-luna stand-in of 2026-12-04). They are estimates: a harder data set writes more.
"""

from __future__ import annotations

import attrs

from math_router.engine import pricing
from math_router.engine.trace import Usage


@attrs.frozen
class PerProblem:
    """What one problem takes, on average."""

    orchestrator_calls: float
    orchestrator_input: float
    orchestrator_output: float
    specialist_calls: float
    specialist_output: float


# GSM8K, docs/benchmarks.md: llm and router/cascade token counts per problem from the
# 2026-12-04 gpt-6-luna stand-in (llm at the API's default effort thinks: its output is
# mostly reasoning), specialist solutions ~300 tokens (the stand-in 1.5B), the cascade's 4
# samples stopping early on agreement (~3 decoded), the probe mostly one greedy solution.
TYPICAL = {
    "llm": PerProblem(1, 90, 210, 0, 0),
    "router": PerProblem(1, 340, 10, 1, 300),
    "slm": PerProblem(0, 0, 0, 1, 300),
    "cascade": PerProblem(0.25, 100, 14, 1, 900),
    "probe": PerProblem(0.2, 40, 30, 1, 420),
}
SOURCE = "typical GSM8K figures (docs/benchmarks.md)"


def from_records(records: list[dict]) -> PerProblem | None:
    """The mean of what an earlier run's answered problems took; None without any."""
    done = [r for r in records if r.get("error") is None and r.get("usage") is not None]
    if not done:
        return None

    def mean(component: str, key: str) -> float:
        return sum(((r["usage"] or {}).get(component) or {}).get(key, 0) for r in done) / len(done)

    return PerProblem(mean("orchestrator", "calls"), mean("orchestrator", "input_tokens"),
                      mean("orchestrator", "output_tokens"), mean("specialist", "calls"),
                      mean("specialist", "output_tokens"))


def plan_row(method: str, left: int, total: int, per: PerProblem, source: str, model: str,
             local: bool, prices: dict) -> dict:
    """One method's line of the plan."""
    usage = Usage(round(per.orchestrator_input * left), round(per.orchestrator_output * left),
                  calls=round(per.orchestrator_calls * left))
    cost = pricing.cost(model, usage, local=local, extra=prices) if usage.calls else 0.0
    return {"method": method, "problems": total, "left": left,
            "orchestrator_requests": usage.calls, "orchestrator_input_tokens": usage.input_tokens,
            "orchestrator_output_tokens": usage.output_tokens,
            "specialist_requests": round(per.specialist_calls * left),
            "specialist_output_tokens": round(per.specialist_output * left),
            "orchestrator": model if usage.calls else None, "cost_usd": cost, "from": source}


def plan_text(rows: list[dict]) -> str:
    from tabulate import tabulate

    table = [[r["method"], f"{r['left']} of {r['problems']}", f"{r['orchestrator_requests']:,}",
              f"{r['orchestrator_input_tokens']:,} / {r['orchestrator_output_tokens']:,}",
              f"{r['specialist_requests']:,} / {r['specialist_output_tokens']:,}",
              "unknown price" if r["cost_usd"] is None else f"${r['cost_usd']:.4f}", r["from"]]
             for r in rows]
    costs = [r["cost_usd"] for r in rows]
    total = "unknown (a price is unknown: --price MODEL=IN,OUT)" if None in costs \
        else f"${sum(costs):.4f}"
    return (tabulate(table, headers=["method", "problems left", "orchestrator requests",
                                     "orchestrator tokens in / out", "specialist requests / tokens out",
                                     "cost", "per problem from"],
                     tablefmt="github", disable_numparse=True)
            + f"\n\nestimated cost of what is left: {total} (the orchestrator at list prices; "
              "a specialist run here costs 0); nothing was run")
