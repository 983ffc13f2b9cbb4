"""Damaged or hostile input ends in one line: damaged files, caches, questions past the context."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.cache import ResponseCache
from math_router.evals.records import read_records
from math_router.testing import ChatServer, answering_orchestrator, error
from tests.eval_cli import GOLD, one_line, run_eval


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
