"""`cli.py solve` through click's CliRunner and as a process, against test servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from math_router.cli import cli
from math_router.testing import ChatServer, completion, error, router_orchestrator, specialist_answering

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-test-do-not-print-4242"


def solve(*args, env=None):
    runner = CliRunner()
    return runner.invoke(cli, ["solve", *args], env={"OPENAI_API_KEY": KEY, **(env or {})},
                         catch_exceptions=False)


def servers():
    return ChatServer(router_orchestrator()), ChatServer(specialist_answering())


def test_solve_prints_the_answer_then_the_trace():
    orch, spec = servers()
    with orch, spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                       "--specialist-model", "qwen-math")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "393"
    assert lines[1].startswith('  tool slm_help({"question": "27*14+15"})')
    assert any(line.startswith("  orchestrator (gpt-4o-mini): 1 call(s), 400 in / 12 out tokens")
               for line in lines)
    assert any(line.startswith("  specialist (qwen-math): 1 call(s), 40 in / 80 out tokens")
               for line in lines)
    assert lines[-1].startswith("  total: ")
    assert KEY not in result.output


def test_solve_json_has_the_documented_keys():
    orch, spec = servers()
    with orch, spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                       "--specialist-model", "qwen-math", "--price", "qwen-math=0,0", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "393"
    assert data["method"] == "router"
    assert "\\boxed{393}" in data["final_text"]
    assert data["tool_calls"][0]["name"] == "slm_help"
    assert data["tool_calls"][0]["arguments"] == {"question": "27*14+15"}
    assert data["tool_calls"][0]["seconds"] >= 0
    assert data["usage"]["orchestrator"]["input_tokens"] == 400
    assert data["usage"]["orchestrator"]["output_tokens"] == 12
    specialist = dict(data["usage"]["specialist"])
    assert specialist.pop("seconds") > 0
    assert specialist == {"input_tokens": 40, "output_tokens": 80, "calls": 1, "cached_calls": 0,
                          "prompt_cache_hit_tokens": 0, "reasoning_tokens": 0}
    assert data["spent"]["calls"] == 2 and data["spent"]["cached_calls"] == 0
    assert data["cost_usd"] == (400 * 0.15 + 12 * 0.60) / 1e6
    assert data["seconds"] > 0
    assert KEY not in result.output


def test_llm_method_needs_no_specialist():
    from math_router.testing import completion

    with ChatServer([completion("So \\boxed{393}.")]) as orch:
        # The default specialist is a GGUF that is not in the test's empty cache:
        # the llm method must not even look for it.
        result = solve("27*14+15", "--method", "llm", "--base-url", orch.url, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "393" and data["tool_calls"] == []
    assert "tools" not in orch.requests[0]


def test_no_force_tool_lets_the_model_choose():
    orch, spec = servers()
    with orch, spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                       "--specialist-model", "qwen-math", "--no-force-tool")
    assert result.exit_code == 0
    assert "tool_choice" not in orch.requests[0]


def test_max_turns_is_reported_not_a_crash():
    from math_router.testing import completion, tool_call

    endless = lambda _: completion(tool_calls=[tool_call("slm_help", {"question": "again"})])  # noqa: E731
    with ChatServer(endless) as orch, ChatServer(specialist_answering()) as spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                       "--specialist-model", "qwen-math", "--max-turns", "2")
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "  stopped: the orchestrator reached --max-turns before answering"
    assert len(orch.requests) == 2


def run_cli(*args, env_extra=None):
    """The CLI as a user runs it: a process, stderr apart."""
    import os

    env = {"PATH": "/usr/bin:/bin", "HOME": str(ROOT), "HF_HUB_OFFLINE": "1",
           "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"], "HF_HOME": os.environ["HF_HOME"],
           **(env_extra or {})}
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc, fragment):
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("Error: ") and fragment in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_user_errors_are_one_line_on_stderr():
    assert_one_line_error(run_cli("solve", "  "), "the question is empty")
    assert_one_line_error(run_cli("solve", "1+1", "--method", "magic"), "'magic' is not one of")
    assert_one_line_error(run_cli("solve", "1+1", "--method", "llm", "--model", "gpt-4o"),
                          "no OpenAI API key")
    assert_one_line_error(run_cli("solve", "1+1", "--price", "nonsense"), "--price wants NAME=IN,OUT")
    assert_one_line_error(run_cli("solve"), "give a QUESTION, or --input FILE")


def test_a_server_that_does_not_answer_is_one_line_without_the_key():
    proc = run_cli("solve", "1+1", "--method", "llm", "--base-url", "http://127.0.0.1:9/v1",
                   env_extra={"OPENAI_API_KEY": KEY})
    assert_one_line_error(proc, "cannot reach http://127.0.0.1:9/v1")
    assert KEY not in proc.stderr + proc.stdout


def test_a_failing_server_is_one_line_without_the_key():
    with ChatServer(lambda _: error(500, f"boom {KEY}")) as orch:
        proc = run_cli("solve", "1+1", "--method", "llm", "--base-url", orch.url,
                       env_extra={"OPENAI_API_KEY": KEY})
    assert_one_line_error(proc, "answered HTTP 500")
    assert KEY not in proc.stderr + proc.stdout


def test_progress_goes_to_stderr_and_json_stays_one_object():
    orch, spec = servers()
    with orch, spec:
        result = solve("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                       "--specialist-model", "qwen-math", "--json", "--progress")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["answer"] == "393"
    steps = result.stderr.splitlines()
    assert any("tool slm_help: running" in s for s in steps)
    assert any("specialist: 80 tokens" in s and "answer 393" in s for s in steps)
    assert any("orchestrator gpt-4o-mini: turn 1" in s for s in steps)
    assert all(s.startswith("[") for s in steps)


def test_a_server_with_one_model_needs_no_model_flag_and_several_are_listed():
    with ChatServer(router_orchestrator(), models=("llama-3-8b", "qwen-7b")) as orch:
        result = solve("27*14+15", "--base-url", orch.url, "--method", "llm")
    assert result.exit_code == 1
    assert "serves 2 models: pass --model with one of llama-3-8b, qwen-7b" in result.output
    with ChatServer(lambda r: completion("\\boxed{1}"), models=("my-vllm-model",)) as orch:
        result = solve("1", "--base-url", orch.url, "--method", "llm", "--json")
        assert orch.requests[0]["model"] == "my-vllm-model"
    assert json.loads(result.stdout)["models"]["orchestrator"] == "my-vllm-model"


def _options_from(args, monkeypatch):
    """The ModelOptions the shared model flags make of `args`."""
    import click

    from math_router.cli import make_options, model_options

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    command = click.command()(model_options(lambda **kw: make_options(kw)))
    return command.main(list(args), standalone_mode=False)


def test_the_flags_defaults_are_the_options_defaults(monkeypatch):
    from math_router.options import ModelOptions

    assert _options_from([], monkeypatch) == ModelOptions()


def test_each_flag_reaches_its_option(monkeypatch):
    from math_router.engine.pricing import Price

    options = _options_from(["--threads", "3", "--no-cache", "--no-batch", "--model-first-call",
                             "--no-force-tool", "--no-agree-stop", "--max-turns", "2",
                             "--price", "mine=1,2", "--samples", "5", "--code-cpu", "3",
                             "--router-samples", "2", "--samples-mix", "cot:1,tir:1",
                             "--tools", "python", "--max-tool-calls", "2",
                             "--batch-poll", "0.5"], monkeypatch)
    assert (options.threads, options.max_turns, options.router_samples) == (3, 2, 2)
    assert not (options.cache or options.batch or options.direct_first_call
                or options.force_tool or options.agree_stop)
    assert options.prices == {"mine": Price(1.0, 2.0)} and options.sampling.k == 5
    assert options.sandbox.cpu_seconds == 3 and options.samples_mix == (("cot", 1), ("tir", 1))
    assert options.tools == ("python",) and options.tool_limits.per_turn == 2
    assert options.batch_poll == 0.5


def test_version_says_the_installed_version():
    import importlib.metadata

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"math-router {importlib.metadata.version('math-router')}"


def test_a_text_beside_the_last_tool_call_is_no_answer_anywhere():
    """One rule for a trace's answer: cut at --max-turns, the CLI, --json and the API agree."""
    from math_router import api
    from math_router.testing import completion, tool_call

    chatty = lambda _: completion("Maybe \\boxed{7}.", tool_calls=[  # noqa: E731
        tool_call("slm_help", {"question": "again"})])
    with ChatServer(chatty) as orch, ChatServer(specialist_answering()) as spec:
        args = ("27*14+15", "--base-url", orch.url, "--specialist", spec.url,
                "--specialist-model", "qwen-math", "--max-turns", "2")
        as_json = json.loads(solve(*args, "--json").output)
        text = solve(*args).output
        result = api.solve("27*14+15", "router", base_url=orch.url, specialist=spec.url,
                           specialist_model="qwen-math", max_turns=2, api_key="sk-test")
    assert as_json["stopped"] == "max_turns" and as_json["answer"] is None
    assert result.answer is None and result.trace.answer is None
    assert "(no final answer found)" in text
