"""The cascade: k samples vote; the orchestrator decides only when they disagree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.evals.datasets import load_problems
from math_router.evals.voting import StopWhenSettled
from math_router.testing import ChatServer, completion, user_question

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
N, SEED = 6, 7
PROBLEMS = load_problems(GSM8K, N, SEED)

GOLD = {p.question: p.gold for p in PROBLEMS}
# The specialist's four sampled answers per problem (index in PROBLEMS); the rest: all gold.
VOTES = {0: ["g", "g", "g", "g"],      # unanimous: no escalation
         1: ["g", "g", "g", "w"],      # 3 of 4 = 0.75: no escalation at 0.75
         2: ["w", "w", "g", "g"],      # split: escalated, the orchestrator picks gold
         3: ["w", "w", "w", "g"],      # wrong majority 0.75: stands, counted wrong
         4: ["w", "g", None, None],    # 1 of 4: escalated
         5: [None, None, None, None]}  # no answers at all: escalated


def answer_for(question: str, vote: str | None) -> str:
    if vote is None:
        return "I am not sure."
    gold = int(GOLD[question])
    return f"Working...\n\\boxed{{{gold if vote == 'g' else gold + 1}}}"


def specialist(request: dict):
    question = user_question(request)
    index = next(i for i, p in enumerate(PROBLEMS) if p.question == question)
    votes = VOTES[index]
    start = request.get("seed", 0)
    n = request.get("n", 1)
    return completion(choices=[{"index": i, "message": {"role": "assistant",
                                                        "content": answer_for(question, votes[(start + i) % 4])},
                                "finish_reason": "stop"} for i in range(n)],
                      prompt_tokens=50, completion_tokens=100 * n)


def orchestrator(request: dict):
    prompt = request["messages"][-1]["content"]
    question = prompt.split("Problem:\n", 1)[1].split("\n\nThe specialist's answers:", 1)[0]
    return completion(f"The second line of reasoning holds. \\boxed{{{GOLD[question]}}}",
                      prompt_tokens=200, completion_tokens=30, model="gpt-4o-mini")


def run(tmp_path, *extra):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = CliRunner().invoke(cli, [
            "eval", "--method", "cascade", "--dataset", GSM8K, "--n", str(N), "--seed", str(SEED),
            "--out", str(out), "--base-url", orch.url, "--specialist", spec.url,
            "--specialist-model", "qwen-math", "--price", "qwen-math=0,0", "--no-progress", *extra],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in read_records(out / "results_cascade.jsonl")}
    return out, [records[p.id] for p in PROBLEMS], orch, spec


def test_votes_escalations_and_records(tmp_path):
    out, records, orch, spec = run(tmp_path)
    assert [r["agreement"] for r in records] == [1.0, 0.75, 0.5, 0.75, 0.25, 0.0]
    assert [r["escalated"] for r in records] == [False, False, True, False, True, True]
    assert [r["correct"] for r in records] == [True, True, True, False, True, True]
    assert [r["majority_correct"] for r in records] == [True, True, False, False, False, False]
    assert records[2]["candidates"] == [
        {"answer": str(int(PROBLEMS[2].gold) + 1), "count": 2, "by_mode": {"cot": 2}},
        {"answer": PROBLEMS[2].gold, "count": 2, "by_mode": {"cot": 2}}]
    assert records[5]["candidates"] == [] and records[5]["majority"] is None
    # Four requests of one sample per problem (seeds 0-3: usage exact on every server); the
    # orchestrator only for the three escalations.
    assert len(spec.requests) == 4 * N and not any("n" in r for r in spec.requests)
    assert sorted(r["seed"] for r in spec.requests) == sorted(list(range(4)) * N)
    assert len(orch.requests) == 3
    # Workers run concurrently, so find problem 2's escalation rather than trust the order.
    escalation = next(r for r in orch.requests if PROBLEMS[2].question in r["messages"][-1]["content"])
    assert "(2 of 4)" in escalation["messages"][-1]["content"]
    assert "slm_help" in json.dumps(escalation["tools"])
    unanimous = records[0]
    assert unanimous["usage"]["orchestrator"]["calls"] == 0 and unanimous["cost_usd"] == 0
    specialist = dict(unanimous["usage"]["specialist"])
    assert specialist.pop("seconds") > 0
    # Four requests, each reading the 50-token prompt, each writing 100 tokens.
    assert specialist == {"input_tokens": 200, "output_tokens": 400, "calls": 4, "cached_calls": 0,
                          "prompt_cache_hit_tokens": 0, "reasoning_tokens": 0}

    summary = json.loads((out / "comparison.json").read_text())["methods"]["cascade"]
    assert summary["escalation_rate"] == pytest.approx(3 / 6)
    assert summary["accuracy"] == pytest.approx(5 / 6)
    per_escalation = (200 * 0.15 + 30 * 0.60) / 1e6
    assert summary["total_cost_usd"] == pytest.approx(3 * per_escalation)
    curve = {p["threshold"]: p for p in summary["threshold_curve"]}
    assert sorted(curve) == [0.0, 0.25, 0.5, 0.75]
    # Threshold 0: every majority stands (0 and 1 right); only problem 5, with no
    # answer to vote on, still goes to the orchestrator (and is right).
    assert curve[0.0]["accuracy"] == pytest.approx(3 / 6)
    assert curve[0.0]["escalation_rate"] == pytest.approx(1 / 6)
    assert curve[0.0]["total_cost_usd"] == pytest.approx(per_escalation)
    assert curve[0.25]["accuracy"] == pytest.approx(3 / 6)
    assert curve[0.5]["accuracy"] == pytest.approx(4 / 6)  # problem 4 escalated; 2 still by majority
    assert curve[0.75] == {"threshold": 0.75, "accuracy": summary["accuracy"],
                           "escalation_rate": 0.5, "total_cost_usd": pytest.approx(3 * per_escalation),
                           "orchestrator_tokens": 3 * 230}
    assert curve[0.0]["orchestrator_tokens"] == 230


def test_report_shows_the_curve(tmp_path):
    out, _, _, _ = run(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert "cascade: accuracy and cost by threshold" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| threshold"))
    assert [cell.strip() for cell in header.split("|")[1:-1]] == ["threshold", "accuracy", "escalated", "cost"]
    rows = [line for line in result.output.splitlines() if line.startswith("| 0.")]
    assert [row.split("|")[1].strip() for row in rows] == ["0.00", "0.25", "0.50", "0.75"]


def test_a_higher_threshold_escalates_more(tmp_path):
    _, records, orch, _ = run(tmp_path, "--threshold", "1.01")
    assert [r["escalated"] for r in records] == [True] * N
    assert all(r["correct"] for r in records)
    assert len(orch.requests) == N


def test_solve_cascade_prints_the_vote():
    question = PROBLEMS[1].question
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = CliRunner().invoke(cli, ["solve", question, "--method", "cascade", "--base-url", orch.url,
                                          "--specialist", spec.url, "--specialist-model", "qwen-math"],
                                    env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    gold = PROBLEMS[1].gold
    assert lines[0] == gold
    assert lines[1] == f"  samples: {gold} x3, {int(gold) + 1} x1; agreement 0.75 >= 0.75, majority answer"
    assert orch.requests == []


def test_stop_when_settled_counts_finished_answers():
    stop = StopWhenSettled(needed=3)
    assert not stop(["\\boxed{5}", "\\boxed{5}", None, None])
    assert stop(["\\boxed{5}", "\\boxed{5.00}", None, "so \\boxed{5}"])
    assert not stop(["\\boxed{5}", "\\boxed{6}", "\\boxed{7}", None])
    assert stop.key == "stop-at-3-votes"


def test_an_escalation_reply_that_states_no_answer_leaves_the_majority_standing():
    from math_router.engine.trace import Trace
    from math_router.evals.methods import stands_unless_overruled

    said = Trace(method="cascade", final_text="I agree with the specialist.")
    stood = stands_unless_overruled(said, "18", "the samples' majority")
    assert stood.final_text.endswith("the samples' majority stands: \\boxed{18})")
    assert stood.ended == "specialist_stands"
    # An answer of its own, or a run cut at max_turns, is left as it is.
    own = Trace(method="cascade", final_text="It is \\boxed{20}.")
    assert stands_unless_overruled(own, "18", "the samples' majority") is own
    cut = Trace(method="cascade", final_text=None, stopped="max_turns")
    assert stands_unless_overruled(cut, "18", "the samples' majority") is cut


def test_an_escalated_cascade_trace_round_trips_through_json():
    from math_router.engine.chat import OpenAIChat
    from math_router.engine.trace import Trace, Vote
    from math_router.evals import methods
    from math_router.specialists.openai_compat import OpenAISpecialist

    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        setup = methods.Setup(orchestrator=OpenAIChat("gpt-4o-mini", base_url=orch.url,
                                                      api_key="sk-test"),
                              specialist=OpenAISpecialist(spec.url, "qwen-math"))
        trace = methods.cascade(setup, PROBLEMS[2].question)  # split 2:2: escalated
    assert isinstance(trace.vote, Vote) and trace.vote.escalated and trace.vote.agreement == 0.5
    assert json.loads(json.dumps(trace.to_dict()))["vote"]["majority"] == trace.vote.majority
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace


def test_the_votes_one_rule_and_how_many_votes_settle_it():
    from math_router.engine.answers import escalates, votes_to_settle

    assert not escalates(0.75, "3", 0.75) and escalates(0.5, "3", 0.75)
    assert escalates(1.0, None, 0.5)  # no sample stated an answer
    assert escalates(1.0, "3", 1.01)  # 1.01: always the orchestrator
    assert [votes_to_settle(t, 4) for t in (0.25, 0.5, 0.75, 1.0, 1.01)] == [1, 2, 3, 4, 5]
