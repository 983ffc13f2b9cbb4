"""Failures are failures: an API that refuses stops the run at once, a repeated error stops it,
a refused parameter is left out and said."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.chat import CHECK_PROMPT
from math_router.evals.records import read_records
from math_router.testing import ChatServer, answering_orchestrator, completion, error, user_question
from tests.eval_cli import GOLD, N, one_line, run_eval


@pytest.mark.parametrize("status, message", [
    (400, "Unsupported value: 'tool_choice' is not supported with this model."),
    (404, "The model `gpt-5-typo` does not exist or you do not have access to it."),
    (429, "You exceeded your current quota, please check your plan and billing details."),
])
def test_an_api_that_refuses_every_request_stops_the_run_before_any_problem(tmp_path, status, message):
    out = tmp_path / "run"
    with ChatServer(lambda _: error(status, message), answer_checks=False) as orch:
        result = run_eval(out, orch, "--method", "llm")
        # the one check (a 429 is retried by the SDK), then nothing
        assert 1 <= len(orch.requests) <= 3
        assert all(user_question(r) == CHECK_PROMPT for r in orch.requests)
    line = one_line(result)
    assert f"HTTP {status}" in line and message[:30] in line and "nothing ran" in line
    assert not out.exists()  # nothing written


def test_a_key_that_works_for_one_model_but_not_another(tmp_path):
    def respond(request):
        if request["model"] == "gpt-4o":
            return error(404, "The model `gpt-4o` does not exist or you do not have access to it.")
        if user_question(request) == CHECK_PROMPT:
            return completion("OK")
        return answering_orchestrator(GOLD)(request)

    with ChatServer(respond, answer_checks=False) as orch:
        refused = run_eval(tmp_path / "big", orch, "--method", "llm", "--model", "gpt-4o")
        works = run_eval(tmp_path / "small", orch, "--method", "llm", "--model", "gpt-4o-mini")
    assert "gpt-4o" in one_line(refused) and "HTTP 404" in one_line(refused)
    assert works.exit_code == 0, works.output
    assert len(read_records(tmp_path / "small" / "results_llm.jsonl")) == N


def test_the_same_error_on_five_problems_in_a_row_stops_the_run(tmp_path):
    out = tmp_path / "run"
    with ChatServer(lambda _: error(503, "overloaded")) as orch:  # the check passes, problems fail
        result = run_eval(out, orch, "--method", "llm", "--n", "8", n=8)
    line = one_line(result)
    assert "same error on 5 problems in a row" in line and "HTTP 503" in line
    records = read_records(out / "results_llm.jsonl")
    assert len(records) == 5 and all(r["error"] and r["correct"] is None for r in records)


def test_a_parameter_the_model_refuses_is_left_out_and_said(tmp_path):
    # A reasoning model under a name we do not know reasons (OpenAI's own are never sent
    # temperature while they think): the refusal teaches the client.
    seen = []

    def reasoning_model(request):
        seen.append(dict(request))
        if "temperature" in request:
            return Reply400("Unsupported value: 'temperature' does not support 0 with this model.",
                            "temperature")
        return completion("The answer is **393**.", model="acme-reasoner")

    with ChatServer(reasoning_model, answer_checks=False) as orch:
        result = CliRunner().invoke(cli, ["solve", "27*14+15", "--method", "llm", "--json",
                                          "--base-url", orch.url, "--model", "acme-reasoner"],
                                    env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "393"
    assert any("refused temperature" in note for note in data["notes"])
    assert "temperature" in seen[0] and "temperature" not in seen[-1]


def Reply400(message: str, param: str):
    from math_router.testing import Reply

    return Reply(status=400, body={"error": {"message": message, "type": "invalid_request_error",
                                             "param": param, "code": "unsupported_value"}})


def test_the_same_error_stop_counts_in_the_inputs_order_not_as_problems_finish():
    """Failures that come back first (a Batch API round's failed lines) but stand apart in the
    input do not stop the run; five neighbours failing alike do."""
    import time

    from math_router.engine.errors import TransportError, UserError
    from math_router.evals.datasets import Problem
    from math_router.evals.runner import run

    problems = [Problem(str(i), f"q{i}", "1", "gsm8k") for i in range(15)]

    def solve(question):
        if int(question[1:]) % 3 == 0:
            raise TransportError("the line failed")  # at once: these finish first
        time.sleep(0.3)
        return None

    def record(problem, trace, error):
        return {"id": problem.id, "error": error, "correct": None if error else True}

    records = list(run(problems, solve, record, path=None, label="t", concurrency=15,
                       progress=False))  # five failures, all first, none next to another
    assert len(records) == 15 and sum(r["error"] is not None for r in records) == 5

    def neighbours(question):
        if int(question[1:]) in range(3, 8):
            raise TransportError("the line failed")
        time.sleep(0.3)

    with pytest.raises(UserError, match="in a row"):
        list(run(problems, neighbours, record, path=None, label="t", concurrency=15,
                 progress=False))
