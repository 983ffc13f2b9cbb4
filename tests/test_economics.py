"""What routing costs against the baseline the user means, priced as users pay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.pricing import DEFAULT_PRICES, Price, parse_price
from math_router.engine.trace import Usage
from math_router.evals.datasets import load_problems
from math_router.testing import (ChatServer, answering_orchestrator, answering_specialist,
                                 completion)

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
PROBLEMS = load_problems(GSM8K, 5, 9)
GOLD = {p.question: p.gold for p in PROBLEMS}


def run(out, orch, spec, *extra):
    return CliRunner().invoke(cli, [
        "eval", "--dataset", GSM8K, "--n", "5", "--seed", "9", "--out", str(out), "--base-url", orch.url,
        "--specialist", spec.url, "--specialist-model", "qwen-math", "--price", "qwen-math=0,0",
        "--no-progress", *extra], env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)


def test_the_llm_baseline_can_be_another_model_and_cost_is_against_it(tmp_path):
    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch, ChatServer(answering_specialist(GOLD)) as spec:
        result = run(out, orch, spec, "--method", "llm,router", "--model", "gpt-4o-mini",
                     "--llm-model", "gpt-4o")
        asked = {r["model"] for r in orch.requests}
    assert result.exit_code == 0, result.output
    assert asked == {"gpt-4o", "gpt-4o-mini"}
    comparison = json.loads((out / "comparison.json").read_text())["methods"]
    assert comparison["llm"]["settings"]["orchestrator"]["model"] == "gpt-4o"
    assert comparison["router"]["settings"]["orchestrator"]["model"] == "gpt-4o-mini"
    llm_cost = 5 * (50 * 2.50 + 100 * 10.00) / 1e6  # the scripted llm reply, at gpt-4o prices
    assert comparison["llm"]["total_cost_usd"] == pytest.approx(llm_cost)
    router_cost = comparison["router"]["total_cost_usd"]
    assert comparison["router"]["cost_vs_llm"] == pytest.approx(router_cost / llm_cost)
    assert "gpt-4o" in result.output  # the table names each method's models


def test_input_from_the_apis_prompt_cache_is_priced_at_its_rate():
    usage = Usage(input_tokens=1000, output_tokens=100, calls=1, prompt_cache_hit_tokens=800)
    mini = DEFAULT_PRICES["gpt-4o-mini"]
    assert mini.cost(usage) == pytest.approx((200 * 0.15 + 800 * 0.075 + 100 * 0.60) / 1e6)
    assert Price(1.0, 2.0).cost(usage) == pytest.approx((1000 * 1.0 + 100 * 2.0) / 1e6)
    assert parse_price("mine=1,2,0.5")[1] == Price(1.0, 2.0, 0.5)


def test_prompt_cache_hits_reported_by_the_api_reach_the_record(tmp_path):
    def cached_api(request):
        reply = completion("\\boxed{1}", prompt_tokens=1000, completion_tokens=10)
        reply.body["usage"]["prompt_tokens_details"] = {"cached_tokens": 768}
        return reply

    with ChatServer(cached_api) as orch:
        result = CliRunner().invoke(cli, ["solve", "1?", "--method", "llm", "--json", "--base-url",
                                          orch.url], env={"OPENAI_API_KEY": "sk-test"},
                                    catch_exceptions=False)
    data = json.loads(result.output)
    assert data["usage"]["orchestrator"]["prompt_cache_hit_tokens"] == 768
    assert data["cost_usd"] == pytest.approx((232 * 0.15 + 768 * 0.075 + 10 * 0.60) / 1e6)


def test_a_local_model_can_be_priced_and_a_finished_run_repriced(tmp_path):
    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch, ChatServer(answering_specialist(GOLD)) as spec:
        assert run(out, orch, spec, "--method", "llm,slm").exit_code == 0
    before = (out / "results_slm.jsonl").read_bytes()
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots", "--price", "qwen-math=1,2",
                                      "--price", "gpt-4o-mini=10,20"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    comparison = json.loads((out / "comparison.json").read_text())["methods"]
    assert comparison["slm"]["total_cost_usd"] == pytest.approx(5 * (60 * 1 + 200 * 2) / 1e6)
    assert comparison["llm"]["total_cost_usd"] == pytest.approx(5 * (50 * 10 + 100 * 20) / 1e6)
    assert (out / "results_slm.jsonl").read_bytes() == before  # nothing re-run or rewritten
    assert "list prices of 2026-12-04" in report.output
    # The override is recorded and named wherever a cost is shown, not left under the list's label.
    prices = json.loads((out / "comparison.json").read_text())["prices"]
    assert prices["overrides"]["qwen-math"]["input_per_million"] == 1
    assert "Repriced with --price gpt-4o-mini=10,20, qwen-math=1,2" in report.output
    for page in ("report.md", "report.html"):
        assert "Repriced with --price gpt-4o-mini=10,20, qwen-math=1,2" in (out / page).read_text()
