"""llama.cpp's own llama-server (built from the same source by benchmarks/build_llama_tools.sh) as
orchestrator and as specialist: the router, the cascade, tool-integrated reasoning, for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.testing import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]


def llama_tools() -> Path | None:
    """The folder of the cached llama.cpp programs, if they are built for this CPU."""
    found = subprocess.run(["bash", str(ROOT / "benchmarks" / "build_llama_tools.sh"), "--where"],
                           capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable})
    return Path(found.stdout.strip()) if found.returncode == 0 else None


@pytest.fixture(scope="module")
def llama_server(smollm2, tmp_path_factory):
    tools = llama_tools()
    if tools is None:
        pytest.skip("llama-server is not built here: run benchmarks/build_llama_tools.sh "
                    "(.ci/run does)")
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    sink = log.open("w")
    proc = subprocess.Popen([str(tools / "llama-server"), "-m", str(smollm2), "--host", "127.0.0.1",
                             "--port", str(port), "--jinja", "-c", "8192", "-np", "4"],
                            stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:  # its /health answers 503 while the model loads
        wait_until_serving(proc, url + "/health", log, ready=lambda data: data.get("status") == "ok")
    except RuntimeError as e:
        pytest.fail(f"llama-server: {e}")
    yield url + "/v1"
    proc.terminate()
    proc.wait(timeout=30)
    sink.close()


def solve(server: str, *args: str) -> dict:
    result = CliRunner().invoke(cli, [
        "solve", "What is 2+2?", "--base-url", server, "--specialist", server,
        "--specialist-model", "smollm2", "--specialist-max-tokens", "48",
        "--orchestrator-max-tokens", "32", "--json", "--no-cache", "--no-progress", *args],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_router_with_llama_server_in_both_roles(llama_server):
    data = solve(llama_server)
    # No --model: the server lists one model, and it is used as an API model.
    assert data["models"]["orchestrator"].endswith(".gguf") and data["local"] == []
    assert data["stopped"] == "answer" and data["tool_calls"][0]["name"] == "slm_help"
    assert data["usage"]["orchestrator"]["calls"] == 1 and data["usage"]["specialist"]["calls"] == 1
    assert data["usage"]["specialist"]["output_tokens"] > 0


def test_a_forced_tool_call_it_does_not_honour_still_ends_in_an_answer(llama_server):
    """llama-server ignores a forced tool_choice for a template without tools (SmolLM2's): with
    --model-first-call the orchestrator may answer at once; the run goes on, nothing breaks."""
    data = solve(llama_server, "--model-first-call")
    assert data["stopped"] == "answer" and data["usage"]["orchestrator"]["calls"] >= 1


def test_the_cascade_counts_every_samples_tokens(llama_server):
    data = solve(llama_server, "--method", "cascade", "--threshold", "1.01", "--samples", "3")
    specialist = data["usage"]["specialist"]
    # Three requests of one sample (llama-server reports one choice's tokens for n=3).
    assert specialist["calls"] == 3 and specialist["output_tokens"] > 48
    assert data["vote"]["escalated"] and data["usage"]["orchestrator"]["calls"] >= 1


def test_tool_integrated_reasoning_through_its_text_completions(llama_server):
    data = solve(llama_server, "--method", "slm", "--specialist-mode", "tir")
    assert data["stopped"] == "answer" and data["details"]["mode"] == "tir"
    assert data["usage"]["specialist"]["calls"] == 1 and data["usage"]["specialist"]["output_tokens"] > 0
