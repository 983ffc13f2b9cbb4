"""Eval throughput against an API with 200 ms latency: --concurrency 16 vs 1.

    python -m benchmarks.eval_concurrency [--n 48] [--latency 0.2]

A local chat-completions server (the tests' one) sleeps `latency` seconds per
request. Reported: the time `eval --method llm` spends solving (the runner)
and the whole command as a process (start-up included), for each concurrency.
Goal: >= 10x faster at 16 than at 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from math_router.engine.chat import OpenAIChat
from math_router.evals.datasets import load_problems
from math_router.evals.methods import Setup, llm
from math_router.evals.folders import EvalFolder
from math_router.evals.runner import run_method
from math_router.testing import ChatServer, completion

DATASET = str(ROOT / "data" / "gsm8k" / "test.jsonl")


def answer(request: dict):
    return completion("\\boxed{1}", prompt_tokens=120, completion_tokens=150, model="gpt-4o-mini")


def runner_seconds(url: str, n: int, concurrency: int) -> float:
    problems = load_problems(DATASET, n, 123)
    setup = Setup(orchestrator=OpenAIChat("gpt-4o-mini", base_url=url, api_key="sk-bench"))
    with tempfile.TemporaryDirectory() as out:
        EvalFolder(Path(out)).prepare(problems, {"dataset": DATASET, "n": n, "seed": 123}, {"llm": {}})
        start = time.perf_counter()
        records = run_method(Path(out), "llm", functools.partial(llm, setup), problems,
                             concurrency=concurrency, progress=False)
        seconds = time.perf_counter() - start
    assert len(records) == n and all(r["error"] is None for r in records)
    return seconds


def command_seconds(url: str, n: int, concurrency: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "cli.py", "eval", "--method", "llm", "--dataset", DATASET,
                        "--n", str(n), "--concurrency", str(concurrency), "--out", out,
                        "--base-url", url, "--no-progress"], cwd=ROOT, check=True,
                       env={**os.environ, "OPENAI_API_KEY": "sk-bench"}, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    figures = {}
    with ChatServer(answer, delay=args.latency) as server:
        for k in (1, 16):
            figures[k] = {"runner_s": runner_seconds(server.url, args.n, k),
                          "command_s": command_seconds(server.url, args.n, k)}
            print(f"concurrency {k}: runner {figures[k]['runner_s']:.2f} s, "
                  f"whole command {figures[k]['command_s']:.2f} s", flush=True)
    print(json.dumps({
        "n": args.n, "latency_s": args.latency, "concurrency": figures,
        "runner_speedup": round(figures[1]["runner_s"] / figures[16]["runner_s"], 2),
        "command_speedup": round(figures[1]["command_s"] / figures[16]["command_s"], 2)}))


if __name__ == "__main__":
    main()
