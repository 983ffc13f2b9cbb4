"""Read a results folder and say what it shows: comparison.json, the tables, report.md.

Reading never modifies a results file; a damaged one ends in one line naming
the file and the line.
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs

from math_router.engine.errors import UserError
from math_router.engine.pricing import Price
from math_router.evals.compare import BASELINE, compare, paired, reprice
from math_router.evals.probe_curve import probe_curve
from math_router.evals.methods import METHODS
from math_router.evals.folders import (AnswerFolder, EvalFolder, read_json, write_json_atomic,
                                      write_text_atomic)
from math_router.evals.records import latest_records, read_records


def load_results(out: Path, prices: dict[str, Price] | None = None) -> dict[str, list[dict]]:
    """The latest record of each problem, per method, in the usual method order.

    `prices` reprices the records from their tokens (a finished run, new prices).
    """
    if not out.is_dir():
        raise UserError(f"no results folder at {out}")
    found = {p.stem.removeprefix("results_"): p for p in out.glob("results_*.jsonl")}
    answers = AnswerFolder(out).answers
    if not found and answers.exists():  # a `solve --input` folder: one method's answers
        found = {_answers_method(out, answers): answers}
    if not found:
        raise UserError(f"{out} holds no results_<method>.jsonl files (nor a solve --input "
                        "folder's answers.jsonl)")
    known = list(METHODS)
    order = sorted(found, key=lambda m: (known.index(m) if m in known else 99, m))
    results = {}
    for method in order:
        raw = read_records(found[method])
        for number, r in enumerate(raw, 1):
            if not isinstance(r, dict) or not {"id", "error", "correct", "usage"} <= set(r):
                raise UserError(f"{found[method]}: record {number} is not a result record; "
                                "the file is damaged")
        records = list(latest_records(raw).values())
        results[method] = reprice(records, prices) if prices else records
    return results


def latency_alone(path: Path) -> dict | None:
    """Seconds per problem answered one at a time without the cache (--latency-sample)."""
    import statistics

    seconds = [r["seconds"] for r in latest_records(read_records(path)).values()
               if r.get("error") is None and r.get("seconds") is not None] if path.exists() else []
    if not seconds:
        return None
    return {"n": len(seconds), "concurrency": 1, "mean_seconds": statistics.fmean(seconds),
            "median_seconds": statistics.median(seconds)}


def _answers_method(out: Path, answers: Path) -> str:
    """The method a solve --input folder answered with (its run.json says; else its records)."""
    method = (AnswerFolder(out).info().get("settings") or {}).get("method")
    if method:
        return method
    first = next(iter(read_records(answers)), None)
    return (first or {}).get("method") or "answers"


def write_comparison(out: Path, results: dict[str, list[dict]] | None = None,
                     repriced: dict[str, Price] | None = None) -> dict:
    """comparison.json: per method the figures of the tables, the pairwise tests, the prices
    (with the `--price` overrides the figures were repriced at, named)."""
    results = load_results(out, repriced) if results is None else results
    info = read_json(out / "run.json") if (out / "run.json").exists() else {}
    comparison = compare(results, EvalFolder(out).sample_size())
    for method, stats in comparison["methods"].items():
        # An eval's run.json keeps each method's settings; a solve --input folder's, its one.
        entry = info.get("methods", {}).get(method) or {"settings": info.get("settings", {})}
        stats["settings"] = entry.get("settings", {})
        if entry.get("served_models"):
            stats["served_models"] = entry["served_models"]
        # Wall-clock seconds of the method's part of the run(s), and the concurrency its
        # per-problem seconds were measured at (they include waiting for shared cores).
        stats["elapsed_seconds"] = entry.get("elapsed_seconds")
        stats["concurrency"] = entry.get("concurrency")
        stats["latency_alone"] = latency_alone(EvalFolder(out).latency(method))
    if repriced:
        comparison["prices"]["overrides"] = {name: attrs.asdict(price)
                                             for name, price in sorted(repriced.items())}
    comparison["calibration"] = info.get("calibration")
    curve = probe_curve(results)
    if curve is not None:
        comparison["probe_curve"] = curve
    comparison["date"] = time.strftime("%Y-%m-%d")
    write_json_atomic(out / "comparison.json", comparison)
    return comparison


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _interval(ci) -> str:
    return "" if not ci else f" [{ci[0]:.0%}, {ci[1]:.0%}]"


def _money(value: float | None, digits: int = 4) -> str:
    return "unknown" if value is None else f"${value:.{digits}f}"


def tradeoff_rows(comparison: dict) -> tuple[list[str], list[list[str]]]:
    """The table the report leads with: accuracy and cost, each method against the llm."""
    rows = []
    for method, s in comparison["methods"].items():
        delta = s.get("accuracy_delta_vs_llm")
        if method == BASELINE or delta is None:
            delta_text = "(baseline)" if method == BASELINE else "-"
        else:
            delta_text = (f"{delta['estimate']:+.1%} [{delta['low']:+.0%}, {delta['high']:+.0%}]")
        ratio = s.get("cost_vs_llm")
        n_text = str(s["n"]) + (f" (+{s['errors']} errors)" if s["errors"] else "") + \
            ("" if s["complete"] else " incomplete")
        rows.append([method, _models(s), n_text, _percent(s["accuracy"]) + _interval(s["accuracy_ci"]),
                     delta_text, _money(s["cost_per_problem_usd"], 6),
                     "-" if ratio is None else f"{ratio:.2f}x",
                     "-" if s["orchestrator_tokens_per_problem"] is None
                     else f"{s['orchestrator_tokens_per_problem']:,.0f}",
                     "-" if "escalation_rate" not in s else _percent(s["escalation_rate"])])
    headers = ["method", "models", "answered", "accuracy [95% CI]", "vs llm, paired [95% CI]",
               "cost/problem", "cost vs llm", "orchestrator tok/problem", "escalated"]
    return headers, rows


def tradeoff_table(comparison: dict) -> str:
    from tabulate import tabulate

    headers, rows = tradeoff_rows(comparison)
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def details_table(comparison: dict) -> str:
    """Tokens, seconds and what this run spent (the response cache answers some calls free)."""
    from tabulate import tabulate

    def secs(value):
        return "-" if value is None else f"{value:.2f}"

    rows = []
    for method, s in comparison["methods"].items():
        spent = s["spent"]
        rows.append([method, "-" if s.get("concurrency") is None else str(s["concurrency"]),
                     secs(s["mean_seconds"]), secs(s["median_seconds"]),
                     f"{s['orchestrator_input_tokens']:,} / {s['orchestrator_output_tokens']:,}",
                     f"{s.get('orchestrator_reasoning_tokens', 0):,}",
                     f"{s['specialist_input_tokens']:,} / {s['specialist_output_tokens']:,}",
                     "-" if s["tool_calls_per_problem"] is None else f"{s['tool_calls_per_problem']:.2f}",
                     _money(s["total_cost_usd"]), _money(spent["cost_usd"]),
                     f"{spent['calls']} / {spent['cached_calls']}",
                     "-" if s.get("elapsed_seconds") is None else f"{s['elapsed_seconds']:.0f}",
                     _alone(s.get("latency_alone"))])
    headers = ["method", "at concurrency", "mean s", "median s", "orchestrator tok in/out",
               "of which reasoning", "specialist tok in/out",
               "tool calls/problem", "cost", "spent this run", "calls real / cached",
               "elapsed s", "median s alone (n)"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def components_text(comparison: dict) -> str:
    """Each model behind each method apart, when a method has more than the orchestrator and
    the specialist (a specialist tool: its calls, tokens, seconds, cost)."""
    from tabulate import tabulate

    methods = comparison["methods"]
    if not any(set(s.get("components") or {}) - {"orchestrator", "specialist"}
               for s in methods.values()):
        return ""
    rows = [[method, component, f"{c['calls']:,}", f"{c['input_tokens']:,} / {c['output_tokens']:,}",
             f"{c['seconds']:.1f}", _money(c["cost_usd"], 6)]
            for method, s in methods.items() for component, c in (s.get("components") or {}).items()]
    return "By component (every model call of each method):\n" + tabulate(
        rows, headers=["method", "component", "calls", "tokens in / out", "seconds", "cost"],
        tablefmt="github", disable_numparse=True)


def _alone(latency: dict | None) -> str:
    return "-" if not latency else f"{latency['median_seconds']:.2f} ({latency['n']})"


def _models(stats: dict) -> str:
    effort = (stats.get("settings") or {}).get("reasoning_effort")
    parts = [f"{component}: {', '.join(names)}"
             + (f" (effort {effort})" if component == "orchestrator" and effort else "")
             for component, names in stats["models"].items()
             if component in ("orchestrator", "specialist")]
    return "; ".join(parts) or "-"


def pairs_text(comparison: dict) -> str:
    lines = ["Paired on the problems both answered (McNemar's exact test):"]
    for p in comparison["pairs"]:
        lines.append(f"  {p['a']} vs {p['b']}: {p['n']} problems, only {p['a']} right {p['only_a']}, "
                     f"only {p['b']} right {p['only_b']}, p = {p['p_value']:.3g}")
    return "\n".join(lines) if comparison["pairs"] else ""


def versus_llm_text(comparison: dict) -> str:
    """Which problems each method got that the llm missed, and the reverse."""
    lines = []
    for method, s in comparison["methods"].items():
        if "solved_not_by_llm" not in s:
            continue
        gained, lost = s["solved_not_by_llm"], s["solved_only_by_llm"]
        lines.append(f"  {method}: right where the llm was wrong: {len(gained)}{_ids(gained)}; "
                     f"wrong where the llm was right: {len(lost)}{_ids(lost)}")
    return ("Against the llm, problem by problem:\n" + "\n".join(lines)) if lines else ""


def _ids(ids: list[str]) -> str:
    return "" if not ids else " (" + ", ".join(ids[:6]) + (", ..." if len(ids) > 6 else "") + ")"


def breakdown_text(comparison: dict) -> str:
    from tabulate import tabulate

    lines = []
    for key in ("by_subject", "by_level"):
        methods = [m for m, s in comparison["methods"].items() if key in s]
        if not methods:
            continue
        groups = sorted({g for m in methods for g in comparison["methods"][m][key]})
        rows = [[g] + [_cell(comparison["methods"][m][key].get(g)) for m in methods] for g in groups]
        lines.append(f"Accuracy {key.replace('_', ' ')}:")
        lines.append(tabulate(rows, headers=[key[3:]] + methods, tablefmt="github",
                              disable_numparse=True))
    return "\n".join(lines)


def _cell(group: dict | None) -> str:
    return "-" if group is None else f"{group['accuracy']:.0%} of {group['n']}"


def curve_text(comparison: dict) -> str:
    from tabulate import tabulate

    lines = []
    for method, s in comparison["methods"].items():
        if "threshold_curve" not in s:
            continue
        rows = [[f"{p['threshold']:.2f}", _percent(p["accuracy"]), f"{p['escalation_rate']:.1%}",
                 _money(p["total_cost_usd"])] for p in s["threshold_curve"]]
        lines.append(f"{method}: accuracy and cost by threshold (recomputed from the recorded "
                     f"samples; ran at {s['threshold']:.2f})"
                     + ("; the vote only, nobody was asked, so where problems would escalate "
                        "accuracy and cost are unknown" if s.get("vote_only") else ""))
        lines.append(tabulate(rows, headers=["threshold", "accuracy", "escalated", "cost"],
                              tablefmt="github", disable_numparse=True))
    return "\n".join(lines)


def probe_curve_text(comparison: dict) -> str:
    from tabulate import tabulate

    curve = comparison.get("probe_curve")
    if not curve:
        return ""
    lines = [f"probe: the routing replayed at each escalation share on {curve['problems']} "
             "problems (the lowest P(specialist right) to the orchestrator alone, as the llm "
             "answered them; the rest the specialist's greedy answer, as slm answered them)"]
    rows = [[f"{p['escalation_share']:.0%}", _percent(p["accuracy"]), _interval(p["accuracy_ci"]),
             _money(p["total_cost_usd"], 6), f"{p['specialist_output_tokens']:,}"]
            for p in curve["points"]]
    lines.append(tabulate(rows, headers=["escalated", "accuracy", "95% CI", "cost",
                                         "specialist tokens out"],
                          tablefmt="github", disable_numparse=True))
    cascade = curve.get("cascade")
    if cascade:
        probe, diff = cascade["probe_at_same_rate"], cascade["probe_minus_cascade"]
        lines.append(
            f"At the cascade's escalation rate ({cascade['escalation_rate']:.0%} of "
            f"{cascade['problems']}): cascade {_percent(cascade['accuracy'])}, "
            f"{cascade['specialist_output_tokens']:,} specialist tokens out, cost "
            f"{_money(cascade['total_cost_usd'], 6)}; probe {_percent(probe['accuracy'])}, "
            f"{probe['specialist_output_tokens']:,} tokens out, cost "
            f"{_money(probe['total_cost_usd'], 6)}; probe minus cascade "
            f"{diff['estimate'] * 100:+.1f} points [{diff['low'] * 100:+.1f}, "
            f"{diff['high'] * 100:+.1f}] (paired).")
    return "\n".join(lines)


def agreement(results: dict[str, list[dict]]) -> dict:
    """Which problems every method solved, none did, or only some did (answered by all)."""
    methods = list(results)
    solved = {m: {r["id"] for r in recs if r["correct"]} for m, recs in results.items()}
    common = set.intersection(*({r["id"] for r in recs if r["error"] is None}
                                for recs in results.values()))
    by_all = sorted(i for i in common if all(i in solved[m] for m in methods))
    by_none = sorted(i for i in common if not any(i in solved[m] for m in methods))
    only = {m: sorted(i for i in common if i in solved[m] and not any(
        i in solved[o] for o in methods if o != m)) for m in methods}
    some = sorted(set(common) - set(by_all) - set(by_none))
    return {"problems": len(common), "solved_by_all": by_all, "solved_by_none": by_none,
            "solved_by_some": some, "solved_only_by": only}


def agreement_text(result: dict) -> str:
    lines = [f"Per-problem agreement over {result['problems']} problems every method answered:",
             f"  solved by all:  {len(result['solved_by_all'])}",
             f"  solved by some: {len(result['solved_by_some'])}",
             f"  solved by none: {len(result['solved_by_none'])}"]
    only = result["solved_only_by"]
    for method, ids in (only.items() if len(only) > 1 else []):  # "only" needs another method
        lines.append(f"  only {method}: {len(ids)}{_ids(ids)}")
    return "\n".join(lines)


def notes(comparison: dict) -> list[str]:
    """What a reader must know to read the tables right."""
    overrides = comparison["prices"].get("overrides") or {}
    repriced = ("Repriced with --price " + ", ".join(
        f"{name}={p['input_per_million']:g},{p['output_per_million']:g}"
        + ("" if p.get("cached_input_per_million") is None else f",{p['cached_input_per_million']:g}")
        for name, p in overrides.items()) + " (USD per million tokens in, out[, cached in]); "
        "other models at " if overrides else "Prices: ")
    said = [f"{repriced}list prices of {comparison['prices']['date']} "
            f"({comparison['prices']['source']}); models run in process cost 0 unless --price "
            "names them. Tokens, seconds and cost are each method's own, as measured when each "
            "call ran, even when the response cache answered it in this run; what this run spent "
            "is in its own columns."]
    batched = {m: s.get("batch_calls") for m, s in comparison["methods"].items() if s.get("batch_calls")}
    if batched:
        prices = comparison["prices"]
        said.append("Through the OpenAI Batch API: " + ", ".join(
            f"{calls} orchestrator call(s) of {m}" for m, calls in batched.items())
            + f", priced at the Batch API's tier ({prices.get('batch_date')}, "
              f"{prices.get('batch_source')}); the other calls at the standard tier.")
    calibration = comparison.get("calibration")
    if calibration:
        said.append(f"The cascade's threshold {calibration['threshold']} was chosen on "
                    f"{len(calibration['problem_ids'])} calibration problems from "
                    f"{calibration['dataset']} for the target \"{calibration['target']}\", "
                    "not on these test problems.")
    incomplete = [m for m, s in comparison["methods"].items() if not s["complete"]]
    if incomplete:
        said.append(f"Incomplete: {', '.join(incomplete)} (errors or unfinished problems); "
                    "rerun the eval with the same --out to finish.")
    return said


def report_text(comparison: dict, results: dict[str, list[dict]]) -> str:
    parts = [tradeoff_table(comparison), "", details_table(comparison), ""]
    for text in (versus_llm_text(comparison), pairs_text(comparison), breakdown_text(comparison),
                 agreement_text(agreement(results)), curve_text(comparison),
                 probe_curve_text(comparison), components_text(comparison)):
        if text:
            parts += [text, ""]
    parts += notes(comparison)
    return "\n".join(parts)


def write_markdown(out: Path, comparison: dict, results: dict[str, list[dict]],
                   plots: list[Path]) -> Path:
    """report.md: the tables, intervals and plots of the folder, to share as one file."""
    lines = [f"# Results: {_title(out)}", "",
             f"Made {comparison['date']} from `{out}`.", "", "## Accuracy and cost against the llm",
             "", tradeoff_table(comparison), "", "## Tokens, seconds, spending", "",
             details_table(comparison), ""]
    for title, text in (("Problem by problem", versus_llm_text(comparison)),
                        ("Paired tests", pairs_text(comparison)),
                        ("Breakdown", breakdown_text(comparison)),
                        ("Agreement", agreement_text(agreement(results))),
                        ("Cascade threshold curve", curve_text(comparison)),
                        ("Probe routing curve", probe_curve_text(comparison)),
                        ("By component", components_text(comparison))):
        if text:
            fenced = text if text.lstrip().startswith("|") else f"```\n{text}\n```"
            lines += [f"## {title}", "", fenced, ""]
    lines += ["## Plots", ""] + ([f"![{p.stem}]({p.name})" for p in plots]
                                 or ["None in this report: `report --no-plots`, or matplotlib "
                                     "is not installed (`pip install 'math-router[plot]'`)."]) + [""]
    lines += ["## Notes", ""] + [f"- {n}" for n in notes(comparison)] + [""]
    path = out / "report.md"
    write_text_atomic(path, "\n".join(lines))
    return path




def _problems(out: Path) -> dict[str, dict]:
    """The folder's problems by id (samples.csv), in their order."""
    from math_router.evals.folders import read_samples

    folder = EvalFolder(out)
    if folder.samples.exists():
        return {row["id"]: row for row in read_samples(folder.samples)}
    answers = AnswerFolder(out).answers
    if answers.exists():  # a solve --input folder: each answer keeps its question
        return {r["id"]: {"id": r["id"], "question": r.get("question"), "gold": r.get("gold")}
                for r in read_records(answers)}
    return {}


def _title(out: Path) -> str:
    info = read_json(out / "run.json") if (out / "run.json").exists() else {}
    if "input" in info:  # a solve --input folder
        source = (info["input"] or {}).get("source", out.name)
        return f"your problems ({source}), {(info['input'] or {}).get('rows', '?')} rows"
    return (f"{info.get('dataset', out.name)}, {info.get('n', '?')} problems "
            f"(seed {info.get('seed', '?')})")


def write_html(out: Path, comparison: dict, results: dict[str, list[dict]],
               plots: list[Path]) -> Path:
    """report.html: the trade-off table, the plots, then every problem beside every method."""
    from math_router.evals.html_report import Section, Table, page_data, write_html as page

    return page(out / "report.html", f"Results: {_title(out)}",
                page_data([("", results)], _problems(out)),
                intro=f"Made {comparison['date']} from {out}.",
                sections=[Section("Accuracy and cost against the llm",
                                  table=Table(*tradeoff_rows(comparison)))],
                notes=notes(comparison), plots=plots)


def paired_rows(a_name: str, a: dict[str, list[dict]], b_name: str,
                b: dict[str, list[dict]]) -> tuple[list[str], list[list[str]]]:
    """Each method both runs have, run against run on the problems both answered."""
    rows = []
    for method in [m for m in a if m in b]:
        p = paired(a[method], b[method])
        d = p["difference"]
        rows.append([method, p["n"], f"{p['only_a']} / {p['only_b']}",
                     "-" if d is None else f"{d['estimate']:+.1%} [{d['low']:+.0%}, {d['high']:+.0%}]",
                     f"{p['p_value']:.3g}"])
    headers = ["method", "problems both answered", f"only {a_name} right / only {b_name} right",
               f"{a_name} minus {b_name}, paired [95% CI]", "McNemar p"]
    return headers, rows


def compare_runs(a: Path, b: Path, prices: dict[str, Price] | None = None) -> tuple[str, Path]:
    """Two runs of the same problems side by side: the text, and the page written into `a`."""
    from math_router.evals.html_report import Section, Table, page_data, write_html as page

    names = (a.name, b.name) if a.name != b.name else ("A", "B")
    runs = [load_results(a, prices), load_results(b, prices)]
    shared = set(_problems(a)) & set(_problems(b))
    if not shared and _problems(a) and _problems(b):
        raise UserError(f"{a} and {b} hold no problem in common: compare two runs of the same problems")
    comparisons = [compare(r) for r in runs]
    sections = [Section(f"Run {n}: accuracy and cost against its llm", note=str(d),
                        table=Table(*tradeoff_rows(c)))
                for n, d, c in zip(names, (a, b), comparisons)]
    headers, rows = paired_rows(names[0], runs[0], names[1], runs[1])
    sections.append(Section(f"{names[0]} against {names[1]}, paired on the problems both "
                            "answered", table=Table(headers, rows) if rows else None,
                            text="" if rows else "No method is in both runs."))
    questions = {**_problems(b), **_problems(a)}
    path = page(a / f"compare-{b.name}.html", f"{names[0]} against {names[1]}",
                page_data([(names[0], runs[0]), (names[1], runs[1])], questions),
                sections=sections)
    lines = [f"{names[0]} ({a}) against {names[1]} ({b}), on the problems both answered:"]
    for method in [m for m in runs[0] if m in runs[1]]:
        p = paired(runs[0][method], runs[1][method])
        d = p["difference"]
        lines.append(f"  {method}: {p['n']} problems, only {names[0]} right {p['only_a']}, only "
                     f"{names[1]} right {p['only_b']}"
                     + ("" if d is None else f", difference {d['estimate']:+.1%} "
                                             f"[{d['low']:+.0%}, {d['high']:+.0%}]")
                     + f", McNemar p = {p['p_value']:.3g}")
    return "\n".join(lines), path
