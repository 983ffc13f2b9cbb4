"""The figures of a results folder: per method, per pair of methods, and against the llm.

Every figure means what its name says:
- `accuracy` is over the problems a method answered that have a gold answer
  (`graded`); problems that ended in an error are counted in `errors`, never as
  wrong, and `complete` says whether every problem has an answer.
- tokens, seconds and cost are the method's own, as measured when each call
  ran (a response-cache hit keeps them); what this run spent is under `spent`.
- comparisons between methods use only the problems both answered.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from itertools import combinations

from math_router.engine import pricing
from math_router.engine.answers import escalates
from math_router.engine.trace import Usage
from math_router.evals.stats import mcnemar_exact, paired_difference, wilson_interval

BASELINE = "llm"


def answered(records: list[dict]) -> list[dict]:
    return [r for r in records if r["error"] is None]


class Stats:
    """One method's figures, gathered record by record (the latest record of each problem):
    an eval's 150 problems or a `solve --input` job's 10,000 alike, in memory that does not
    grow with the records (a few numbers per problem, not the records)."""

    def __init__(self):
        self.attempted = self.errors = self.graded = self.correct = 0
        self.seconds: list[float] = []
        self.tokens: dict[str, int] = defaultdict(int)
        self.tool_calls = 0
        self.costs_known = True
        self.total_cost = 0.0
        self.spent: dict[str, float] = defaultdict(float)
        self.spent_known = True
        self.models: dict[str, set] = defaultdict(set)
        self.devices: set[str] = set()
        self.ended: dict[str, int] = defaultdict(int)
        self.groups: dict[str, dict[str, list[bool]]] = {"subject": defaultdict(list),
                                                         "level": defaultdict(list)}
        self.voted = self.escalated = 0
        self.batch_calls = 0
        # Every component apart (the orchestrator, the specialist, each specialist tool).
        self.components: dict[str, dict] = {}

    def add(self, r: dict) -> None:
        self.attempted += 1
        if r.get("device"):
            self.devices.add(r["device"])
        spent = r.get("spent") or {}
        if spent:
            cost = spent.get("cost_usd")
            self.spent_known &= cost is not None
            self.spent["cost_usd"] += cost or 0.0
            for key in ("input_tokens", "output_tokens", "seconds", "calls", "cached_calls"):
                self.spent[key] += spent.get(key, 0) or 0
        if r["error"] is not None:
            self.errors += 1
            return
        if r["correct"] is not None:
            self.graded += 1
            self.correct += bool(r["correct"])
            for key, groups in self.groups.items():
                value = (r.get("meta") or {}).get(key)
                if value is not None:
                    groups[str(value)].append(bool(r["correct"]))
        if r["seconds"] is not None:
            self.seconds.append(r["seconds"])
        self.tokens["input_tokens"] += r["input_tokens"]
        self.tokens["output_tokens"] += r["output_tokens"]
        for component in ("orchestrator", "specialist"):
            usage = (r["usage"] or {}).get(component, {})
            for kind in ("input_tokens", "output_tokens", "reasoning_tokens"):
                self.tokens[f"{component}_{kind}"] += usage.get(kind, 0)
        for component, usage in (r["usage"] or {}).items():
            part = self.components.setdefault(component, {"calls": 0, "input_tokens": 0,
                                                          "output_tokens": 0, "seconds": 0.0,
                                                          "cost_usd": 0.0})
            for key in ("calls", "input_tokens", "output_tokens", "seconds"):
                part[key] += usage.get(key, 0) or 0
            cost = (r.get("component_cost_usd") or {}).get(component, 0.0)
            part["cost_usd"] = None if part["cost_usd"] is None or cost is None \
                else part["cost_usd"] + cost
        self.tool_calls += r["tool_calls"]
        self.batch_calls += r.get("batch_calls") or 0
        self.costs_known &= r["cost_usd"] is not None
        self.total_cost += r["cost_usd"] or 0.0
        for component, name in r["models"].items():
            self.models[component].add(name)
        if r.get("ended"):
            self.ended[r["ended"]] += 1
        if "escalated" in r:
            self.voted += 1
            self.escalated += bool(r["escalated"])

    def figures(self, expected: int | None = None) -> dict:
        n_done = self.attempted - self.errors
        interval = wilson_interval(self.correct, self.graded)
        total = self.total_cost if self.costs_known else None
        orchestrator_tokens = self.tokens["orchestrator_input_tokens"] \
            + self.tokens["orchestrator_output_tokens"]
        return {
            "n": n_done,
            "attempted": self.attempted,
            "errors": self.errors,
            "complete": self.errors == 0 and (expected is None or self.attempted == expected),
            "graded": self.graded,
            "correct": self.correct,
            "accuracy": self.correct / self.graded if self.graded else None,
            "accuracy_ci": list(interval) if interval else None,
            "mean_seconds": statistics.fmean(self.seconds) if self.seconds else None,
            "median_seconds": statistics.median(self.seconds) if self.seconds else None,
            "input_tokens": self.tokens["input_tokens"],
            "output_tokens": self.tokens["output_tokens"],
            "orchestrator_input_tokens": self.tokens["orchestrator_input_tokens"],
            "orchestrator_output_tokens": self.tokens["orchestrator_output_tokens"],
            # Of the orchestrator's output, its hidden reasoning (billed as output).
            "orchestrator_reasoning_tokens": self.tokens["orchestrator_reasoning_tokens"],
            "orchestrator_tokens_per_problem": orchestrator_tokens / n_done if n_done else None,
            "specialist_input_tokens": self.tokens["specialist_input_tokens"],
            "specialist_output_tokens": self.tokens["specialist_output_tokens"],
            "tool_calls_per_problem": self.tool_calls / n_done if n_done else None,
            "total_cost_usd": total,
            "cost_per_problem_usd": None if total is None or not n_done else total / n_done,
            "batch_calls": self.batch_calls,
            "spent": {
                "input_tokens": int(self.spent["input_tokens"]),
                "output_tokens": int(self.spent["output_tokens"]),
                "seconds": self.spent["seconds"],
                "cost_usd": self.spent["cost_usd"] if self.spent_known else None,
                "calls": int(self.spent["calls"]),
                "cached_calls": int(self.spent["cached_calls"]),
            },
            "models": {c: sorted(v) for c, v in self.models.items()},
            "components": self.components,
            "device": sorted(self.devices),
            "ended": dict(self.ended) or None,
            **({"escalation_rate": self.escalated / self.voted} if self.voted else {}),
            **self._breakdown(),
        }

    def _breakdown(self) -> dict:
        """Accuracy by subject and by level, where the problems say (MATH-500 does)."""
        result = {}
        for key, groups in self.groups.items():
            if groups:
                result[f"by_{key}"] = {
                    name: {"n": len(v), "correct": sum(v), "accuracy": sum(v) / len(v),
                           "accuracy_ci": list(wilson_interval(sum(v), len(v)))}
                    for name, v in sorted(groups.items())}
        return result


def method_stats(records: list[dict], expected: int | None = None) -> dict:
    """One method's figures from its latest record per problem."""
    stats = Stats()
    for r in records:
        stats.add(r)
    return {**stats.figures(expected), **cascade_stats(answered(records))}


def cascade_stats(records: list[dict]) -> dict:
    voted = [r for r in records if "agreement" in r]  # the cascade's (the probe escalates too)
    if not voted:
        return {}
    vote_only = any(r.get("vote_only") for r in voted)
    return {"mean_agreement": statistics.fmean(r["agreement"] for r in voted),
            "threshold": voted[0]["threshold"],
            "threshold_curve": threshold_curve(voted, vote_only),
            **({"vote_only": True} if vote_only else {})}


def threshold_curve(records: list[dict], vote_only: bool = False) -> list[dict]:
    """Accuracy and cost of the cascade at other thresholds, from the recorded samples alone.

    At threshold t a problem is answered by its majority when its agreement is
    at least t, else by the orchestrator. The run recorded the orchestrator's
    answer only where agreement was below the run's threshold, so the curve
    covers the thresholds up to it; a run at 1.01 escalates every problem that
    is not unanimous and gives nearly the whole curve.
    """
    ran_at = max(r["threshold"] for r in records)
    # A vote-only run asked nobody: where a problem would escalate, its answer
    # (and so the accuracy and cost at that threshold) is unknown.
    levels = sorted({0.0, ran_at, *(r["agreement"] for r in records if r["agreement"] < ran_at)})
    curve = []
    for t in levels:
        correct, cost, escalated, tokens = 0, 0.0, 0, 0
        for r in records:
            if not escalates(r["agreement"], r["majority"], t):
                correct += bool(r["majority_correct"])
                part = r.get("component_cost_usd", {}).get("specialist", 0.0)
            else:
                escalated += 1
                correct += bool(r["correct"])
                part = r["cost_usd"]
                orchestrator = r["usage"].get("orchestrator", {})
                tokens += orchestrator.get("input_tokens", 0) + orchestrator.get("output_tokens", 0)
            cost = None if cost is None or part is None else cost + part
        unknown = vote_only and escalated > 0
        curve.append({"threshold": t, "accuracy": None if unknown else correct / len(records),
                      "escalation_rate": escalated / len(records),
                      "total_cost_usd": None if unknown else cost,
                      "orchestrator_tokens": None if unknown else tokens})
    return curve


def paired(a: list[dict], b: list[dict]) -> dict:
    """Two methods on the problems both answered: who got which, McNemar, the paired difference."""
    right_a = {r["id"]: bool(r["correct"]) for r in answered(a)}
    right_b = {r["id"]: bool(r["correct"]) for r in answered(b)}
    shared = sorted(set(right_a) & set(right_b))
    both = sum(right_a[i] and right_b[i] for i in shared)
    only_a = [i for i in shared if right_a[i] and not right_b[i]]
    only_b = [i for i in shared if right_b[i] and not right_a[i]]
    neither = len(shared) - both - len(only_a) - len(only_b)
    return {"n": len(shared), "both": both, "only_a": len(only_a), "only_b": len(only_b),
            "neither": neither, "only_a_ids": only_a, "only_b_ids": only_b,
            "p_value": mcnemar_exact(len(only_a), len(only_b)),
            "difference": paired_difference(both, len(only_a), len(only_b), neither)}


def pairs(results: dict[str, list[dict]]) -> list[dict]:
    """McNemar's exact test for every pair of methods, on the problems both answered."""
    out = []
    for a, b in combinations(results, 2):
        p = paired(results[a], results[b])
        out.append({"a": a, "b": b, "n": p["n"], "only_a": p["only_a"], "only_b": p["only_b"],
                    "p_value": p["p_value"]})
    return out


def versus_baseline(records: list[dict], base: list[dict]) -> dict:
    """A method against the llm on the problems both answered: cost ratio, accuracy delta."""
    p = paired(records, base)
    ids = {r["id"] for r in answered(records)} & {r["id"] for r in answered(base)}
    mine = [r["cost_usd"] for r in answered(records) if r["id"] in ids]
    theirs = [r["cost_usd"] for r in answered(base) if r["id"] in ids]
    ratio = None
    if mine and None not in mine and None not in theirs and sum(theirs) > 0:
        ratio = sum(mine) / sum(theirs)
    return {"cost_vs_llm": ratio, "accuracy_delta_vs_llm": p["difference"],
            "shared_with_llm": p["n"], "solved_not_by_llm": p["only_a_ids"],
            "solved_only_by_llm": p["only_b_ids"]}


def compare(results: dict[str, list[dict]], expected: int | None = None) -> dict:
    """The whole comparison: per method, with figures against the llm, and the pairwise tests."""
    methods = {}
    for method, records in results.items():
        stats = method_stats(records, expected)
        if BASELINE in results and method != BASELINE:
            stats.update(versus_baseline(records, results[BASELINE]))
        elif method == BASELINE:
            stats.update(cost_vs_llm=1.0 if stats["total_cost_usd"] else None,
                         accuracy_delta_vs_llm={"estimate": 0.0, "low": 0.0, "high": 0.0})
        else:
            stats.update(cost_vs_llm=None, accuracy_delta_vs_llm=None)
        methods[method] = stats
    return {"methods": methods, "pairs": pairs(results), "prices": prices_note()}


def prices_note() -> dict:
    """Which price tables the figures use, with their dates and sources."""
    return {"date": pricing.PRICES_DATE, "source": pricing.PRICES_SOURCE,
            "batch_date": pricing.BATCH_PRICES_DATE, "batch_source": pricing.BATCH_PRICES_SOURCE}


def reprice(records: list[dict], prices: dict[str, pricing.Price]) -> list[dict]:
    """The records with their costs recomputed from their tokens at `prices` (nothing is re-run).

    Orchestrator calls that went through the Batch API are priced at its tier.
    """
    repriced = []
    for r in records:
        if not r.get("usage"):
            repriced.append(r)
            continue
        trace = r.get("trace") or {}
        local = set(trace.get("local", []))
        batched = sum((_usage(t["usage"]) for t in trace.get("turns", []) if t.get("batch")), Usage())
        components = {}
        for component, usage in r["usage"].items():
            if not usage.get("calls"):
                continue
            model = r["models"].get(component, component)
            components[component] = pricing.tiered_cost(
                model, _usage(usage), batched if component == "orchestrator" else None,
                local=component in local, extra=prices)
        total = None if None in components.values() else sum(components.values())
        repriced.append({**r, "cost_usd": total, "component_cost_usd": components})
    return repriced


def _usage(recorded: dict) -> Usage:
    """The tokens and calls a record kept, as a Usage to price."""
    return Usage(recorded["input_tokens"], recorded["output_tokens"], calls=recorded["calls"],
                 prompt_cache_hit_tokens=recorded.get("prompt_cache_hit_tokens", 0),
                 reasoning_tokens=recorded.get("reasoning_tokens", 0))
