"""A threshold chosen on calibration problems, for a named target, then used on the test set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.calibrate import choose, curve, parse_target
from math_router.evals.datasets import load_problems
from math_router.testing import ChatServer, completion, user_question

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "data" / "gsm8k" / "train.jsonl")
TEST = str(ROOT / "data" / "gsm8k" / "test.jsonl")
N = 8
CALIBRATION = load_problems(TRAIN, N, 5)
TESTING = load_problems(TEST, 4, 5)
GOLD = {p.question: p.gold for p in CALIBRATION + TESTING}
# Right votes out of 4 for the calibration problems, in order. The wrong votes all say gold + 1,
# so 1 right of 4 is a wrong majority with agreement 0.75.
RIGHT = [4, 4, 4, 4, 3, 3, 1, 1]


def specialist(request):
    question = user_question(request)
    index = next((i for i, p in enumerate(CALIBRATION) if p.question == question), 0)
    right = RIGHT[index] if question in {p.question for p in CALIBRATION} else 4
    gold = int(GOLD[question])
    start, n = request.get("seed", 0), request.get("n", 1)
    answers = [gold if (start + i) % 4 < right else gold + 1 for i in range(n)]
    return completion(choices=[{"index": i, "message": {"role": "assistant", "content": f"\\boxed{{{a}}}"},
                                "finish_reason": "stop"} for i, a in enumerate(answers)])


def orchestrator(request):
    text = request["messages"][-1]["content"]
    question = text.split("Problem:\n", 1)[1].split("\n\n", 1)[0] if "Problem:\n" in text \
        else user_question(request)
    return completion(f"\\boxed{{{GOLD[question]}}}", prompt_tokens=100, completion_tokens=20)


def invoke(*args, orch=None, spec=None):
    servers = ["--base-url", orch.url] if orch else []
    servers += ["--specialist", spec.url, "--specialist-model", "qwen-math", "--price", "qwen-math=0,0"]
    return CliRunner().invoke(cli, [*args, *servers, "--no-progress"], env={"OPENAI_API_KEY": "sk-test"},
                              catch_exceptions=False)


def test_targets_parse():
    assert parse_target("escalate:0.2").value == 0.2 and parse_target("escalate:20%").value == 0.2
    assert parse_target("accuracy:llm").kind == "accuracy"
    with pytest.raises(Exception, match="escalate:SHARE"):
        parse_target("cheap")


def test_choose_takes_the_highest_threshold_within_the_escalation_target():
    records = [{"id": str(i), "error": None, "agreement": a, "majority": "1", "correct": True,
                "majority_correct": True} for i, a in enumerate([1, 1, 1, 1, .75, .75, .5, .5])]
    points = curve(records, 4, with_accuracy=False)
    chosen, met = choose(points, parse_target("escalate:0.25"), None)
    assert met and chosen["threshold"] == 0.75 and chosen["escalation_rate"] == 0.25
    chosen, met = choose(points, parse_target("escalate:0"), None)
    assert met and chosen["threshold"] == 0.5 and chosen["escalation_rate"] == 0


def calibrate(target: str, out: Path, orch: ChatServer, spec: ChatServer):
    result = invoke("calibrate", "--dataset", TRAIN, "--n", str(N), "--seed", "5",
                    "--target", target, "--out", str(out), orch=orch, spec=spec)
    assert result.exit_code == 0, result.output
    return result


def test_calibrate_for_escalation_then_eval_uses_it(tmp_path):
    calib = tmp_path / "calib"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        result = calibrate("escalate:0.25", calib, orch, spec)
        assert orch.requests == []  # the votes alone decide an escalation target
        # Every vote here has agreement 0.75 or more: 0.75 escalates none, 1.0 half.
        assert "threshold 0.75" in result.output and "escalates 0% of 8" in result.output
        data = json.loads((calib / "calibration.json").read_text())
        assert data["threshold"] == 0.75 and data["met"] and len(data["problem_ids"]) == N
        assert {p["threshold"]: p["escalation_rate"] for p in data["curve"]}[1.0] == 0.5
        assert all(i.startswith("gsm8k-train-") for i in data["problem_ids"])
        # Its records and report say nobody was asked: no escalations, no accuracy where
        # problems would have escalated.
        records = [json.loads(line) for line in (calib / "results_cascade.jsonl").read_text().splitlines()]
        assert all(r["vote_only"] and not r["escalated"] for r in records)
        shown = CliRunner().invoke(cli, ["report", str(calib), "--no-plots"], catch_exceptions=False)
        assert "nobody was asked" in shown.output
        rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
                for line in shown.output.splitlines() if line.startswith("| 0.") or line.startswith("| 1.")}
        assert rows["0.75"] == "75.0%" and rows["1.00"] == "-"

        out = tmp_path / "test"
        used = invoke("eval", "--method", "cascade", "--dataset", TEST, "--n", "4", "--seed", "5",
                      "--out", str(out), "--calibration", str(calib / "calibration.json"),
                      orch=orch, spec=spec)
        assert used.exit_code == 0, used.output
        info = json.loads((out / "run.json").read_text())
        assert info["calibration"]["threshold"] == 0.75
        assert info["methods"]["cascade"]["settings"]["threshold"] == 0.75
        report = CliRunner().invoke(cli, ["report", str(out), "--no-plots"], catch_exceptions=False)
        assert "was chosen on 8 calibration problems" in report.output
        assert "not on these test problems" in report.output

        # Calibrating and testing on the same problems is refused.
        peek = invoke("eval", "--method", "cascade", "--dataset", TRAIN, "--n", str(N), "--seed", "5",
                      "--out", str(tmp_path / "peek"), "--calibration", str(calib / "calibration.json"),
                      orch=orch, spec=spec)
        assert peek.exit_code == 1 and "calibration problems too" in peek.output


def test_calibrate_for_the_llms_accuracy(tmp_path):
    calib = tmp_path / "calib"
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        calibrate("accuracy:llm", calib, orch, spec)
    data = json.loads((calib / "calibration.json").read_text())
    # The llm (the scripted orchestrator) is always right; two majorities are wrong at 0.75
    # agreement, so only escalating everything short of unanimous reaches the llm's accuracy.
    assert data["llm_accuracy"] == 1.0 and data["met"]
    assert data["threshold"] == 1.0 and data["achieved"]["accuracy"] == 1.0
    assert {p["threshold"]: p["accuracy"] for p in data["curve"]}[0.75] == 0.75
