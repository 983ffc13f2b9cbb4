"""The figures: Wilson intervals, paired differences and McNemar, the comparison and the report."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.datasets import load_problems
from math_router.evals.stats import mcnemar_exact, paired_difference, wilson_interval
from math_router.testing import (ChatServer, answering_orchestrator, answering_specialist,
                                 completion, user_question)
from tests.eval_cli import GOLD, MATH500, SEED, run_eval


def test_wilson_interval_and_mcnemar_match_known_values():
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)
    assert wilson_interval(0, 0) is None
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)  # 2 * (1 + 7) / 2**7
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0


def test_the_paired_difference_uses_the_pairing():
    diff = paired_difference(both=40, only_a=8, only_b=2, neither=10)
    assert diff["estimate"] == pytest.approx(0.1)
    assert diff["low"] < 0.1 < diff["high"]
    # Two independent intervals would be wider than the paired one when outcomes correlate.
    wa, wb = wilson_interval(48, 60), wilson_interval(42, 60)
    assert diff["high"] - diff["low"] < (wa[1] - wa[0]) + (wb[1] - wb[0])
    same = paired_difference(both=30, only_a=3, only_b=3, neither=4)
    assert same["estimate"] == 0 and same["low"] == pytest.approx(-same["high"], abs=1e-9)


def test_comparison_has_intervals_pairs_and_a_math500_breakdown(tmp_path):
    problems = load_problems(MATH500, 8, SEED)
    gold = {p.question: p.gold for p in problems}
    wrong = {problems[0].question, problems[1].question}

    def orchestrator(request):
        question = user_question(request)
        answer = "41" if question in wrong else gold[question]
        return completion(f"\\boxed{{{answer}}}", prompt_tokens=50, completion_tokens=100)

    def specialist(request):
        return completion(f"\\boxed{{{gold.get(user_question(request), 0)}}}")

    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = run_eval(out, orch, "--method", "llm,slm", "--price", "qwen-math=0,0",
                          dataset=MATH500, n=8, spec=spec)
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    llm, slm = comparison["methods"]["llm"], comparison["methods"]["slm"]
    assert llm["accuracy"] == 0.75 and llm["accuracy_ci"] == pytest.approx(list(wilson_interval(6, 8)))
    assert comparison["pairs"] == [{"a": "llm", "b": "slm", "n": 8, "only_a": 0, "only_b": 2,
                                    "p_value": 0.5}]
    assert slm["cost_vs_llm"] == 0 and slm["accuracy_delta_vs_llm"]["estimate"] == 0.25
    subjects = {p.meta["subject"] for p in problems}
    assert set(llm["by_subject"]) == subjects and sum(g["n"] for g in llm["by_level"].values()) == 8



def test_report_writes_a_markdown_report_with_the_plots(tmp_path):
    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch, \
            ChatServer(answering_specialist(GOLD)) as spec:
        assert run_eval(out, orch, "--method", "llm,slm", "--price", "qwen-math=0,0",
                        spec=spec).exit_code == 0
    result = CliRunner().invoke(cli, ["report", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text()
    assert "| llm " in text and "[" in text and "![accuracy_vs_cost](accuracy_vs_cost.png)" in text
    assert (out / "accuracy_vs_cost.png").stat().st_size > 1000
    assert "list prices of 2026-12-04" in text


def test_report_without_matplotlib_writes_both_pages_and_says_why_no_plots(tmp_path, monkeypatch):
    import sys as _sys

    from math_router.testing import answering_orchestrator
    from tests.eval_cli import GOLD, run_eval

    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch:
        assert run_eval(out, orch, "--method", "llm").exit_code == 0
    monkeypatch.setitem(_sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = CliRunner().invoke(cli, ["report", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "plots left out: matplotlib is not installed" in result.output
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert not (out / "latency.png").exists()


def test_the_report_says_elapsed_time_and_the_concurrency_seconds_were_measured_at(tmp_path):
    import time as _time

    from math_router.testing import completion

    out = tmp_path / "run"
    with ChatServer(lambda request: completion("\\boxed{1}"), delay=0.2) as orch:
        started = _time.monotonic()
        assert run_eval(out, orch, "--method", "llm", "--concurrency", "3").exit_code == 0
        took = _time.monotonic() - started
    entry = json.loads((out / "run.json").read_text())["methods"]["llm"]
    assert entry["concurrency"] == 3 and 0 < entry["elapsed_seconds"] <= took
    methods = json.loads((out / "comparison.json").read_text())["methods"]
    # Six problems of 0.2 s each, three at a time: elapsed is about 0.4 s, not the 1.2 s sum.
    assert methods["llm"]["elapsed_seconds"] < sum(6 * [0.2])
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert "at concurrency" in report.output and "elapsed s" in report.output
