"""--batch-api: the orchestrator's calls through the OpenAI Batch API (the real openai client
against the test server's files and batches), rounds, prices, kills, failures."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.testing import (BatchBehaviour, ChatServer, answering_specialist, completion,
                                 has_tool_result, tool_call, user_question)

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [f"What is {i} plus {i + 1}?" for i in range(6)]


def summed(request: dict):
    """Answers the sum of the question's numbers; as a router, asks slm_help first."""
    numbers = [int(x) for x in re.findall(r"\d+", user_question(request))]
    if "tools" in request and not has_tool_result(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": user_question(request)})],
                          prompt_tokens=100, completion_tokens=20)
    return completion(f"Adding up. \\boxed{{{sum(numbers[:2])}}}", prompt_tokens=50,
                      completion_tokens=20)


def write_input(tmp_path: Path, questions=QUESTIONS) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps({"question": q}) + "\n" for q in questions))
    return path


def solve(*args: str):
    return CliRunner().invoke(cli, ["solve", *args], env={"OPENAI_API_KEY": "sk-test"},
                              catch_exceptions=False)


def batch_flags(server: ChatServer) -> list[str]:
    return ["--base-url", server.url, "--batch-api", "--batch-poll", "0.05", "--no-progress"]


def test_the_llm_method_is_one_round_at_half_the_price(tmp_path):
    data = write_input(tmp_path)
    with ChatServer(summed, batch=BatchBehaviour(seconds=0.3)) as server:
        result = solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / "b"),
                       *batch_flags(server))
        assert result.exit_code == 0, result.output
        assert server.requests == []  # nothing went directly, but the one check before the run
        assert len(server.batch_api.batches) == 1 and len(server.batch_api.lines) == len(QUESTIONS)
        [batch] = server.batch_api.batches.values()
        assert batch["endpoint"] == "/v1/chat/completions" and batch["completion_window"] == "24h"
    records = read_records(tmp_path / "b" / "answers.jsonl")
    assert sorted(r["answer"] for r in records) == sorted(str(2 * i + 1) for i in range(6))
    # gpt-4o-mini at the batch tier: half of 0.15 / 0.60 per million.
    assert all(r["cost_usd"] == pytest.approx((50 * 0.075 + 20 * 0.30) / 1e6) for r in records)
    assert all(r["batch_calls"] == 1 for r in records)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["batch_calls"] == 6 and "Batch API" in summary["prices"]["batch_source"]
    ledger = [json.loads(line) for line in (tmp_path / "b" / "batches.jsonl").read_text().splitlines()]
    assert [e["event"] for e in ledger][:2] == ["submitting", "submitted"]
    assert ledger[-1]["event"] == "ended" and ledger[-1]["status"] == "completed"
    assert (tmp_path / "b" / "batches" / f"{ledger[1]['batch']}.output.jsonl").exists()


def test_each_router_turn_is_a_round_and_the_report_says_which_calls_went_by_batch(tmp_path):
    gold = {q: str(sum(int(x) for x in re.findall(r"\d+", q))) for q in QUESTIONS}
    data = tmp_path / "gold.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in gold.items()))
    with ChatServer(summed, batch=BatchBehaviour(seconds=0.2)) as server, \
            ChatServer(answering_specialist(gold)) as specialist:
        result = CliRunner().invoke(cli, [
            "eval", "--dataset", str(data), "--n", "all", "--method", "llm,router",
            "--specialist", specialist.url, "--specialist-model", "qwen-math",
            "--model-first-call", "--out", str(tmp_path / "e"), *batch_flags(server)],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        # llm: one round; router: the model's first call, then its answer: two rounds.
        assert len(server.batch_api.batches) == 3
        sizes = sorted(b["request_counts"]["total"] for b in server.batch_api.batches.values())
        assert sizes == [6, 6, 6]
    report = CliRunner().invoke(cli, ["report", str(tmp_path / "e"), "--no-plots"])
    assert "Through the OpenAI Batch API: 6 orchestrator call(s) of llm, 12 orchestrator " \
           "call(s) of router" in report.output
    comparison = json.loads((tmp_path / "e" / "comparison.json").read_text())["methods"]
    assert comparison["router"]["batch_calls"] == 12 and comparison["router"]["accuracy"] == 1.0


def test_the_batch_price_is_half_the_orchestrators_spend(tmp_path):
    data = write_input(tmp_path)
    with ChatServer(summed, batch=BatchBehaviour()) as server:
        direct = solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / "d"),
                       "--base-url", server.url, "--no-progress", "--no-cache")
        batched = solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / "b"),
                        *batch_flags(server), "--no-cache")
    assert direct.exit_code == batched.exit_code == 0
    spend = [json.loads((tmp_path / d / "summary.json").read_text())["spent"]["cost_usd"]
             for d in ("d", "b")]
    assert spend[1] == pytest.approx(0.5 * spend[0])


def test_failed_and_expired_lines_are_errors_and_a_rerun_submits_only_those(tmp_path):
    data = write_input(tmp_path)
    out = tmp_path / "b"
    broken = {QUESTIONS[1]}
    fails = BatchBehaviour(fail=lambda line: "overloaded" if user_question(line["body"]) in broken
                           else None)
    with ChatServer(summed, batch=fails) as server:
        first = solve("--input", str(data), "--method", "llm", "--out", str(out), *batch_flags(server))
        assert first.exit_code == 1 and "1 problem(s) ended in an error" in first.output
        [failed] = [r for r in read_records(out / "answers.jsonl") if r["error"]]
        assert failed["question"] == QUESTIONS[1] and "overloaded" in failed["error"]
        assert "batch_" in failed["error"]  # names the batch
        broken.clear()
        again = solve("--input", str(data), "--method", "llm", "--out", str(out), *batch_flags(server))
        assert again.exit_code == 0, again.output
        last = list(server.batch_api.batches.values())[-1]
        assert last["request_counts"]["total"] == 1 and len(server.batch_api.lines) == 7

    out2 = tmp_path / "expired"
    with ChatServer(summed, batch=BatchBehaviour(expire=True, answered_before_expiry=4)) as server:
        expired = solve("--input", str(data), "--method", "llm", "--out", str(out2),
                        *batch_flags(server))
        assert expired.exit_code == 1 and "2 problem(s) ended in an error" in expired.output
        errors = [r["error"] for r in read_records(out2 / "answers.jsonl") if r["error"]]
        assert all("expired" in e for e in errors)


def test_a_refused_or_invalid_batch_is_one_line_and_writes_over_nothing(tmp_path):
    data = write_input(tmp_path)
    for name, behaviour, message in (
            ("refused", BatchBehaviour(refuse="Enqueued token limit reached"),
             "Enqueued token limit reached"),
            ("invalid", BatchBehaviour(invalid="model not found"), "model not found")):
        out = tmp_path / name
        with ChatServer(summed, batch=behaviour) as server:
            result = CliRunner().invoke(cli, ["solve", "--input", str(data), "--method", "llm",
                                              "--out", str(out), *batch_flags(server)],
                                        env={"OPENAI_API_KEY": "sk-test"})
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
        assert read_records(out / "answers.jsonl") == []


def test_batch_api_needs_an_api_orchestrator_and_a_folder(tmp_path):
    data = write_input(tmp_path)
    with ChatServer(summed) as server:
        no_out = CliRunner().invoke(cli, ["solve", "--input", str(data), "--method", "llm", "--jsonl",
                                          *batch_flags(server)], env={"OPENAI_API_KEY": "sk-test"})
        one = CliRunner().invoke(cli, ["solve", "1+1", "--method", "llm", *batch_flags(server)],
                                 env={"OPENAI_API_KEY": "sk-test"})
    assert no_out.exit_code == 1 and "--batch-api needs --out" in no_out.output
    assert one.exit_code == 1 and "--batch-api: only with --input FILE" in one.output


def test_a_kill_while_the_batch_runs_then_a_rerun_polls_it_and_submits_nothing_twice(tmp_path):
    data = write_input(tmp_path)
    out = tmp_path / "b"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    with ChatServer(summed, batch=BatchBehaviour(seconds=2.0)) as server:
        args = [sys.executable, "cli.py", "solve", "--input", str(data), "--method", "llm",
                "--out", str(out), *batch_flags(server)]
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline and not (out / "batches.jsonl").exists() or \
                '"submitted"' not in (out / "batches.jsonl").read_text():
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert read_records(out / "answers.jsonl") == []
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert len(server.batch_api.batches) == 1 and len(server.batch_api.lines) == len(QUESTIONS)
        # A third run finds every answer in the saved output or the cache: nothing is sent.
        again = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0 and len(server.batch_api.lines) == len(QUESTIONS)
    assert len(read_records(out / "answers.jsonl")) == len(QUESTIONS)


def test_a_batch_created_just_before_a_kill_is_found_again_by_its_metadata(tmp_path):
    """The kill fell between batches.create and the ledger's line: the rerun lists the batches,
    finds the round's key in one's metadata, and polls it instead of sending a second."""
    data = write_input(tmp_path)
    out = tmp_path / "b"
    with ChatServer(summed, batch=BatchBehaviour(seconds=0.3)) as server:
        assert solve("--input", str(data), "--method", "llm", "--out", str(out), "--no-cache",
                     *batch_flags(server)).exit_code == 0
        ledger = out / "batches.jsonl"
        events = [json.loads(line) for line in ledger.read_text().splitlines()]
        ledger.write_text(json.dumps(events[0]) + "\n")  # only "submitting" survived the kill
        (out / "answers.jsonl").unlink()
        for saved in (out / "batches").iterdir():
            saved.unlink()
        result = solve("--input", str(data), "--method", "llm", "--out", str(out), "--no-cache",
                       *batch_flags(server))
        assert result.exit_code == 0, result.output
        assert len(server.batch_api.batches) == 1 and len(server.batch_api.lines) == len(QUESTIONS)
    assert "found again after an interruption" in result.output


def test_the_fake_batch_api_speaks_to_the_real_client(tmp_path):
    """Files upload and content, batches create, retrieve, list and cancel, as users' own tests
    would drive them."""
    with ChatServer(summed, batch=BatchBehaviour(seconds=5)) as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")
        line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "1 and 2"}]}}
        upload = client.files.create(file=("in.jsonl", json.dumps(line).encode() + b"\n"),
                                     purpose="batch")
        assert client.files.content(upload.id).content.startswith(b'{"custom_id": "a"')
        batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                      completion_window="24h", metadata={"k": "v"})
        assert client.batches.retrieve(batch.id).status in ("validating", "in_progress")
        assert [b.id for b in client.batches.list(limit=10)] == [batch.id]
        client.batches.cancel(batch.id)
        assert client.batches.retrieve(batch.id).status == "cancelled"


def test_a_cascades_escalations_are_one_round_after_the_votes(tmp_path):
    data = write_input(tmp_path)
    split = set(QUESTIONS[::2])  # the samples disagree on these: they escalate

    def sampling(request: dict):
        question = user_question(request)
        answers = ["1", "2", "3", "4"] if question in split else ["7"] * 4
        return completion(f"\\boxed{{{answers[request.get('seed', 0) % 4]}}}")

    with ChatServer(summed, batch=BatchBehaviour(seconds=0.2)) as server, \
            ChatServer(sampling) as specialist:
        result = solve("--input", str(data), "--method", "cascade", "--out", str(tmp_path / "c"),
                       "--specialist", specialist.url, "--specialist-model", "qwen-math",
                       *batch_flags(server))
        assert result.exit_code == 0, result.output
        # The escalations' first turns in one round (this orchestrator calls slm_help first),
        # their second turns in the next; the unanimous problems never reach it.
        sizes = [b["request_counts"]["total"] for b in server.batch_api.batches.values()]
        assert sizes == [len(split), len(split)]
    records = {r["question"]: r for r in read_records(tmp_path / "c" / "answers.jsonl")}
    assert all(records[q]["escalated"] == (q in split) for q in QUESTIONS)
    assert all(records[q]["answer"] == "7" for q in QUESTIONS if q not in split)
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["escalation_rate"] == pytest.approx(0.5) and summary["batch_calls"] == 6


def test_scattered_failed_lines_do_not_stop_the_run(tmp_path):
    """Every third line of one batch fails alike: in the input's order no five failures stand
    in a row, so every other answer downloaded is kept and the run goes to its end."""
    questions = [f"What is {i} plus {i + 1}?" for i in range(18)]
    data = write_input(tmp_path, questions)
    scattered = BatchBehaviour(seconds=0.2, fail=lambda line: "the server had an error"
                               if int(re.findall(r"\d+", user_question(line["body"]))[0]) % 3 == 0
                               else None)
    with ChatServer(summed, batch=scattered) as server:
        result = solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / "b"),
                       "--concurrency", "18", *batch_flags(server))
    rows = read_records(tmp_path / "b" / "answers.jsonl")
    failed = [r for r in rows if r["error"]]
    assert result.exit_code == 1 and "in a row" not in result.output
    assert len(rows) == 18 and 0 < len(failed) < 18
    assert all(r["answer"] is not None for r in rows if not r["error"])


def test_a_rerun_after_batches_folder_was_lost_downloads_again_and_pays_nothing(tmp_path):
    import shutil

    data = write_input(tmp_path)
    out = tmp_path / "b"
    with ChatServer(summed, batch=BatchBehaviour(seconds=0.2)) as server:
        assert solve("--input", str(data), "--method", "llm", "--out", str(out), "--no-cache",
                     *batch_flags(server)).exit_code == 0
        # As if killed after the batch ended but before its answers were written, and the
        # downloaded files deleted since: the ledger is all that is left of what was paid.
        (out / "answers.jsonl").unlink()
        shutil.rmtree(out / "batches")
        again = solve("--input", str(data), "--method", "llm", "--out", str(out), "--no-cache",
                      *batch_flags(server))
        assert again.exit_code == 0, again.output
        assert len(server.batch_api.batches) == 1 and len(server.batch_api.lines) == len(QUESTIONS)
    records = read_records(out / "answers.jsonl")
    assert sorted(r["answer"] for r in records) == sorted(str(2 * i + 1) for i in range(6))


def test_a_batch_turn_replayed_from_the_cache_keeps_its_batch_price(tmp_path):
    data = write_input(tmp_path)
    with ChatServer(summed, batch=BatchBehaviour(seconds=0.2)) as server:
        for out in ("first", "again"):  # the second run is answered by the response cache
            assert solve("--input", str(data), "--method", "llm", "--out", str(tmp_path / out),
                         *batch_flags(server)).exit_code == 0
        assert len(server.batch_api.batches) == 1
    replayed = read_records(tmp_path / "again" / "answers.jsonl")
    assert all(r["cached_calls"] == 1 and r["batch_calls"] == 1 for r in replayed)
    # Still the batch tier: half of gpt-4o-mini's 0.15 / 0.60 per million.
    assert all(r["cost_usd"] == pytest.approx((50 * 0.075 + 20 * 0.30) / 1e6) for r in replayed)
