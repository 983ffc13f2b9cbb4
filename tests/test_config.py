"""--config FILE: settings from a TOML file, under the flags' own names; flags win."""

from __future__ import annotations

import json

from click.testing import CliRunner

from math_router.cli import cli
from math_router.testing import ChatServer, completion, user_question
from tests.eval_cli import GOLD, one_line


def orchestrator(request):
    return completion(f"\\boxed{{{GOLD.get(user_question(request), 0)}}}", prompt_tokens=100,
                      completion_tokens=20)


def invoke(*args):
    return CliRunner().invoke(cli, list(args), env={"OPENAI_API_KEY": "sk-test"},
                              catch_exceptions=False)


def test_a_config_file_sets_the_flags_and_the_command_line_wins(tmp_path):
    config = tmp_path / "math-router.toml"
    config.write_text('model = "gpt-4o-mini"\nno-cache = true\nprice = ["gpt-4o-mini=1,2"]\n'
                      '[eval]\nn = 3\nseed = 7\n[solve]\nn-is-not-here = 1\n')
    plan = invoke("eval", "--config", str(config), "--dry-run", "--method", "llm")
    assert plan.exit_code == 0, plan.output
    assert "3 of 3" in plan.output  # [eval]'s n; the [solve] table is solve's alone
    # 3 x (90 in x $1 + 210 out x $2) per million, at the config's --price.
    assert "$0.0015" in plan.output
    flags_win = invoke("eval", "--config", str(config), "--dry-run", "--method", "llm", "--n", "4")
    assert "4 of 4" in flags_win.output

    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        config.write_text(config.read_text().replace("[solve]\nn-is-not-here = 1\n", "")
                          + f'base-url = "{orch.url}"\nno-progress = true\nconcurrency = 1\n')
        result = invoke("eval", "--config", str(config), "--method", "llm", "--out", str(out))
        assert result.exit_code == 0, result.output
        asked = len(orch.requests)
    assert asked == 3
    command = json.loads((out / "run.json").read_text())["command"]
    # What the file set is recorded as flags: --resume needs no config file.
    assert "--no-cache" in command and command[command.index("--n") + 1] == "3"
    settings = json.loads((out / "run.json").read_text())["methods"]["llm"]["settings"]
    assert settings["prices"]["gpt-4o-mini"]["input_per_million"] == 1.0


def test_a_bad_config_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("model = \n")
    assert "is not a TOML file" in one_line(invoke("eval", "--config", str(bad), "--dry-run"))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('modle = "gpt-4o-mini"\n')
    assert "modle is not a flag of any command" in one_line(
        invoke("eval", "--config", str(unknown), "--dry-run"))
    table = tmp_path / "table.toml"
    table.write_text("[evaluate]\nn = 3\n")
    assert "[evaluate] is not a command" in one_line(
        invoke("eval", "--config", str(table), "--dry-run"))


def test_help_comes_in_groups_with_every_option_once():
    from math_router.cli import HELP_GROUPS

    for command in ("eval", "solve", "calibrate", "serve", "train-probe"):
        text = CliRunner().invoke(cli, [command, "--help"]).output
        titles = [t for t, _ in HELP_GROUPS if f"\n{t}:\n" in text]
        assert "Orchestrator" in titles and "Specialist" in titles, (command, titles)
        params = cli.commands[command].params
        for param in params:
            flag = next((o for o in param.opts if o.startswith("--")), None)
            if flag and not getattr(param, "hidden", False):
                assert text.count(f"  {flag} ") + text.count(f"  {flag},") \
                    + text.count(f"  {flag}\n") + text.count(f"  {flag}/") >= 1, (command, flag)
    assert "Other options" not in CliRunner().invoke(cli, ["eval", "--help"]).output


def test_a_flag_set_false_in_the_config_is_its_default(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("no-cache = false\n[eval]\nn = 2\n")
    out = tmp_path / "run"
    with ChatServer(orchestrator) as orch:
        result = invoke("eval", "--config", str(config), "--method", "llm", "--out", str(out),
                        "--base-url", orch.url, "--no-progress")
    assert result.exit_code == 0, result.output
    command = json.loads((out / "run.json").read_text())["command"]
    assert "--no-cache" not in command and command[command.index("--n") + 1] == "2"
