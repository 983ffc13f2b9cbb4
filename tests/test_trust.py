"""Numbers you can trust: failures are failures, figures carry intervals, runs say how they
were made, and damaged or hostile input ends in one line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.cache import ResponseCache
from math_router.engine.chat import CHECK_PROMPT
from math_router.evals.datasets import load_problems
from math_router.evals.records import read_records
from math_router.evals.stats import mcnemar_exact, paired_difference, wilson_interval
from math_router.testing import (ChatServer, answering_orchestrator, answering_specialist,
                                 completion, error, user_question)

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
MATH500 = str(ROOT / "data" / "math500" / "test.jsonl")
N, SEED = 6, 7
PROBLEMS = load_problems(GSM8K, N, SEED)
GOLD = {p.question: p.gold for p in PROBLEMS}


def run_eval(out: Path, orch: ChatServer, *extra: str, dataset: str = GSM8K, n: int = N,
             spec: ChatServer | None = None):
    spec_args = ["--specialist", spec.url, "--specialist-model", "qwen-math"] if spec else []
    return CliRunner().invoke(cli, [
        "eval", "--dataset", dataset, "--n", str(n), "--seed", str(SEED), "--out", str(out),
        "--base-url", orch.url, "--no-progress", "--concurrency", "1", *spec_args, *extra],
        env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)


def one_line(result) -> str:
    """The one error line of a failed command (after any progress notes), never a traceback."""
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert result.exit_code != 0 and len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]


# -- failures are failures ----------------------------------------------------

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
    seen = []

    def reasoning_model(request):
        seen.append(dict(request))
        if "temperature" in request:
            return Reply400("Unsupported value: 'temperature' does not support 0 with this model.",
                            "temperature")
        return completion("The answer is **393**.", model="o4-mini")

    with ChatServer(reasoning_model, answer_checks=False) as orch:
        result = CliRunner().invoke(cli, ["solve", "27*14+15", "--method", "llm", "--json",
                                          "--base-url", orch.url, "--model", "o4-mini"],
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


# -- intervals and paired tests -------------------------------------------------

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


# -- a run says how it was made; a refused rerun and readers change nothing -------

def test_run_json_records_versions_models_and_prompts(tmp_path, smollm2):
    out = tmp_path / "run"
    server = ChatServer(answering_orchestrator(GOLD))
    with server as orch:
        result = run_eval(out, orch, "--method", "llm,slm", "--specialist", str(smollm2),
                          "--specialist-max-tokens", "16", "--n", "2", n=2)
        refused, before = rerun_with_another_flag(out, orch, smollm2)
    assert result.exit_code == 0, result.output
    info = json.loads((out / "run.json").read_text())
    env = info["methods"]["slm"]["environment"]
    assert env["packages"]["llama-cpp-python"] and env["packages"]["openai"]
    assert "math-verify" in env["packages"] and "git_commit" in env and env["device"] == "cpu"
    gguf = info["methods"]["slm"]["settings"]["specialist"]["gguf"]
    assert gguf["file"] == smollm2.name and gguf["bytes"] == smollm2.stat().st_size
    assert len(gguf["sha256"]) == 64
    llm = info["methods"]["llm"]["settings"]
    assert llm["orchestrator"]["model"] == "gpt-4o-mini" and len(llm["prompts"]["orchestrator_system"]) == 16
    # The name the server reported (the test server says "fake"), beside the name asked for.
    assert info["methods"]["llm"]["served_models"] == {"orchestrator": "fake"}
    assert {"orchestrator_max_tokens", "prices", "max_turns"} <= set(llm)
    assert {"batch", "gpu_layers", "specialist_max_tokens"} <= set(info["methods"]["slm"]["settings"])

    # A rerun with another flag that shapes results is refused, and changes nothing on disk.
    assert "other settings (orchestrator_max_tokens)" in one_line(refused)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def rerun_with_another_flag(out: Path, orch: ChatServer, smollm2: Path):
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused = run_eval(out, orch, "--method", "llm,slm", "--specialist", str(smollm2),
                       "--specialist-max-tokens", "16", "--n", "2", "--orchestrator-max-tokens",
                       "99", n=2)
    return refused, before


def test_reading_a_live_results_file_never_cuts_it(tmp_path):
    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch:
        assert run_eval(out, orch, "--method", "llm").exit_code == 0
    path = out / "results_llm.jsonl"
    with path.open("a") as f:
        f.write('{"id": "gsm8k-1", "method": "llm", "predic')  # a record being written
    data = path.read_bytes()
    result = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert path.read_bytes() == data and len(read_records(path)) == N


# -- damaged or hostile input ends in one line -------------------------------------

def test_report_on_damaged_files_names_the_file(tmp_path):
    out = tmp_path / "run"
    with ChatServer(answering_orchestrator(GOLD)) as orch:
        assert run_eval(out, orch, "--method", "llm").exit_code == 0
    path = out / "results_llm.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2] + ["{not json"] + lines[2:]) + "\n")
    line = one_line(CliRunner().invoke(cli, ["report", str(out), "--no-plots"]))
    assert "results_llm.jsonl:3" in line and "damaged" in line
    path.write_text("\n".join(lines) + "\n")
    (out / "run.json").write_text('{"dataset": ')
    line = one_line(CliRunner().invoke(cli, ["report", str(out), "--no-plots"]))
    assert "run.json is damaged" in line


def test_a_damaged_cache_is_moved_aside_and_the_run_goes_on(tmp_path):
    path = tmp_path / "responses.sqlite"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    said = []
    cache = ResponseCache(path, notify=said.append)
    assert cache.get("k") is None
    cache.put("k", "chat", {"v": 1})
    assert cache.get("k") == {"v": 1}
    moved = list(tmp_path.glob("responses.sqlite.damaged-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not a database")
    assert len(said) == 1 and "damaged" in said[0] and moved[0].name in said[0]


def test_a_locked_cache_is_skipped_with_a_word(tmp_path):
    path = tmp_path / "responses.sqlite"
    first = ResponseCache(path)
    first.put("k", "chat", {"v": 1})
    first.close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    said = []
    cache = ResponseCache(path, notify=said.append, timeout=0.1)
    try:
        assert cache.get("k") is None  # cannot read it: the call goes to the model instead
        cache.put("other", "chat", {"v": 2})  # and nothing breaks
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(said) == 1 and "running without it" in said[0]


def test_a_question_longer_than_the_context_is_one_line(smollm2):
    huge = "How many apples? " * 7000  # about 120,000 characters
    result = CliRunner().invoke(cli, ["solve", huge, "--method", "slm", "--specialist", str(smollm2)],
                                catch_exceptions=False)
    line = one_line(result)
    assert "tokens" in line and "context holds" in line


def test_a_question_longer_than_the_context_fails_only_that_problem(tmp_path, smollm2):
    data = tmp_path / "mixed.jsonl"
    rows = [{"question": "What is 2+2?", "answer": "4"},
            {"question": "How many apples? " * 7000, "answer": "1"},
            {"question": "What is 3+3?", "answer": "6"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["eval", "--dataset", str(data), "--n", "all", "--method", "slm",
                                      "--specialist", str(smollm2), "--specialist-max-tokens", "16",
                                      "--out", str(out), "--no-progress"], catch_exceptions=False)
    assert result.exit_code == 1 and "1 problem(s) ended in an error" in result.output
    records = {r["id"]: r for r in read_records(out / "results_slm.jsonl")}
    assert set(records) == {"mixed-0", "mixed-1", "mixed-2"}
    assert "context holds" in records["mixed-1"]["error"] and records["mixed-1"]["correct"] is None
    assert records["mixed-0"]["error"] is None and records["mixed-2"]["error"] is None


def test_a_row_with_an_empty_question_is_one_line(tmp_path):
    data = tmp_path / "gaps.jsonl"
    data.write_text('{"question": "What is 1+1?", "answer": "2"}\n{"question": "  ", "answer": "3"}\n')
    result = CliRunner().invoke(cli, ["eval", "--dataset", str(data), "--n", "all", "--method", "llm",
                                      "--out", str(tmp_path / "o")], env={"OPENAI_API_KEY": "sk-x"})
    assert "gaps.jsonl:2 has an empty question" in one_line(result)


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
    assert "list prices of 2025-08-01" in text
