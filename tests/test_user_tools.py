"""Tools of the user's own reach solve and eval: in code, by --tool, by an installed entry point."""

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

ROOT = Path(__file__).resolve().parents[1]


def percent_orchestrator(request):
    """Asks percent_of once the specialist has answered, then reports its result."""
    tool_names = {t["function"]["name"] for t in request.get("tools", [])}
    results = [m for m in request["messages"] if m.get("role") == "tool"]
    if not has_tool_result(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": "What percentage of 80 is 20?"})])
    if len(results) == 1:
        assert "percent_of" in tool_names, tool_names
        return completion(tool_calls=[tool_call("percent_of", {"part": 20, "whole": 80})])
    return completion(f"So it is \\boxed{{{results[-1]['content'].rstrip('%')}}}")


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.search(r"<!-- tool-example -->\n```python\n(.*?)```", text, re.DOTALL).group(1)


def test_the_readme_example_calls_the_tool_in_a_real_solve(tmp_path, smollm2, monkeypatch, capsys):
    import huggingface_hub.constants as hub_constants

    # The default specialist is in the Hugging Face cache (the small test GGUF stands in for it).
    hub = gguf.hub_file(gguf.DEFAULT_SPECIALIST)
    fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(gguf, "KNOWN_SIZES", {})
    with ChatServer(percent_orchestrator) as orch:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENAI_BASE_URL", orch.url)
        exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme"})
        sent = [m for r in orch.requests for m in r["messages"] if m.get("role") == "tool"]
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["25", "['slm_help', 'percent_of']"]
    assert any(m["content"] == "25%" for m in sent)  # the tool ran, the model read its result


def write_package(folder: Path) -> None:
    (folder / "mytools.py").write_text(
        'def unit_price(total: float, count: int) -> str:\n'
        '    """Price of one item.\n\n    Args:\n        total: Total price.\n        count: Items.\n    """\n'
        '    return f"{total / count:g}"\n')
    info = folder / "mytools-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mytools\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[math_router.tools]\nunit_price = mytools:unit_price\n")


def unit_price_orchestrator(request):
    results = [m for m in request["messages"] if m.get("role") == "tool"]
    if len(results) == 1:
        return completion(tool_calls=[tool_call("unit_price", {"total": 12, "count": 4})])
    return completion(f"\\boxed{{{results[-1]['content']}}}")


@pytest.mark.parametrize("reference", ["mytools:unit_price", "unit_price"])
def test_a_tool_by_reference_or_installed_entry_point(tmp_path, monkeypatch, reference):
    write_package(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with ChatServer(unit_price_orchestrator) as orch, \
            ChatServer(lambda r: completion("\\boxed{3}")) as spec:
        result = CliRunner().invoke(cli, [
            "solve", "4 pens cost $12. What does one cost?", "--base-url", orch.url,
            "--specialist", spec.url, "--specialist-model", "q", "--tool", reference, "--json"],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answer"] == "3" and [c["name"] for c in data["tool_calls"]] == ["slm_help", "unit_price"]


def test_a_tool_that_cannot_be_found_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["solve", "x", "--tool", "nosuch_module_xyz:f", "--base-url",
                                      "http://127.0.0.1:9/v1", "--model", "m"],
                                env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 1 and "cannot import nosuch_module_xyz" in result.output
    result = CliRunner().invoke(cli, ["solve", "x", "--tool", "not_installed_tool", "--base-url",
                                      "http://127.0.0.1:9/v1", "--model", "m"],
                                env={"OPENAI_API_KEY": "sk-test"})
    assert result.exit_code == 1 and "name of an installed tool" in result.output


def test_a_tool_may_not_take_a_name_already_offered():
    from math_router.engine.errors import UserError
    from math_router.factory import build_tools
    from math_router.tools.extra import register_tool

    def slm_help(question: str) -> str:
        """Answer.

        Args:
            question: The problem.
        """
        return "42"

    register_tool(slm_help)
    with pytest.raises(UserError, match="'slm_help' is already registered"):
        build_tools((), None)  # the router's own slm_help holds the name
    with pytest.raises(UserError, match="already registered"):
        register_tool(slm_help)
