"""`math-router serve` under load, with the real openai client in threads of this process.

    python -m benchmarks.serve_load load        [--requests 200] [--clients 32]
    python -m benchmarks.serve_load throughput  [--questions 32] [--clients 8] [--max-tokens 128]
    python -m benchmarks.serve_load overhead    [--requests 200]

load: the test chat server as orchestrator (replying at once), SmolLM2 as the specialist,
`--method cascade` on GSM8K questions: lost requests, 5xx, p50/p99 latency, requests/s.
throughput: the same server, answered questions per minute at N clients against 1.
overhead: `--method llm` against the test chat server, one request at a time: the median
seconds through `serve` against `api.Solver.solve` in process for the same question (both
reach the same orchestrator over HTTP; the difference is the server's hop).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

from math_router.testing import ChatServer, completion, free_port, smollm2_file, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]


def orchestrator(request: dict):
    return completion("Weighing the candidates. \\boxed{42}", prompt_tokens=120, completion_tokens=30)


def questions(count: int) -> list[str]:
    with open(ROOT / "data" / "gsm8k" / "test.jsonl") as f:
        rows = [json.loads(line)["question"] for line in f]
    return [rows[i % len(rows)] for i in range(count)]


def start_server(orch_url: str, *flags: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "cli.py", "serve", "--port", str(port), "--base-url",
                             orch_url, "--no-cache", *flags], cwd=ROOT,
                            env={**os.environ, "OPENAI_API_KEY": "sk-bench"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url + "/health", seconds=120)
    except RuntimeError as e:
        raise SystemExit(f"serve: {e}") from None
    return proc, url + "/v1"


def fire(url: str, model: str, items: list[str], clients: int) -> tuple[list[float], list[int], float]:
    """Latencies, statuses and wall seconds of asking every item with `clients` at once."""
    client = openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=600)

    def one(question: str) -> tuple[float, int]:
        start = time.perf_counter()
        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": question}])
            return time.perf_counter() - start, 200
        except openai.APIStatusError as e:
            return time.perf_counter() - start, e.status_code
        except openai.APIConnectionError:
            return time.perf_counter() - start, 0

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(one, items))
    return [r[0] for r in results], [r[1] for r in results], time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def specialist_flags(max_tokens: int) -> list[str]:
    return ["--specialist", str(smollm2_file()), "--specialist-max-tokens", str(max_tokens)]


def load(args) -> None:
    with ChatServer(orchestrator) as orch:
        proc, url = start_server(orch.url, *specialist_flags(args.max_tokens),
                                 "--max-concurrency", str(args.max_concurrency))
        try:
            latencies, statuses, wall = fire(url, "cascade", questions(args.requests), args.clients)
        finally:
            proc.terminate()
    lost = sum(s == 0 for s in statuses)
    print(f"{args.requests} requests, {args.clients} clients, cascade, SmolLM2 (max tokens "
          f"{args.max_tokens}), --max-concurrency {args.max_concurrency}: "
          f"{sum(s == 200 for s in statuses)} answered, {lost} lost, "
          f"{sum(s >= 500 for s in statuses)} 5xx, {sum(s == 429 for s in statuses)} 429; "
          f"p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
          f"{args.requests / wall:.2f} requests/s")


def throughput(args) -> None:
    items = questions(args.questions)
    with ChatServer(orchestrator) as orch:
        proc, url = start_server(orch.url, *specialist_flags(args.max_tokens),
                                 "--max-concurrency", str(args.clients))
        try:
            fire(url, "cascade", items[:2], 1)  # warm: the first decode sets the context up
            _, one, wall_one = fire(url, "cascade", items, 1)
            _, many, wall_many = fire(url, "cascade", items, args.clients)
        finally:
            proc.terminate()
    per_min = [len(items) / w * 60 for w in (wall_one, wall_many)]
    print(f"{len(items)} questions, cascade, SmolLM2 (max tokens {args.max_tokens}): 1 client "
          f"{per_min[0]:.1f}/min ({sum(s == 200 for s in one)} answered), {args.clients} clients "
          f"{per_min[1]:.1f}/min ({sum(s == 200 for s in many)} answered): "
          f"{per_min[1] / per_min[0]:.2f}x")


def overhead(args) -> None:
    from math_router.api import Solver

    items = [f"What is {i} plus {i}?" for i in range(args.requests)]
    with ChatServer(orchestrator) as orch:
        solver = Solver(["llm"], base_url=orch.url, api_key="sk-bench", cache=False)
        solver.solve("warm up", "llm")
        direct = []
        for q in items:
            start = time.perf_counter()
            solver.solve(q, "llm")
            direct.append(time.perf_counter() - start)
        proc, url = start_server(orch.url, "--methods", "llm")
        try:
            fire(url, "llm", items[:5], 1)
            served, statuses, _ = fire(url, "llm", items, 1)
            client = openai.OpenAI(base_url=url, api_key="-", max_retries=0)
            hops = []
            for _ in range(args.requests):  # the same client's round trip, with nothing solved
                start = time.perf_counter()
                client.models.list()
                hops.append(time.perf_counter() - start)
        finally:
            proc.terminate()
    d, s, h = statistics.median(direct), statistics.median(served), statistics.median(hops)
    print(f"{args.requests} requests one at a time, llm: in process median {d * 1000:.2f} ms, "
          f"through serve {s * 1000:.2f} ms ({sum(x == 200 for x in statuses)} answered): the "
          f"server adds {(s - d) * 1000:.2f} ms, of which the client's extra round trip "
          f"(GET /v1/models) {h * 1000:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("load")
    a.add_argument("--requests", type=int, default=200)
    a.add_argument("--clients", type=int, default=32)
    a.add_argument("--max-tokens", type=int, default=64)
    a.add_argument("--max-concurrency", type=int, default=8)
    b = sub.add_parser("throughput")
    b.add_argument("--questions", type=int, default=32)
    b.add_argument("--clients", type=int, default=8)
    b.add_argument("--max-tokens", type=int, default=128)
    c = sub.add_parser("overhead")
    c.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    {"load": load, "throughput": throughput, "overhead": overhead}[args.what](args)


if __name__ == "__main__":
    main()
