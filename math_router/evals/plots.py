"""The report's pictures: accuracy against cost (with the llm and the Pareto front), and latency.

Needs matplotlib (the `plot` extra). Points are told apart by marker and
legend rather than by labels next to them, so methods at the same spot stay
readable; each accuracy carries its 95% interval.
"""

from __future__ import annotations

from pathlib import Path

from math_router.engine.errors import UserError
from math_router.evals.compare import BASELINE

MARKERS = {"llm": "*", "router": "o", "slm": "s", "cascade": "D"}


# Said where plots are left out: the Quick start's install has no matplotlib, and a report
# without pictures is still the report.
MISSING = "plots left out: matplotlib is not installed (pip install 'math-router[plot]')"


def available() -> bool:
    """Whether matplotlib can be imported (the `plot` extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plots(out: Path, comparison: dict, results: dict[str, list[dict]]) -> list[Path]:
    """accuracy_vs_cost.png and latency.png in `out`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("plots need matplotlib: pip install -e '.[plot]' "
                        "(or pass --no-plots)") from None
    methods = {m: s for m, s in comparison["methods"].items() if s["accuracy"] is not None}
    paths = []
    # Left: money (0 or unknown for local models unless priced); right: the orchestrator's
    # tokens per problem, which every run knows and which API prices follow.
    fig, (by_cost, by_tokens) = plt.subplots(1, 2, figsize=(12, 4.6), sharey=True)
    cost_points, token_points = {}, {}
    for method, s in methods.items():
        cost = s["cost_per_problem_usd"]
        if cost is not None:
            cost_points[method] = (cost * 1000, s)
        token_points[method] = (s["orchestrator_tokens_per_problem"] or 0.0, s)
    _panel(by_cost, cost_points, "USD per 1,000 problems")
    _panel(by_tokens, token_points, "orchestrator tokens per problem (in + out)")
    for method, s in methods.items():
        curve = [p for p in s.get("threshold_curve", []) if p["accuracy"] is not None]
        if len(curve) > 1:
            known = [p for p in curve if p["total_cost_usd"] is not None]
            if len(known) > 1:
                _curve(by_cost, [(p["threshold"], p["total_cost_usd"] / s["n"] * 1000, p["accuracy"])
                                 for p in known])
            _curve(by_tokens, [(p["threshold"], p["orchestrator_tokens"] / s["n"], p["accuracy"])
                               for p in curve])
    unknown = [m for m in methods if m not in cost_points]
    by_cost.set_title("Accuracy vs cost" + (f" ({', '.join(unknown)}: cost unknown)" if unknown else ""))
    by_tokens.set_title("Accuracy vs orchestrator tokens")
    by_cost.set_ylabel("accuracy (%), 95% interval")
    handles, labels = by_tokens.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    paths.append(out / "accuracy_vs_cost.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    data = [[r["seconds"] for r in recs if r["error"] is None and r["seconds"] is not None]
            for recs in results.values()]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(data) + 1), list(results))  # works before and after matplotlib 3.9
    levels = sorted({s.get("concurrency") for s in comparison["methods"].values()
                     if s.get("concurrency")})
    # Seconds measured with problems answered side by side share the cores: say how many.
    ax.set_ylabel("seconds per problem" + (f", at concurrency {', '.join(map(str, levels))}"
                                           if levels else " (as measured)"))
    ax.set_title("Latency")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    paths.append(out / "latency.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _panel(ax, points: dict[str, tuple[float, dict]], xlabel: str) -> None:
    for method, (x, s) in points.items():
        accuracy = s["accuracy"] * 100
        low, high = (v * 100 for v in s["accuracy_ci"])
        ax.errorbar([x], [accuracy], yerr=[[max(0.0, accuracy - low)], [max(0.0, high - accuracy)]],
                    capsize=3,
                    marker=MARKERS.get(method, "^"), markersize=12 if method == BASELINE else 8,
                    linestyle="none", label=method, alpha=0.9)
        if method == BASELINE:  # the reference everything is judged against
            ax.axhline(accuracy, color="grey", linestyle=":", linewidth=1)
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
    front = pareto_front([(x, s["accuracy"] * 100) for x, s in points.values()])
    if len(front) > 1:
        ax.step([x for x, _ in front], [y for _, y in front], where="post", color="black",
                alpha=0.35, linewidth=1.5, label="Pareto front")
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)


def pareto_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (lower) and accuracy (higher), by cost."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or y > front[-1][1]:
            front.append((x, y))
    return front


def _curve(ax, points: list[tuple[float, float, float]]) -> None:
    """The cascade's accuracy at each threshold, labelled with the threshold."""
    ax.plot([x for _, x, _ in points], [a * 100 for _, _, a in points], "--", alpha=0.5,
            color="tab:red", label="cascade at other thresholds")
    spots: dict[tuple[float, float], list[float]] = {}
    for threshold, x, accuracy in points:  # thresholds at the same spot share one label
        spots.setdefault((round(x, 9), round(accuracy, 9)), []).append(threshold)
    for (x, accuracy), thresholds in spots.items():
        label = f"{thresholds[0]:.2f}" if len(thresholds) == 1 \
            else f"{min(thresholds):.2f}-{max(thresholds):.2f}"
        ax.annotate(label, (x, accuracy * 100), fontsize=7, alpha=0.7,
                    textcoords="offset points", xytext=(3, -9))
