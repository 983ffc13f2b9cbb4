"""Read a results folder: comparison.json, the comparison table, agreement, plots."""

from __future__ import annotations

import csv
import json
import statistics
import time
from pathlib import Path

from math_router.engine.errors import UserError
from math_router.evals.methods import METHODS
from math_router.evals.records import read_records
from math_router.evals.runner import write_json_atomic

def load_results(out: Path) -> dict[str, list[dict]]:
    """Records per method, in the usual method order."""
    if not out.is_dir():
        raise UserError(f"no results folder at {out}")
    found = {p.stem.removeprefix("results_"): p for p in out.glob("results_*.jsonl")}
    if not found:
        raise UserError(f"{out} holds no results_<method>.jsonl files")
    known = list(METHODS)
    order = sorted(found, key=lambda m: (known.index(m) if m in known else 99, m))
    return {m: read_records(found[m]) for m in order}


def method_stats(records: list[dict]) -> dict:
    n = len(records)
    seconds = [r["seconds"] for r in records if r["seconds"] is not None]
    ok = [r for r in records if r["error"] is None]
    costs = [r["cost_usd"] for r in ok]
    unknown = any(c is None for c in costs)
    total = None if unknown else sum(costs)

    def tokens(component: str, kind: str) -> int:
        return sum(r["usage"].get(component, {}).get(kind, 0) for r in records if r["usage"])

    def calls(kind: str) -> int:
        return sum(sum(u.get(kind, 0) for u in r["usage"].values()) for r in records if r["usage"])

    models: dict[str, set] = {}
    for r in records:
        for component, name in r["models"].items():
            models.setdefault(component, set()).add(name)
    return {
        "n": n,
        "correct": sum(bool(r["correct"]) for r in records),
        "accuracy": sum(bool(r["correct"]) for r in records) / n if n else None,
        "errors": n - len(ok),
        "mean_seconds": statistics.fmean(seconds) if seconds else None,
        "median_seconds": statistics.median(seconds) if seconds else None,
        "input_tokens": sum(r["input_tokens"] for r in records),
        "output_tokens": sum(r["output_tokens"] for r in records),
        "orchestrator_input_tokens": tokens("orchestrator", "input_tokens"),
        "orchestrator_output_tokens": tokens("orchestrator", "output_tokens"),
        "specialist_input_tokens": tokens("specialist", "input_tokens"),
        "specialist_output_tokens": tokens("specialist", "output_tokens"),
        "real_calls": calls("calls"),
        "cached_calls": calls("cached_calls"),
        "tool_calls_per_problem": sum(r["tool_calls"] for r in records) / n if n else None,
        "total_cost_usd": total,
        "cost_per_problem_usd": None if total is None or not n else total / n,
        "models": {c: sorted(v) for c, v in models.items()},
        "device": sorted({r["device"] for r in records if r.get("device")}),
        **cascade_stats(records),
    }


def cascade_stats(records: list[dict]) -> dict:
    voted = [r for r in records if "escalated" in r]
    if not voted:
        return {}
    return {"escalation_rate": sum(r["escalated"] for r in voted) / len(voted),
            "mean_agreement": statistics.fmean(r["agreement"] for r in voted),
            "threshold": voted[0]["threshold"],
            "threshold_curve": threshold_curve(voted)}


def threshold_curve(records: list[dict]) -> list[dict]:
    """Accuracy and cost of the cascade at other thresholds, from the recorded samples alone.

    At threshold t a problem is answered by its majority when its agreement is
    at least t, else by the orchestrator. The run recorded the orchestrator's
    answer only where agreement was below the run's threshold, so the curve
    covers the thresholds up to it; a run at 1.01 escalates every problem that
    is not unanimous and gives nearly the whole curve.
    """
    ran_at = max(r["threshold"] for r in records)
    levels = sorted({0.0, ran_at, *(r["agreement"] for r in records if r["agreement"] < ran_at)})
    curve = []
    for t in levels:
        correct, cost, escalated, tokens = 0, 0.0, 0, 0
        for r in records:
            own = r.get("component_cost_usd", {})
            specialist = own.get("specialist", 0.0)
            by_majority = r["agreement"] >= t and r["majority"] is not None
            if by_majority:
                correct += bool(r["majority_correct"])
                part = specialist
            else:
                escalated += 1
                correct += bool(r["correct"])
                part = None if r["cost_usd"] is None else r["cost_usd"]
                orchestrator = r["usage"].get("orchestrator", {})
                tokens += orchestrator.get("input_tokens", 0) + orchestrator.get("output_tokens", 0)
            cost = None if cost is None or part is None else cost + part
        curve.append({"threshold": t, "accuracy": correct / len(records),
                      "escalation_rate": escalated / len(records), "total_cost_usd": cost,
                      "orchestrator_tokens": tokens})
    return curve


def write_comparison(out: Path, results: dict[str, list[dict]] | None = None) -> dict:
    """comparison.json: per method, the figures of the comparison table, with models, device, date."""
    results = load_results(out) if results is None else results
    info_path = out / "run.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    expected = _sample_size(out)
    comparison = {}
    for method, records in results.items():
        stats = method_stats(records)
        stats["complete"] = expected is None or stats["n"] == expected
        stats["settings"] = info.get("methods", {}).get(method, {})
        stats["date"] = time.strftime("%Y-%m-%d")
        comparison[method] = stats
    write_json_atomic(out / "comparison.json", comparison)
    return comparison


def comparison_table(comparison: dict) -> str:
    from tabulate import tabulate

    def money(value):
        return "unknown" if value is None else f"${value:.4f}"

    def secs(value):
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for method, s in comparison.items():
        rows.append([
            method, s["n"] if s.get("complete", True) else f"{s['n']} (incomplete)",
            f"{s['accuracy']:.1%}" if s["accuracy"] is not None else "-",
            secs(s["mean_seconds"]), secs(s["median_seconds"]),
            f"{s['orchestrator_input_tokens']:,} / {s['orchestrator_output_tokens']:,}",
            f"{s['specialist_input_tokens']:,} / {s['specialist_output_tokens']:,}",
            f"{s['tool_calls_per_problem']:.2f}", money(s["total_cost_usd"]),
            money(s["cost_per_problem_usd"]), s["cached_calls"],
            "-" if "escalation_rate" not in s else f"{s['escalation_rate']:.1%}", s["errors"]])
    headers = ["method", "n", "accuracy", "mean s", "median s", "orchestrator tok in/out",
               "specialist tok in/out", "tool calls/problem", "cost", "cost/problem",
               "cached calls", "escalated", "errors"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def curve_text(comparison: dict) -> str:
    from tabulate import tabulate

    lines = []
    for method, s in comparison.items():
        if "threshold_curve" not in s:
            continue
        rows = [[f"{p['threshold']:.2f}", f"{p['accuracy']:.1%}", f"{p['escalation_rate']:.1%}",
                 "unknown" if p["total_cost_usd"] is None else f"${p['total_cost_usd']:.4f}"]
                for p in s["threshold_curve"]]
        lines.append(f"{method}: accuracy and cost by threshold (recomputed from the recorded "
                     f"samples; ran at {s['threshold']:.2f})")
        lines.append(tabulate(rows, headers=["threshold", "accuracy", "escalated", "cost"],
                              tablefmt="github", disable_numparse=True))
    return "\n".join(lines)


def agreement(results: dict[str, list[dict]]) -> dict:
    """Which problems every method solved, none did, or only some did."""
    methods = list(results)
    solved = {m: {r["id"] for r in recs if r["correct"]} for m, recs in results.items()}
    common = set.intersection(*({r["id"] for r in recs} for recs in results.values()))
    by_all = sorted(i for i in common if all(i in solved[m] for m in methods))
    by_none = sorted(i for i in common if not any(i in solved[m] for m in methods))
    only = {m: sorted(i for i in common if i in solved[m] and not any(
        i in solved[o] for o in methods if o != m)) for m in methods}
    some = sorted(set(common) - set(by_all) - set(by_none))
    return {"problems": len(common), "solved_by_all": by_all, "solved_by_none": by_none,
            "solved_by_some": some, "solved_only_by": only}


def agreement_text(result: dict) -> str:
    lines = [f"Per-problem agreement over {result['problems']} problems every method ran:",
             f"  solved by all:  {len(result['solved_by_all'])}",
             f"  solved by some: {len(result['solved_by_some'])}",
             f"  solved by none: {len(result['solved_by_none'])}"]
    only = result["solved_only_by"]
    for method, ids in (only.items() if len(only) > 1 else []):  # "only" needs another method
        shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
        lines.append(f"  only {method}: {len(ids)}" + (f" ({shown})" if ids else ""))
    return "\n".join(lines)


def write_plots(out: Path, comparison: dict, results: dict[str, list[dict]]) -> list[Path]:
    """accuracy_vs_cost.png and latency.png; needs matplotlib (the `plot` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("plots need matplotlib: pip install -e '.[plot]' "
                        "(or pass --no-plots)") from None
    paths = []
    # Left: money, which is 0 or unknown for local and self-hosted models; right: the
    # orchestrator's tokens per problem, which every run knows and which API prices follow.
    fig, (by_cost, by_tokens) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for method, s in comparison.items():
        if s["accuracy"] is None or not s["n"]:
            continue
        cost = s["cost_per_problem_usd"]
        tokens = (s["orchestrator_input_tokens"] + s["orchestrator_output_tokens"]) / s["n"]
        _point(by_cost, method + ("" if cost is not None else " (cost unknown)"),
               0.0 if cost is None else cost * 1000, s["accuracy"], cost is not None)
        _point(by_tokens, method, tokens, s["accuracy"], True)
        curve = s.get("threshold_curve", [])
        if len(curve) > 1:
            known = [p for p in curve if p["total_cost_usd"] is not None]
            if len(known) > 1:
                _curve(by_cost, method, [(p["threshold"], p["total_cost_usd"] / s["n"] * 1000,
                                          p["accuracy"]) for p in known])
            _curve(by_tokens, method, [(p["threshold"], p["orchestrator_tokens"] / s["n"],
                                        p["accuracy"]) for p in curve])
    by_cost.set_xlabel("USD per 1,000 problems")
    by_cost.set_ylabel("accuracy (%)")
    by_cost.set_title("Accuracy vs cost")
    by_tokens.set_xlabel("orchestrator tokens per problem (in + out)")
    by_tokens.set_title("Accuracy vs orchestrator tokens")
    for ax in (by_cost, by_tokens):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(out / "accuracy_vs_cost.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    data = [[r["seconds"] for r in recs if r["seconds"] is not None] for recs in results.values()]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(data) + 1), list(results))  # works before and after matplotlib 3.9
    ax.set_ylabel("seconds per problem")
    ax.set_title("Latency")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    paths.append(out / "latency.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _point(ax, label: str, x: float, accuracy: float, known: bool) -> None:
    ax.scatter([x], [accuracy * 100], s=60, marker="o" if known else "x")
    ax.annotate(label, (x, accuracy * 100), textcoords="offset points", xytext=(6, 4))


def _curve(ax, method: str, points: list[tuple[float, float, float]]) -> None:
    """The cascade's accuracy at each threshold, labelled with the threshold."""
    ax.plot([x for _, x, _ in points], [a * 100 for _, _, a in points], "--", alpha=0.6)
    for threshold, x, accuracy in points:
        ax.annotate(f"{threshold:.2f}", (x, accuracy * 100), fontsize=7, alpha=0.8)


def _sample_size(out: Path) -> int | None:
    samples = out / "samples.csv"
    if not samples.exists():
        return None
    with samples.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.DictReader(f))
