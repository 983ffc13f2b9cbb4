"""Replies and inputs that break the rules: each is a per-problem error with the server's name or
a one-line refusal, never a traceback, a wrong answer or a NaN in the results."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.testing import (ChatServer, completion, raw_reply, specialist_answering, tool_call,
                                 user_question)

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), env={"OPENAI_API_KEY": "sk-test"})


def rows(tmp_path: Path, questions: list[str], name="p.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps({"question": q, "answer": "4"}) + "\n" for q in questions))
    return path


def test_a_body_that_is_not_json_ends_solve_in_one_line_naming_the_server():
    with ChatServer([raw_reply(b"<html>Bad gateway</html>")], answer_checks=False) as orch:
        result = run("solve", "2+2", "--method", "llm", "--base-url", orch.url)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{orch.url} answered with a body that is not the API's JSON" in result.output


def test_a_specialist_that_answers_garbage_is_an_error_of_the_problem_retried_on_rerun(tmp_path):
    data = rows(tmp_path, ["What is 2+2?"])
    out = tmp_path / "run"
    broken = [True]

    def specialist(request):
        return raw_reply(b"not json at all") if broken[0] else specialist_answering("4")(request)

    def orchestrator(request):  # repeats what slm_help said
        said = [m["content"] for m in request["messages"] if m.get("role") == "tool"]
        return completion(f"\\boxed{{{said[-1].split()[1] if said else 0}}}")

    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        args = ["eval", "--dataset", str(data), "--n", "all", "--method", "router", "--out", str(out),
                "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "m",
                "--no-progress"]
        first = run(*args)
        [record] = read_records(out / "results_router.jsonl")
        # Not an answer of 0 from an orchestrator that read "Error: JSONDecodeError": an error.
        assert first.exit_code == 1 and record["correct"] is None
        assert f"{spec.url} answered with a body that is not the API's JSON" in record["error"]
        broken[0] = False
        assert run(*args).exit_code == 0
    assert read_records(out / "results_router.jsonl")[-1]["correct"] is True


def test_a_reply_that_trickles_is_stopped_by_the_timeout_in_all(tmp_path):
    body = json.dumps(completion("\\boxed{4}").body).encode()
    with ChatServer(lambda r: raw_reply(body, trickle=0.5), answer_checks=False) as orch:
        start = time.perf_counter()
        result = run("solve", "2+2", "--method", "llm", "--base-url", orch.url, "--timeout", "2")
        seconds = time.perf_counter() - start
    # Three attempts (the SDK retries twice) of at most 2 s each, plus its short back-off.
    assert result.exit_code == 1 and "did not answer in time" in result.output
    assert seconds < 15, seconds


@pytest.mark.parametrize("usage", [-5, float("nan"), "lots"])
def test_usage_that_is_not_a_count_is_refused_never_priced(tmp_path, usage):
    data = rows(tmp_path, ["What is 2+2?", "And 1+3?"])
    out = tmp_path / "run"

    def orchestrator(request):
        reply = completion("\\boxed{4}")
        reply.body["usage"]["prompt_tokens"] = usage
        return reply

    with ChatServer(orchestrator) as orch:
        result = run("eval", "--dataset", str(data), "--n", "all", "--method", "llm", "--out",
                     str(out), "--base-url", orch.url, "--no-progress")
    assert result.exit_code == 1
    records = read_records(out / "results_llm.jsonl")
    assert all(r["error"] and "not a count of tokens" in r["error"] and orch.url in r["error"]
               for r in records)
    assert all(r["cost_usd"] is None for r in records)
    text = (out / "comparison.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in comparison.json"))


def test_a_thousand_tool_calls_in_one_reply_run_eight(tmp_path):
    calls = [tool_call("slm_help", {"question": f"part {i}"}) for i in range(1000)]
    replies = iter([completion(tool_calls=calls), completion("\\boxed{4}")])
    with ChatServer(lambda r: next(replies)) as orch, ChatServer(specialist_answering("4")) as spec:
        result = run("solve", "What is 2+2?", "--base-url", orch.url, "--specialist", spec.url,
                     "--specialist-model", "m", "--model-first-call", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(spec.requests) == 8  # the other 992 were never run
    errors = [c for c in data["tool_calls"] if c["is_error"]]
    assert len(data["tool_calls"]) == 1000 and len(errors) == 992
    # The model was told why, for every call it made (each tool_call id has its answer).
    tool_messages = [m for m in orch.requests[-1]["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1000
    assert tool_messages[-1]["content"] == "Error: at most 8 tool calls per turn; this call was not run"


def test_the_bound_per_question_holds_across_turns(tmp_path):
    def endless(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": "again"}) for _ in range(5)])

    with ChatServer(endless) as orch, ChatServer(specialist_answering("4")) as spec:
        result = run("solve", "2+2", "--base-url", orch.url, "--specialist", spec.url,
                     "--specialist-model", "m", "--max-tool-calls-per-problem", "7", "--json",
                     "--no-cache")
    assert result.exit_code == 0, result.output
    # The router's own first call, then five per turn until seven in all; the rest refused.
    assert len(spec.requests) == 7


def test_duplicate_ids_columns_and_a_huge_question_in_an_eval(tmp_path):
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": 1, "question": "a", "answer": "1"}\n{"id": "1", "question": "b", "answer": "2"}\n')
    columns = tmp_path / "columns.json"
    columns.write_text(json.dumps({"question": ["a", "b"], "answer": ["1", "2"]}))
    for data, message in ((dup, "rows 1 and 2 have the same id '1'"),
                          (columns, "holds columns (an object of lists")):
        result = run("eval", "--dataset", str(data), "--n", "all", "--method", "llm")
        assert result.exit_code == 1 and message in result.output, result.output

    huge = rows(tmp_path, ["What is 2+2? " + "Really. " * 20_000], "huge.jsonl")
    out = tmp_path / "run"
    with ChatServer(lambda r: completion("\\boxed{4}")) as orch:
        args = ["eval", "--dataset", str(huge), "--n", "all", "--method", "llm", "--out", str(out),
                "--base-url", orch.url, "--no-progress"]
        assert run(*args).exit_code == 0
        assert run(*args).exit_code == 0  # the rerun reads samples.csv back: no field limit
    report = run("report", str(out), "--no-plots")
    assert report.exit_code == 0, report.output
    assert len(user_question(orch.requests[0])) > 131_072
