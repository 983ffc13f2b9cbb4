"""A run says how it was made (versions, models, prompts), and reading a live run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.records import read_records
from math_router.testing import ChatServer, answering_orchestrator
from tests.eval_cli import GOLD, N, one_line, run_eval


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
