"""The figures of a results folder: per method, per pair of methods, and against the llm.

Every figure means what its name says:
- `accuracy` is over the problems a method answered; problems that ended in an
  error are counted in `errors`, never as wrong, and `complete` says whether
  every problem has an answer.
- tokens, seconds and cost are the method's own, as measured when each call
  ran (a response-cache hit keeps them); what this run spent is under `spent`.
- comparisons between methods use only the problems both answered.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from itertools import combinations

from math_router.engine import pricing
from math_router.engine.trace import Usage
from math_router.evals.stats import mcnemar_exact, paired_difference, wilson_interval

BASELINE = "llm"


def answered(records: list[dict]) -> list[dict]:
    return [r for r in records if r["error"] is None]


def method_stats(records: list[dict], expected: int | None = None) -> dict:
    """One method's figures from its latest record per problem."""
    done = answered(records)
    correct = sum(bool(r["correct"]) for r in done)
    seconds = [r["seconds"] for r in done if r["seconds"] is not None]
    costs = [r["cost_usd"] for r in done]
    total = None if any(c is None for c in costs) else sum(costs)
    n_done = len(done)

    def tokens(component: str, kind: str) -> int:
        return sum(r["usage"].get(component, {}).get(kind, 0) for r in done if r["usage"])

    models: dict[str, set] = defaultdict(set)
    for r in done:
        for component, name in r["models"].items():
            models[component].add(name)
    spent = [r.get("spent") or {} for r in records]
    spent_costs = [s.get("cost_usd") for s in spent if s]
    interval = wilson_interval(correct, n_done)
    return {
        "n": n_done,
        "attempted": len(records),
        "errors": len(records) - n_done,
        "complete": len(records) - n_done == 0 and (expected is None or len(records) == expected),
        "correct": correct,
        "accuracy": correct / n_done if n_done else None,
        "accuracy_ci": list(interval) if interval else None,
        "mean_seconds": statistics.fmean(seconds) if seconds else None,
        "median_seconds": statistics.median(seconds) if seconds else None,
        "input_tokens": sum(r["input_tokens"] for r in done),
        "output_tokens": sum(r["output_tokens"] for r in done),
        "orchestrator_input_tokens": tokens("orchestrator", "input_tokens"),
        "orchestrator_output_tokens": tokens("orchestrator", "output_tokens"),
        "orchestrator_tokens_per_problem": (tokens("orchestrator", "input_tokens")
                                            + tokens("orchestrator", "output_tokens")) / n_done
        if n_done else None,
        "specialist_input_tokens": tokens("specialist", "input_tokens"),
        "specialist_output_tokens": tokens("specialist", "output_tokens"),
        "tool_calls_per_problem": sum(r["tool_calls"] for r in done) / n_done if n_done else None,
        "total_cost_usd": total,
        "cost_per_problem_usd": None if total is None or not n_done else total / n_done,
        "spent": {
            "input_tokens": sum(s.get("input_tokens", 0) for s in spent),
            "output_tokens": sum(s.get("output_tokens", 0) for s in spent),
            "seconds": sum(s.get("seconds", 0.0) or 0.0 for s in spent),
            "cost_usd": None if any(c is None for c in spent_costs) else sum(spent_costs),
            "calls": sum(s.get("calls", 0) for s in spent),
            "cached_calls": sum(s.get("cached_calls", 0) for s in spent),
        },
        "models": {c: sorted(v) for c, v in models.items()},
        "device": sorted({r["device"] for r in records if r.get("device")}),
        "ended": _ended(done),
        **cascade_stats(done),
        **breakdown(done),
    }


def _ended(records: list[dict]) -> dict | None:
    """How many problems ended each way (the router: on the specialist's vote, by the
    orchestrator, or with the specialist's answer standing when the orchestrator stated none)."""
    ways = [r.get("ended") for r in records if r.get("ended")]
    if not ways:
        return None
    counts: dict[str, int] = defaultdict(int)
    for way in ways:
        counts[way] += 1
    return dict(counts)


def breakdown(records: list[dict]) -> dict:
    """Accuracy by subject and by level, where the problems say (MATH-500 does)."""
    result = {}
    for key in ("subject", "level"):
        groups: dict[str, list[bool]] = defaultdict(list)
        for r in records:
            value = (r.get("meta") or {}).get(key)
            if value is not None:
                groups[str(value)].append(bool(r["correct"]))
        if groups:
            result[f"by_{key}"] = {
                name: {"n": len(v), "correct": sum(v), "accuracy": sum(v) / len(v),
                       "accuracy_ci": list(wilson_interval(sum(v), len(v)))}
                for name, v in sorted(groups.items())}
    return result


def cascade_stats(records: list[dict]) -> dict:
    voted = [r for r in records if "escalated" in r]
    if not voted:
        return {}
    vote_only = any(r.get("vote_only") for r in voted)
    return {"escalation_rate": sum(r["escalated"] for r in voted) / len(voted),
            "mean_agreement": statistics.fmean(r["agreement"] for r in voted),
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
            by_majority = r["agreement"] >= t and r["majority"] is not None
            if by_majority:
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
    return {"methods": methods, "pairs": pairs(results),
            "prices": {"date": pricing.PRICES_DATE, "source": pricing.PRICES_SOURCE}}


def reprice(records: list[dict], prices: dict[str, pricing.Price]) -> list[dict]:
    """The records with their costs recomputed from their tokens at `prices` (nothing is re-run)."""
    repriced = []
    for r in records:
        if not r.get("usage"):
            repriced.append(r)
            continue
        local = set((r.get("trace") or {}).get("local", []))
        components = {}
        for component, usage in r["usage"].items():
            if not usage.get("calls"):
                continue
            model = r["models"].get(component, component)
            u = Usage(usage["input_tokens"], usage["output_tokens"], calls=usage["calls"],
                              prompt_cache_hit_tokens=usage.get("prompt_cache_hit_tokens", 0))
            components[component] = pricing.cost(model, u, local=component in local, extra=prices)
        total = None if None in components.values() else sum(components.values())
        repriced.append({**r, "cost_usd": total, "component_cost_usd": components})
    return repriced
