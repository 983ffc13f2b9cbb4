"""A second specialist model as a tool: declared in a few lines, run on the shared runtime,
kept apart in records, cache, costs and run.json (two real GGUF specialists: SmolLM2 twice,
with different prompts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.llama import gguf
from math_router.testing import (ChatServer, completion, fill_hub_cache, has_tool_result,
                                 tool_call)

pytestmark = pytest.mark.gguf
ROOT = Path(__file__).resolve().parents[1]
CODER = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def two_tools(request):
    """slm_help has answered (the router's own first call); then code_help; then the answer."""
    names = {t["function"]["name"] for t in request.get("tools", [])}
    results = [m for m in request["messages"] if m.get("role") == "tool"]
    if not has_tool_result(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": "Sum the odd numbers"})])
    if len(results) == 1:
        assert "code_help" in names, names
        return completion(tool_calls=[tool_call("code_help", {"question": "Python for the sum"})],
                          prompt_tokens=120, completion_tokens=15)
    return completion("So it is \\boxed{2500}", prompt_tokens=150, completion_tokens=10)


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- specialist-tool-example -->\n```python\n(.*?)```", text,
                     re.DOTALL).group(1)


def test_the_readme_example_registers_a_second_model_in_five_lines(tmp_path, smollm2, monkeypatch,
                                                                   capsys):
    import huggingface_hub.constants as hub_constants

    hub = gguf.hub_file(gguf.DEFAULT_SPECIALIST)  # the math specialist: the test GGUF
    fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(gguf, "KNOWN_SIZES", {})
    (tmp_path / CODER).symlink_to(smollm2)  # the coder: the test GGUF again, its own prompt
    monkeypatch.chdir(tmp_path)
    with ChatServer(two_tools) as orch:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", orch.url)
        exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme"})
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["['code_help', 'slm_help']", "['code_help', 'orchestrator', 'specialist']"]


def own_copy(smollm2: Path, folder: Path) -> Path:
    """The test GGUF under a path of its own: a runtime of its own (runtimes are per file)."""
    import os
    import shutil

    path = folder / "smol-two-roles.gguf"
    try:
        os.link(smollm2, path)
    except OSError:
        shutil.copy(smollm2, path)
    return path


def test_two_gguf_specialists_are_kept_apart_in_records_cache_costs_and_run_json(tmp_path, smollm2):
    smollm2 = own_copy(smollm2, tmp_path)
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"question": "Sum the odd numbers below 100.",
                                "answer": "2500"}) + "\n")
    prompt = tmp_path / "coder.txt"
    prompt.write_text("You write Python code only.")

    def run(out, *extra):
        return CliRunner().invoke(cli, [
            "eval", "--method", "router", "--dataset", str(data), "--n", "all", "--out", str(out),
            "--base-url", orch.url, "--model", "gpt-4o-mini", "--specialist", str(smollm2),
            "--specialist-max-tokens", "16", "--specialist-tool", f"code_help={smollm2}",
            "--specialist-tool-prompt", f"code_help={prompt}", "--no-progress",
            "--price", f"{Path(smollm2).name}=1,2", *extra],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)

    with ChatServer(two_tools) as orch:
        first = run(tmp_path / "a")
        assert first.exit_code == 0, first.output
        again = run(tmp_path / "b")  # a fresh folder: every call from the cache
        assert again.exit_code == 0, again.output
        prompt.write_text("You write Rust.")
        other = run(tmp_path / "a")
    [record] = [json.loads(line) for line in (tmp_path / "a" / "results_router.jsonl").open()]
    usage, costs = record["usage"], record["component_cost_usd"]
    assert set(usage) == {"orchestrator", "specialist", "code_help"}
    assert usage["specialist"]["calls"] == 1 and usage["code_help"]["calls"] == 1
    assert usage["code_help"]["output_tokens"] > 0
    # Each priced as the file it is (--price names it), each on its own line.
    expected = (usage["code_help"]["input_tokens"] * 1 + usage["code_help"]["output_tokens"] * 2) / 1e6
    assert costs["code_help"] == pytest.approx(expected) and costs["specialist"] > 0
    calls = record["trace"]["tool_calls"]
    assert [(c["name"], c["model"]["name"]) for c in calls] == [
        ("slm_help", Path(smollm2).name), ("code_help", Path(smollm2).name)]
    # The two prompts give two answers: one model, two identities.
    assert calls[0]["result"] != calls[1]["result"]
    [cached] = [json.loads(line) for line in (tmp_path / "b" / "results_router.jsonl").open()]
    assert cached["usage"]["code_help"]["cached_calls"] == 1
    assert cached["usage"]["specialist"]["cached_calls"] == 1
    assert cached["trace"]["tool_calls"][1]["result"] == calls[1]["result"]
    settings = json.loads((tmp_path / "a" / "run.json").read_text())["methods"]["router"]["settings"]
    tool = settings["specialist_tools"]["code_help"]
    assert tool["gguf"]["file"] == Path(smollm2).name and len(tool["prompt"]) == 16
    assert "code_help" in settings["tools"]
    comparison = json.loads((tmp_path / "a" / "comparison.json").read_text())
    parts = comparison["methods"]["router"]["components"]
    assert parts["code_help"]["calls"] == 1 and parts["code_help"]["cost_usd"] == costs["code_help"]
    report = CliRunner().invoke(cli, ["report", str(tmp_path / "a"), "--no-plots"])
    assert "By component" in report.output and "| router   | code_help" in report.output
    # Another prompt behind the same tool: the folder's results were made with other settings.
    assert other.exit_code == 1 and "specialist_tools" in other.output


def test_a_bad_specialist_tool_flag_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["solve", "2+2", "--specialist-tool", "code_help"])
    assert result.exit_code == 2 and "write NAME=" in result.output
    result = CliRunner().invoke(cli, ["solve", "2+2", "--specialist-tool", "a=b.gguf",
                                      "--specialist-tool-prompt", "c=p.txt"])
    assert result.exit_code == 2 and "no --specialist-tool c=MODEL" in result.output
