"""What the eval-through-the-CLI tests share: the problems, an `eval` run against test servers,
and the one error line a failed command must end with."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.datasets import load_problems
from math_router.testing import ChatServer

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
MATH500 = str(ROOT / "data" / "math500" / "test.jsonl")
N, SEED = 6, 7
PROBLEMS = load_problems(GSM8K, N, SEED)
GOLD = {p.question: p.gold for p in PROBLEMS}


def run_eval(out: Path, orch: ChatServer, *extra: str, dataset: str = GSM8K, n: int = N,
             spec: ChatServer | None = None):
    spec_args = ["--specialist", spec.url, "--specialist-model", "qwen-math"] if spec else []
    return CliRunner().invoke(cli, [
        "eval", "--dataset", dataset, "--n", str(n), "--seed", str(SEED), "--out", str(out),
        "--base-url", orch.url, "--no-progress", "--concurrency", "1", *spec_args, *extra],
        env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)


def one_line(result) -> str:
    """The one error line of a failed command (after any progress notes), never a traceback."""
    lines = result.output.strip().splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert result.exit_code != 0 and len(errors) == 1 and lines[-1] == errors[0], result.output
    assert "Traceback" not in result.output
    return errors[0]
