"""`solve --input`: a file of a user's own problems answered into a folder, resumed after a kill."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import math_router
from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.testing import ChatServer, completion, error, user_question

ROOT = Path(__file__).resolve().parents[1]


def summed(request: dict):
    """An orchestrator that answers the sum of the numbers in the question."""
    numbers = [int(x) for x in re.findall(r"\d+", user_question(request))]
    return completion(f"Adding up. \\boxed{{{sum(numbers)}}}", prompt_tokens=50, completion_tokens=20)


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ROWS = [{"question": "What is 2 plus 3?"},                     # no answer: not graded
        {"question": "Add 10 and 5.", "answer": "15"},         # graded, right
        {"question": "Sum 1, 2 and 3.", "answer": "7"},        # graded, wrong (6)
        {"question": "What is 40 plus 2?"}]


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["solve", *args], env={"OPENAI_API_KEY": "sk-test"},
                              input=input, catch_exceptions=False)


def test_a_file_is_answered_into_jsonl_csv_and_a_summary(tmp_path):
    data = write_rows(tmp_path / "homework.jsonl", ROWS)
    out = tmp_path / "answers"
    with ChatServer(summed) as orch:
        result = invoke("--input", str(data), "--method", "llm", "--base-url", orch.url,
                        "--out", str(out), "--no-progress", "--concurrency", "2")
    assert result.exit_code == 0, result.output
    records = read_records(out / "answers.jsonl")
    assert sorted(r["id"] for r in records) == ["homework-0", "homework-1", "homework-2", "homework-3"]
    by_id = {r["id"]: r for r in records}
    first = by_id["homework-0"]
    assert first["question"] == "What is 2 plus 3?" and first["answer"] == "5"
    assert first["gold"] is None and first["correct"] is None and first["error"] is None
    assert {"final_text", "method", "ended", "models", "input_tokens", "output_tokens", "seconds",
            "cost_usd", "spent", "error", "trace"} <= set(first)
    assert by_id["homework-1"]["correct"] is True and by_id["homework-2"]["correct"] is False
    # gpt-4o-mini list prices: 50 in, 20 out per problem.
    assert first["cost_usd"] == pytest.approx((50 * 0.15 + 20 * 0.60) / 1e6)

    with open(out / "answers.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [f"homework-{i}" for i in range(4)]  # the input's order
    # The input's own columns come back as they were; the answer's own "answer" column, which
    # the input has too, is math_router_answer.
    assert [r["question"] for r in rows] == [r["question"] for r in ROWS]
    assert [r["answer"] for r in rows] == [r.get("answer", "") for r in ROWS]
    assert [r["math_router_answer"] for r in rows] == ["5", "15", "6", "42"]
    assert rows[0]["correct"] == "" and rows[1]["correct"] == "True"

    summary = json.loads((out / "summary.json").read_text())
    assert summary["problems"] == 4 and summary["answered"] == 4 and summary["errors"] == 0
    assert summary["graded"] == 2 and summary["accuracy"] == 0.5 and len(summary["accuracy_ci"]) == 2
    assert summary["total_cost_usd"] == pytest.approx(4 * first["cost_usd"])
    assert summary["cost_per_problem_usd"] == pytest.approx(first["cost_usd"])
    assert summary["models"] == {"orchestrator": ["gpt-4o-mini"]}
    assert summary["environment"]["packages"]["openai"] and summary["input"]["rows"] == 4
    assert "4 of 4 answered" in result.output and "accuracy 50.0%" in result.output


def test_stdin_and_jsonl_stream_without_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lines = "".join(json.dumps(r) + "\n" for r in ROWS)
    with ChatServer(summed) as orch:
        result = invoke("--input", "-", "--jsonl", "--method", "llm", "--base-url", orch.url,
                        "--no-progress", input=lines)
    assert result.exit_code == 0, result.output
    streamed = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(r["id"] for r in streamed) == [f"stdin-{i}" for i in range(4)]
    assert {r["answer"] for r in streamed} == {"5", "15", "6", "42"}
    assert not (tmp_path / "results").exists()  # --jsonl without --out writes no folder


def test_a_rerun_skips_finished_rows_retries_errors_and_drops_a_torn_line(tmp_path):
    data = write_rows(tmp_path / "mine.jsonl", ROWS)
    out = tmp_path / "answers"
    broken = {"Add 10 and 5."}

    def flaky(request):
        return error(500, "down for a moment") if user_question(request) in broken else summed(request)

    with ChatServer(flaky) as orch:
        args = ["--input", str(data), "--method", "llm", "--base-url", orch.url, "--out", str(out),
                "--no-progress"]
        first = invoke(*args)
        assert first.exit_code == 1 and "1 problem(s) ended in an error" in first.output
        assert "HTTP 500" in read_records(out / "answers.jsonl")[-1]["error"] or any(
            r["error"] for r in read_records(out / "answers.jsonl"))
        with open(out / "answers.jsonl", "a") as f:
            f.write('{"id": "mine-0", "quest')  # a kill mid-write
        broken.clear()
        asked = len(orch.requests)
        again = invoke(*args)
        assert again.exit_code == 0, again.output
        assert [user_question(r) for r in orch.requests[asked:]] == ["Add 10 and 5."]
    lines = (out / "answers.jsonl").read_text().splitlines()
    assert len(lines) == 5 and all(line.endswith("}") for line in lines)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] == 0 and summary["answered"] == 4 and summary["complete"]


def test_refusals_are_one_line_and_write_nothing(tmp_path):
    data = write_rows(tmp_path / "mine.jsonl", ROWS)
    out = tmp_path / "answers"
    with ChatServer(summed) as orch:
        base = ["--base-url", orch.url, "--no-progress"]
        assert invoke("--input", str(data), "--method", "llm", "--out", str(out), *base).exit_code == 0
        before = (out / "answers.jsonl").read_bytes(), (out / "run.json").read_bytes()
        other = write_rows(tmp_path / "other.jsonl", [{**r, "id": f"mine-{i}"} for i, r in enumerate(
            [{"question": "What is 7 plus 1?"}, *ROWS[1:]])])
        fewer = write_rows(tmp_path / "fewer.jsonl", ROWS[:2])
        dup = write_rows(tmp_path / "dup.jsonl", [{"id": 1, "question": "a"}, {"id": "1", "question": "b"}])
        cases = [
            (["--input", str(data), "--method", "router", "--out", str(out)], "holds llm answers"),
            (["--input", str(data), "--method", "llm", "--model", "gpt-4o", "--out", str(out)],
             "other settings (orchestrator)"),
            (["--input", str(other), "--method", "llm", "--out", str(out)],
             "another question under the id 'mine-0'"),
            (["--input", str(fewer), "--method", "llm", "--out", str(out)],
             "answers to problems this input does not have"),
            (["--input", str(dup), "--method", "llm"], "rows 1 and 2 have the same id '1'"),
            (["--input", str(tmp_path / "none.jsonl")], "there is no file"),
            (["--input", str(data), "What is 1+1?"], "not both"),
        ]
        for args, message in cases:
            result = CliRunner().invoke(cli, ["solve", *args, *base], env={"OPENAI_API_KEY": "sk-t"})
            assert result.exit_code == 1 and message in result.output, (args, result.output)
    assert ((out / "answers.jsonl").read_bytes(), (out / "run.json").read_bytes()) == before


def test_the_same_error_five_times_stops_the_job_keeping_what_finished(tmp_path):
    rows = [{"question": f"What is {i} plus 1?"} for i in range(12)]
    data = write_rows(tmp_path / "many.jsonl", rows)
    out = tmp_path / "answers"
    with ChatServer(lambda r: error(500, "the same failure")) as orch:
        result = invoke("--input", str(data), "--method", "llm", "--base-url", orch.url,
                        "--out", str(out), "--no-progress", "--concurrency", "1")
    assert result.exit_code == 1 and "the same error on 5 problems in a row" in result.output
    assert len(read_records(out / "answers.jsonl")) == 5


def test_solve_many_from_python_takes_strings_or_dicts(tmp_path):
    with ChatServer(summed) as orch:
        answers = list(math_router.solve_many(["What is 1 plus 1?", "And 2 plus 2?"], "llm",
                                              base_url=orch.url, api_key="sk-t", progress=False))
        again = list(math_router.solve_many([{"id": "a", "question": "3 plus 4", "answer": 7}],
                                            "llm", base_url=orch.url, api_key="sk-t",
                                            out=tmp_path / "o", progress=False))
    assert sorted(a["answer"] for a in answers) == ["2", "4"]
    assert [a["id"] for a in answers if a["answer"] == "2"] == ["rows-0"]
    assert again[0]["correct"] is True and (tmp_path / "o" / "summary.json").exists()


def test_ten_kills_at_random_moments_answer_every_row_exactly_once(tmp_path):
    """`kill -9` at random moments; each rerun resumes: every row answered once, none twice."""
    rows = [{"question": f"What is {i} plus {i}?"} for i in range(40)]
    data = write_rows(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "answers"
    env = {**os.environ, "OPENAI_API_KEY": "sk-test"}
    rng = random.Random(7)
    with ChatServer(summed, delay=0.05) as orch:
        args = [sys.executable, "cli.py", "solve", "--input", str(data), "--method", "llm",
                "--base-url", orch.url, "--out", str(out), "--no-progress", "--concurrency", "4",
                "--no-cache"]
        for _ in range(10):
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    records = read_records(out / "answers.jsonl")
    ids = [r["id"] for r in records]
    assert sorted(set(ids)) == sorted(f"rows-{i}" for i in range(40))
    assert len(ids) == len(set(ids)), "a finished row was answered twice"
    assert all(r["answer"] == str(2 * int(r["id"].split("-")[1])) for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["answered"] == 40 and summary["complete"]


def test_answers_csv_joins_back_to_the_input_by_its_own_id_column(tmp_path):
    rows = [{"ticket": "T-7", "student": "Ana", "question": "What is 2 plus 3?", "tags": ["a", "b"]},
            {"ticket": "T-9", "student": "Ben", "question": "What is 40 plus 2?", "tags": []}]
    data = write_rows(tmp_path / "tickets.jsonl", rows)
    out = tmp_path / "answers"
    with ChatServer(summed) as orch:
        result = invoke("--input", str(data), "--id-field", "ticket", "--method", "llm",
                        "--base-url", orch.url, "--out", str(out), "--no-progress")
    assert result.exit_code == 0, result.output
    with open(out / "answers.csv", newline="") as f:
        reader = csv.DictReader(f)
        header, got = reader.fieldnames, list(reader)
    assert header[:4] == ["ticket", "student", "question", "tags"]
    assert "id" not in header and "answer" in header
    assert [(r["ticket"], r["student"], r["answer"]) for r in got] == [("T-7", "Ana", "5"),
                                                                       ("T-9", "Ben", "42")]
    assert got[0]["tags"] == '["a", "b"]'


def test_report_reads_a_solve_input_folder(tmp_path):
    data = write_rows(tmp_path / "homework.jsonl", ROWS)
    out = tmp_path / "answers"
    with ChatServer(summed) as orch:
        assert invoke("--input", str(data), "--method", "llm", "--base-url", orch.url,
                      "--out", str(out), "--no-progress").exit_code == 0
    result = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    comparison = json.loads((out / "comparison.json").read_text())
    llm = comparison["methods"]["llm"]
    assert llm["n"] == 4 and llm["graded"] == 2 and llm["accuracy"] == 0.5
    assert llm["settings"]["method"] == "llm"
    markdown = (out / "report.md").read_text()
    assert markdown.startswith("# Results: your problems (") and "4 rows" in markdown.splitlines()[0]
    page = (out / "report.html").read_text()
    assert "What is 40 plus 2?" in page and "Sum 1, 2 and 3." in page
