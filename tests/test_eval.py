"""`cli.py eval` and `report` against test servers with known answers."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.datasets import load_problems
from math_router.evals.records import read_records
from math_router.evals.runner import run_method
from math_router.testing import (ChatServer, answering_orchestrator, answering_specialist,
                                 completion, error, tool_call, user_question)

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
N, SEED = 6, 7
PROBLEMS = load_problems(GSM8K, N, SEED)
GOLD = {p.question: p.gold for p in PROBLEMS}
# The orchestrator alone gets these wrong; the specialist gets all right.
HARD = {p.question for p in PROBLEMS[:2]}


orchestrator = answering_orchestrator(GOLD, wrong=HARD)
specialist = answering_specialist(GOLD)


def eval_args(out: Path, orch: ChatServer, spec: ChatServer, *extra: str) -> list[str]:
    return ["eval", "--dataset", GSM8K, "--n", str(N), "--seed", str(SEED), "--out", str(out),
            "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "qwen-math",
            "--no-progress", *extra]


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)


def test_all_methods_on_the_same_problems_with_exact_bookkeeping(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = invoke(eval_args(out, orch, spec, "--method", "all", "--concurrency", "3"))
    assert result.exit_code == 0, result.output

    with open(out / "samples.csv", newline="") as f:
        samples = list(csv.DictReader(f))
    assert [s["id"] for s in samples] == [p.id for p in PROBLEMS]
    assert [s["gold"] for s in samples] == [p.gold for p in PROBLEMS]

    for method in ("llm", "router", "slm"):
        records = read_records(out / f"results_{method}.jsonl")
        assert sorted(r["id"] for r in records) == sorted(p.id for p in PROBLEMS)
        for r in records:
            assert set(r) >= {"id", "method", "prediction", "gold", "correct", "final_text", "seconds",
                              "orchestrator_seconds", "specialist_seconds", "input_tokens", "output_tokens",
                              "tool_calls", "cost_usd", "error"}
            assert r["method"] == method and r["error"] is None

    comparison = json.loads((out / "comparison.json").read_text())["methods"]
    llm, router, slm = comparison["llm"], comparison["router"], comparison["slm"]
    assert llm["n"] == router["n"] == slm["n"] == N
    assert llm["correct"] == N - len(HARD) and llm["accuracy"] == pytest.approx((N - 2) / N)
    assert router["accuracy"] == 1.0 and slm["accuracy"] == 1.0
    assert llm["input_tokens"] == 50 * N and llm["output_tokens"] == 100 * N
    assert llm["total_cost_usd"] == pytest.approx(N * (50 * 0.15 + 100 * 0.60) / 1e6)
    assert router["orchestrator_input_tokens"] == 300 * N  # one turn: the router made the call
    assert router["specialist_output_tokens"] == 200 * N
    assert router["tool_calls_per_problem"] == 1.0 and llm["tool_calls_per_problem"] == 0
    # The specialist server has no price: its cost is unknown, not free.
    assert router["total_cost_usd"] is None and slm["total_cost_usd"] is None
    assert llm["models"] == {"orchestrator": ["gpt-4o-mini"]}
    assert slm["models"] == {"specialist": ["qwen-math"]}
    assert {"mean_seconds", "median_seconds", "device", "accuracy_ci", "spent"} <= set(llm)
    assert "| llm " in result.output and "| router " in result.output


def test_a_failing_problem_is_recorded_and_the_run_goes_on(tmp_path):
    broken = {PROBLEMS[3].question}

    def flaky(request):
        return error(500, "model exploded") if user_question(request) in broken else orchestrator(request)

    out = tmp_path / "run"
    with ChatServer(flaky) as orch, ChatServer(specialist) as spec:
        result = invoke(eval_args(out, orch, spec, "--method", "llm"))
        # The run goes on, and its exit status says that a problem failed.
        assert result.exit_code == 1 and "1 problem(s) ended in an error" in result.output
        records = {r["id"]: r for r in read_records(out / "results_llm.jsonl")}
        assert len(records) == N
        failed = records[PROBLEMS[3].id]
        assert failed["correct"] is None and "HTTP 500" in failed["error"]
        assert "model exploded" in failed["error"]
        comparison = json.loads((out / "comparison.json").read_text())["methods"]["llm"]
        # Counted apart, never as a wrong answer: accuracy is over the problems answered.
        assert comparison["errors"] == 1 and comparison["n"] == N - 1 and not comparison["complete"]
        assert PROBLEMS[3].question not in HARD and comparison["correct"] == N - 1 - len(HARD)
        assert comparison["accuracy"] == pytest.approx((N - 1 - len(HARD)) / (N - 1))

        # A rerun retries the failed problem only; its new record is appended, the old one kept.
        broken.clear()
        asked = len(orch.requests)
        again = invoke(eval_args(out, orch, spec, "--method", "llm"))
        assert again.exit_code == 0, again.output
        assert [user_question(r) for r in orch.requests[asked:]] == [PROBLEMS[3].question]
    lines = read_records(out / "results_llm.jsonl")
    assert len(lines) == N + 1 and lines[-1]["id"] == PROBLEMS[3].id and lines[-1]["error"] is None
    comparison = json.loads((out / "comparison.json").read_text())["methods"]["llm"]
    assert comparison["errors"] == 0 and comparison["n"] == N and comparison["complete"]


def test_max_turns_is_a_recorded_failure(tmp_path):
    def endless(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": "again?"})])

    out = tmp_path / "run"
    with ChatServer(endless) as orch, ChatServer(specialist) as spec:
        result = invoke(eval_args(out, orch, spec, "--method", "router", "--max-turns", "2", "--n", "2"))
    # Looping past --max-turns is the method's failure to answer: a wrong answer, not an error.
    assert result.exit_code == 0, result.output
    records = read_records(out / "results_router.jsonl")
    assert len(records) == 2
    assert all(r["stopped"] == "max_turns" and r["correct"] is False and r["error"] is None
               and r["prediction"] is None for r in records)


def test_an_unreachable_server_stops_the_run_without_records(tmp_path):
    out = tmp_path / "run"
    with ChatServer(specialist):
        result = CliRunner().invoke(cli, ["eval", "--dataset", GSM8K, "--n", "3", "--out", str(out),
                                          "--method", "llm", "--base-url", "http://127.0.0.1:9/v1",
                                          "--no-progress"], env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/v1" in result.output
    assert read_records(out / "results_llm.jsonl") == []


def test_resume_after_an_interruption_solves_only_what_is_missing(tmp_path):
    out = tmp_path / "run"
    calls = []

    def interrupted(question):
        calls.append(question)
        if len(calls) == 4:
            raise KeyboardInterrupt  # as Ctrl-C would, mid-run
        from math_router.engine.trace import Trace
        return Trace(method="llm", final_text=f"\\boxed{{{GOLD[question]}}}", seconds=0.01)

    from math_router.evals.folders import EvalFolder
    EvalFolder(out).prepare(PROBLEMS, {"dataset": GSM8K, "n": N, "seed": SEED}, {"llm": {}})
    with pytest.raises(KeyboardInterrupt):
        run_method(out, "llm", interrupted, PROBLEMS, concurrency=1, progress=False)
    assert len(read_records(out / "results_llm.jsonl")) == 3

    # A kill in the middle of a write leaves half a line: it is not a record.
    with open(out / "results_llm.jsonl", "a") as f:
        f.write('{"id": "gsm8k-1", "method": "llm", "predic')
    calls.clear()
    records = run_method(out, "llm", interrupted, PROBLEMS, concurrency=1, progress=False)
    assert len(calls) == 3  # only the missing ones
    again = read_records(out / "results_llm.jsonl")
    assert len(again) == N == len(records)
    assert sorted(r["id"] for r in again) == sorted(p.id for p in PROBLEMS)
    assert all(r["correct"] for r in again)


def test_a_killed_process_resumes_to_exactly_n_records(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator, delay=0.4) as orch, ChatServer(specialist) as spec:
        args = [sys.executable, "cli.py", *eval_args(out, orch, spec, "--method", "llm",
                                                     "--concurrency", "2")]
        env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        path = out / "results_llm.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not path.exists() or len(read_records(path)) < 2):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = read_records(path)
        assert 2 <= len(partial) < N
        first_requests = len(orch.requests)

        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    records = read_records(path)
    assert len(records) == N
    assert len({r["id"] for r in records}) == N
    assert records[:len(partial)] == partial  # finished records were kept as they were
    # Only the missing problems were asked again (plus those in flight at the kill).
    assert len(orch.requests) - first_requests <= N - len(partial)


def test_a_rerun_with_other_settings_or_problems_is_refused(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        assert invoke(eval_args(out, orch, spec, "--method", "llm")).exit_code == 0
        other_model = invoke(eval_args(out, orch, spec, "--method", "llm", "--model", "gpt-4o"))
        other_sample = invoke(eval_args(out, orch, spec, "--method", "llm", "--seed", "8"))
    assert other_model.exit_code == 1 and "other settings (orchestrator)" in other_model.output
    assert other_sample.exit_code == 1 and "other problems" in other_sample.output
    assert len(read_records(out / "results_llm.jsonl")) == N


def test_report_prints_the_table_agreement_and_writes_plots(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        assert invoke(eval_args(out, orch, spec, "--method", "all")).exit_code == 0
    result = CliRunner().invoke(cli, ["report", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| method" in result.output and "| llm " in result.output
    assert "solved by all:  4" in result.output
    assert "solved by some: 2" in result.output
    assert "solved by none: 0" in result.output
    assert "only llm: 0" in result.output
    for name in ("accuracy_vs_cost.png", "latency.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_on_a_missing_folder_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "nothing")])
    assert result.exit_code == 1 and "no results folder" in result.output


def test_dataset_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"foo": 1}\n')
    for dataset, message in [(str(bad), "its rows have the fields foo"),
                             (str(tmp_path / "none.jsonl"), "neither")]:
        result = CliRunner().invoke(cli, ["eval", "--dataset", dataset, "--n", "2", "--method", "llm",
                                          "--out", str(tmp_path / "o")])
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_hub_data_set_offline_is_read_from_the_clones_copy(tmp_path):
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        result = CliRunner().invoke(cli, ["eval", "--dataset", "gsm8k", "--n", str(N), "--seed", str(SEED),
                                          "--method", "llm", "--out", str(out), "--base-url", orch.url,
                                          "--no-progress"], env={"OPENAI_API_KEY": "sk-test"},
                                    catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "reading the offline copy" in result.stderr
    # The same rows and ids as the Hub's, so the same problems as --dataset data/gsm8k/test.jsonl.
    ids = [r["id"] for r in read_records(out / "results_llm.jsonl")]
    assert sorted(ids) == sorted(p.id for p in PROBLEMS)


def test_the_same_command_without_out_resumes_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        args = [a for a in eval_args(tmp_path / "unused", orch, spec, "--method", "llm")]
        at = args.index("--out")
        del args[at:at + 2]
        assert invoke(args).exit_code == 0
        asked = len(orch.requests)
        assert invoke(args).exit_code == 0
        assert len(orch.requests) == asked  # resumed: every problem already finished
    [folder] = (tmp_path / "results").iterdir()
    assert folder.name == f"test_llm_n{N}_seed{SEED}"


def test_ctrl_c_names_the_folder_and_the_command_that_resumes_it(tmp_path, monkeypatch):
    from math_router import api

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "evaluate", interrupted)
    monkeypatch.setattr("sys.argv", ["math-router", "eval", "--method", "llm", "--n", "5"])
    result = CliRunner().invoke(cli, ["eval", "--method", "llm", "--n", "5"],
                                env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 1
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error: interrupted: what finished is in results/gsm8k_llm_n5_seed")
    assert "to resume: math-router eval --method llm --n 5 --out results/gsm8k_llm_n5_seed" in line
