"""After gpt-4o-mini: the router, the cascade and the llm baseline against a server that
behaves as gpt-6-luna does in Chat Completions (tools only at reasoning effort none,
temperature refused while it thinks, max_completion_tokens, reasoning tokens billed as
output), shutdown dates, models that are gone, and the price table."""

from __future__ import annotations

import datetime
import json

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine import openai_models
from math_router.engine.pricing import BATCH_PRICES, DEFAULT_PRICES, cost, lookup
from math_router.engine.trace import Usage
from math_router.evals.records import read_records
from math_router.testing import (BatchBehaviour, ChatServer, ReasoningRules, answering_orchestrator,
                                 answering_specialist, completion, router_orchestrator,
                                 specialist_answering)
from tests.eval_cli import GOLD, PROBLEMS, one_line, run_eval

LUNA = ReasoningRules()
SERVED = ("gpt-6-luna", "gpt-6-sol", "gpt-4o-mini")


def luna(respond, **kw) -> ChatServer:
    return ChatServer(respond, models=SERVED, reasoning=LUNA, **kw)


def solve(*args, env=None):
    return CliRunner().invoke(cli, ["solve", *args], env={"OPENAI_API_KEY": "sk-test", **(env or {})},
                              catch_exceptions=False)


def test_a_key_and_no_model_call_gpt_6_luna_with_effort_none_on_tool_turns():
    with luna(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "qwen-math",
                       "--specialist-model", "qwen-math", "--model-first-call", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["answer"] == "393"
    assert [r["model"] for r in orch.requests] == ["gpt-6-luna", "gpt-6-luna"]
    for request in orch.requests:  # every router turn offers slm_help
        assert request["tools"] and request["reasoning_effort"] == "none"
        assert "max_tokens" not in request
    assert data["models"]["orchestrator"] == "gpt-6-luna"
    assert data["usage"]["orchestrator"]["reasoning_tokens"] == 0
    # At gpt-6-luna's list prices: $0.10 in, $0.50 out per million.
    assert data["component_cost_usd"]["orchestrator"] == pytest.approx((120 + 400) * 0.10 / 1e6
                                                                       + (20 + 12) * 0.50 / 1e6)


def test_solve_help_names_the_default_model():
    result = CliRunner().invoke(cli, ["solve", "--help"])
    assert "gpt-6-luna" in result.output and "--reasoning-effort" in result.output


@pytest.mark.parametrize("effort", [None, "none", "low", "medium", "high"])
def test_the_llm_baseline_at_each_effort_counts_and_prices_its_reasoning(effort):
    asked = ["--llm-reasoning-effort", effort] if effort else []
    with luna(lambda request: completion("Step by step. \\boxed{393}", prompt_tokens=50,
                                         completion_tokens=100)) as orch:
        result = solve("27*14+15", "--method", "llm", "--base-url", orch.url, "--json",
                       "--orchestrator-max-tokens", "4000", *asked)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    request = orch.requests[-1]
    # Not told: no effort sent, the model at the API's default (medium), as users call it.
    assert request.get("reasoning_effort") == effort
    thinks = (effort or "medium") != "none"
    assert ("temperature" in request) is not thinks  # refused while it thinks
    assert request["max_completion_tokens"] == 4000 and "max_tokens" not in request
    reasoning = LUNA.reasoning_tokens[effort or "medium"]
    usage = data["usage"]["orchestrator"]
    assert usage["reasoning_tokens"] == reasoning and usage["output_tokens"] == 100 + reasoning
    assert data["cost_usd"] == pytest.approx((50 * 0.10 + (100 + reasoning) * 0.50) / 1e6)


def test_a_tool_turn_at_an_effort_the_server_refuses_says_the_fix_in_one_line():
    with luna(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "qwen-math",
                       "--reasoning-effort", "medium", "--model-first-call")
    line = one_line(result)
    assert "only at reasoning effort none" in line and "--reasoning-effort none" in line
    assert "--llm-reasoning-effort medium" in line


def test_a_reasoning_model_we_did_not_know_learns_to_take_tools_at_none():
    """A proxy's own name for a reasoning model: its first tool turn is refused at the default
    effort, resent at none, and said once."""
    def respond(request):
        effort = request.get("reasoning_effort", "medium")
        if request.get("tools") and effort != "none":
            return openai_like_400("Function tools with reasoning_effort are not supported for "
                                   "house-thinker in /v1/chat/completions. Please use "
                                   "/v1/responses instead.")
        return router_orchestrator()(request)

    with ChatServer(respond, models=("house-thinker",)) as orch, \
            ChatServer(specialist_answering()) as spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "qwen-math",
                       "--model-first-call", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["answer"] == "393"
    assert sum("only at reasoning_effort none" in n for n in data["notes"]) == 1
    assert orch.requests[-1]["reasoning_effort"] == "none"


def openai_like_400(message: str):
    from math_router.testing import invalid_request

    return invalid_request(message, "reasoning_effort")


def test_an_effort_the_model_refuses_is_left_out_after_the_first_refusal():
    with luna(lambda request: completion("\\boxed{393}")) as orch:
        result = solve("27*14+15", "--method", "llm", "--base-url", orch.url, "--json",
                       "--model", "gpt-4o-mini", "--llm-reasoning-effort", "low")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[result.output.index("{"):])
    assert data["answer"] == "393"
    assert any("refused reasoning_effort" in n for n in data["notes"])
    assert "reasoning_effort" not in orch.requests[-1]
    assert orch.requests[-1]["temperature"] == 0.0  # a model that does not think keeps it


def test_the_effort_is_part_of_the_cache_key(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    with luna(lambda request: completion("\\boxed{393}")) as orch:
        args = ["27*14+15", "--method", "llm", "--base-url", orch.url, "--json"]
        for effort in ("low", "low", "high"):
            assert solve(*args, "--llm-reasoning-effort", effort, env=env).exit_code == 0
    assert [r["reasoning_effort"] for r in orch.requests] == ["low", "high"]


def test_router_cascade_and_llm_run_side_by_side_with_effort_recorded(tmp_path):
    """The modern comparison: the llm thinking at medium against the router at none."""
    out = tmp_path / "run"
    with luna(answering_orchestrator(GOLD, wrong={PROBLEMS[0].question})) as orch, \
            ChatServer(answering_specialist(GOLD)) as spec:
        result = run_eval(out, orch, "--method", "llm,router,cascade", "--model", "gpt-6-luna",
                          "--llm-reasoning-effort", "medium", "--threshold", "1.01", spec=spec)
    assert result.exit_code == 0, result.output
    for request in orch.requests:
        assert request["model"] == "gpt-6-luna"
        assert request["reasoning_effort"] == ("none" if request.get("tools") else "medium")
    info = json.loads((out / "run.json").read_text())["methods"]
    assert info["llm"]["settings"]["reasoning_effort"] == "medium"
    assert info["router"]["settings"]["reasoning_effort"] == "none"
    assert info["cascade"]["settings"]["reasoning_effort"] == "none"
    llm = read_records(out / "results_llm.jsonl")
    assert all(r["reasoning_tokens"] == LUNA.reasoning_tokens["medium"] for r in llm)
    router = read_records(out / "results_router.jsonl")
    assert all(r["reasoning_tokens"] == 0 for r in router)
    report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    assert "gpt-6-luna (effort medium)" in report.output and "gpt-6-luna (effort none)" in report.output
    assert "of which reasoning" in report.output
    comparison = json.loads((out / "comparison.json").read_text())["methods"]
    assert comparison["llm"]["orchestrator_reasoning_tokens"] == 6 * LUNA.reasoning_tokens["medium"]
    html = (out / "report.html").read_text()
    assert "effort medium" in html and "reasoning_tokens" in html


def test_reasoning_tokens_come_back_in_batch_output_lines_and_are_priced_at_its_tier(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"question": q}) + "\n" for q in list(GOLD)[:3]))
    with luna(lambda request: completion("\\boxed{1}", prompt_tokens=50, completion_tokens=20),
              batch=BatchBehaviour(seconds=0.2)) as orch:
        result = solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / "b"),
                       "--base-url", orch.url, "--batch-api", "--batch-poll", "0.05",
                       "--no-progress", "--llm-reasoning-effort", "high")
        assert result.exit_code == 0, result.output
        assert all(line["body"]["reasoning_effort"] == "high" for line in orch.batch_api.lines)
    rows = read_records(tmp_path / "b" / "answers.jsonl")
    high = LUNA.reasoning_tokens["high"]
    assert all(r["reasoning_tokens"] == high and r["batch_calls"] == 1 for r in rows)
    assert all(r["cost_usd"] == pytest.approx((50 * 0.05 + (20 + high) * 0.25) / 1e6) for r in rows)


def test_a_retiring_model_is_named_with_its_date_before_the_first_call():
    with ChatServer(lambda request: completion("\\boxed{393}"), models=SERVED,
                    shutdown_dates={"gpt-4o-mini": "2027-01-14"}) as orch:
        result = solve("27*14+15", "--method", "llm", "--base-url", orch.url,
                       "--model", "gpt-4o-mini")
        quiet = solve("27*14+15", "--method", "llm", "--base-url", orch.url,
                      "--model", "gpt-6-luna")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "2027-01-14" in line]
    assert len(notes) == 1 and "gpt-4o-mini leaves OpenAI's API on 2027-01-14" in notes[0]
    assert "--model gpt-6-luna" in notes[0]
    assert "leaves OpenAI's API" not in quiet.output


def test_check_names_the_default_models_shutdown_date():
    with ChatServer(lambda request: completion("OK"), models=SERVED,
                    shutdown_dates={"gpt-4o-mini": "2027-01-14"}) as orch:
        result = CliRunner().invoke(cli, ["check", "--no-data", "--base-url", orch.url,
                                          "--model", "gpt-4o-mini"],
                                    env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert "gpt-4o-mini leaves OpenAI's API on 2027-01-14" in result.output


def test_a_model_that_is_gone_ends_in_one_line_with_its_date_and_replacement():
    with ChatServer(lambda request: completion("\\boxed{393}"), models=SERVED,
                    only_listed=True) as orch:
        result = solve("27*14+15", "--method", "llm", "--base-url", orch.url,
                       "--model", "gpt-4.1-nano")
    line = one_line(result)
    assert "gpt-4.1-nano left OpenAI's API on 2026-10-23" in line
    assert "--model gpt-5.6-luna" in line and "HTTP 404" in line


def test_the_retirement_table_reads_snapshots_and_counts_days():
    day = datetime.date(2026, 12, 4)
    assert openai_models.retirement("gpt-4o-mini-2024-07-18").replacement == "gpt-6-luna"
    assert openai_models.retirement("gpt-6-luna") is None
    line = openai_models.shutdown_line("gpt-4o-mini", "2027-01-14", today=day)
    assert line.startswith("gpt-4o-mini leaves OpenAI's API on 2027-01-14, in 41 days")
    assert openai_models.reasons_by_default("gpt-6-luna")
    assert openai_models.reasons_by_default("o4-mini-2025-04-16")
    assert not openai_models.reasons_by_default("gpt-4o-mini")


def test_each_batch_price_is_half_its_standard_price():
    assert set(BATCH_PRICES) == set(DEFAULT_PRICES)
    for name, standard in DEFAULT_PRICES.items():
        batch = BATCH_PRICES[name]
        assert batch.input_per_million == pytest.approx(standard.input_per_million / 2), name
        assert batch.output_per_million == pytest.approx(standard.output_per_million / 2), name
        assert batch.cached_input_per_million == pytest.approx(
            standard.cached_input_per_million / 2), name


def test_the_table_holds_the_models_a_user_would_pick_and_no_gone_one():
    for name in ("gpt-6-luna", "gpt-6-sol", "gpt-5.6-luna", "gpt-5.4-mini", "gpt-5.4-nano",
                 "gpt-4o-mini", "gpt-5-mini"):
        assert lookup(name) is not None, name
    assert lookup("gpt-6-luna") == DEFAULT_PRICES["gpt-6-luna"]
    gone = [name for name, r in openai_models.RETIREMENTS.items()
            if r.shutdown <= datetime.date(2026, 12, 4)]
    assert gone and all(lookup(name) is None for name in gone)
    # Retiring ones stay until their date; an unknown model is never free.
    for name in DEFAULT_PRICES:
        retiring = openai_models.retirement(name)
        assert retiring is None or retiring.shutdown > datetime.date(2026, 12, 4), name
    assert cost("gpt-unknown", Usage.of_call(10, 10)) is None


def test_reasoning_tokens_are_output_and_reprice_keeps_them(tmp_path):
    usage = Usage.of_call(1000, 700, reasoning_tokens=500)
    assert cost("gpt-6-luna", usage) == pytest.approx((1000 * 0.10 + 700 * 0.50) / 1e6)
    replayed = usage.replayed()
    assert replayed.spent().reasoning_tokens == 0 and (usage + usage).reasoning_tokens == 1000


def test_serve_runs_the_router_and_the_llm_against_the_luna_like_server(tmp_path):
    from tests.test_server import orchestrator, specialist, start

    with ChatServer(orchestrator, models=SERVED, reasoning=LUNA,
                    shutdown_dates={"gpt-4o-mini": "2027-01-14"}) as orch, \
            ChatServer(specialist) as spec:
        served = start(tmp_path, orch, spec, "--model", "gpt-4o-mini", "--methods", "llm,router",
                       "--llm-model", "gpt-6-luna", "--llm-reasoning-effort", "high")
        try:
            client = served.client()
            router = client.chat.completions.create(
                model="router", messages=[{"role": "user", "content": "What is 20 plus 22?"}])
            llm = client.chat.completions.create(
                model="llm", messages=[{"role": "user", "content": "What is 20 plus 22?"}])
        finally:
            served.proc.terminate()
            served.proc.wait(10)
    assert "42" in router.choices[0].message.content and "42" in llm.choices[0].message.content
    llm_request = [r for r in orch.requests if r["model"] == "gpt-6-luna"][-1]
    assert llm_request["reasoning_effort"] == "high" and "temperature" not in llm_request
    assert llm.usage.completion_tokens == 20 + LUNA.reasoning_tokens["high"]
    assert llm.usage.completion_tokens_details.reasoning_tokens == LUNA.reasoning_tokens["high"]
    assert "gpt-4o-mini leaves OpenAI's API on 2027-01-14" in served.output.read_text()
