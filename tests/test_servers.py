"""The servers users already run: llama-cpp-python's own OpenAI-compatible server, for real."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.testing import free_port, wait_until_serving


@pytest.fixture(scope="module")
def llama_cpp_server(smollm2, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    sink = log.open("w")  # a file, not a pipe: the server's chatter must never block it
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
                            stdout=sink, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(proc, url + "/models", log)
    except RuntimeError as e:
        pytest.fail(f"llama_cpp.server: {e}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    sink.close()


@pytest.mark.parametrize("first_call", [[], ["--model-first-call"]])
def test_the_router_works_against_llama_cpp_server(llama_cpp_server, smollm2, first_call):
    result = CliRunner().invoke(cli, [
        "solve", "What is 2+2?", "--base-url", llama_cpp_server, "--specialist", str(smollm2),
        "--specialist-max-tokens", "16", "--orchestrator-max-tokens", "16", "--json", "--no-cache",
        *first_call], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # No --model: the server lists one model, and it is used (as an API model, not a local file).
    data = json.loads(result.stdout)
    assert data["models"]["orchestrator"] == str(smollm2)
    assert data["stopped"] == "answer" and data["tool_calls"][0]["name"] == "slm_help"
    assert "orchestrator" not in data["local"]
    # The turn after the tool call carries the assistant's tool call with content "" (the server
    # refuses null there): it went through.
    assert data["usage"]["orchestrator"]["calls"] == (1 if not first_call else 2)
