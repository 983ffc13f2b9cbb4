"""The orchestrator's spend of `eval --method llm,cascade` with `--batch-api` against the same run
without it, as the runs record it (comparison.json's `spent.cost_usd`).

    python -m benchmarks.batch_cost [--n 50] [--specialist GGUF]

The orchestrator is the test chat server playing gpt-4o-mini (its list prices, and the batch
tier for batched calls); the specialist is a test server whose samples disagree on every third
problem (or a GGUF with --specialist), so the cascade escalates some. `--no-cache` both times.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from click.testing import CliRunner

from math_router.cli import cli
from math_router.testing import BatchBehaviour, ChatServer, completion, user_question

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")


def orchestrator(request: dict):
    numbers = re.findall(r"\d+", user_question(request))
    return completion(f"Step by step... \\boxed{{{numbers[-1] if numbers else 0}}}",
                      prompt_tokens=180 + len(user_question(request)) // 4, completion_tokens=220)


def specialist(request: dict):
    question = user_question(request)
    split = sum(map(ord, question)) % 3 == 0
    answers = ["1", "2", "3", "4"] if split else ["5"] * 4
    return completion(f"\\boxed{{{answers[request.get('seed', 0) % 4]}}}")


def run(args, batch: bool, orch: ChatServer, spec: ChatServer, out: Path) -> dict:
    specialist_flags = ["--specialist", args.specialist] if args.specialist else \
        ["--specialist", spec.url, "--specialist-model", "qwen-math", "--price", "qwen-math=0,0"]
    result = CliRunner().invoke(cli, [
        "eval", "--method", "llm,cascade", "--dataset", GSM8K, "--n", str(args.n), "--out", str(out),
        "--base-url", orch.url, "--no-cache", "--no-progress", *specialist_flags,
        *(["--batch-api", "--batch-poll", "0.1"] if batch else [])],
        env={"OPENAI_API_KEY": "sk-bench"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads((out / "comparison.json").read_text())["methods"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--specialist", help="a GGUF specialist instead of the test server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ChatServer(orchestrator, batch=BatchBehaviour(
            seconds=0.5)) as orch, ChatServer(specialist) as spec:
        direct = run(args, False, orch, spec, Path(tmp) / "direct")
        batched = run(args, True, orch, spec, Path(tmp) / "batch")
        batches = len(orch.batch_api.batches)
    for method in ("llm", "cascade"):
        d, b = direct[method], batched[method]
        print(f"{method:8s} orchestrator spend: direct ${d['spent']['cost_usd']:.6f}, batch "
              f"${b['spent']['cost_usd']:.6f} ({b['spent']['cost_usd'] / d['spent']['cost_usd']:.3f}x); "
              f"batch calls {b['batch_calls']}; accuracy {d['accuracy']:.3f} / {b['accuracy']:.3f}"
              + (f"; escalated {b['escalation_rate']:.0%}" if "escalation_rate" in b else ""))
    total = [sum(m[x]["spent"]["cost_usd"] for x in ("llm", "cascade")) for m in (direct, batched)]
    print(f"both methods: ${total[0]:.6f} direct, ${total[1]:.6f} batch ({total[1] / total[0]:.3f}x); "
          f"{batches} batches")


if __name__ == "__main__":
    main()
