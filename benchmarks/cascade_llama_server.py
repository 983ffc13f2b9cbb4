"""The same cascade eval with the specialist in process and behind llama.cpp's llama-server, on
the same machine, same GGUF, same threads: problems per minute.

    python -m benchmarks.cascade_llama_server --gguf STANDIN [--n 8] [--seed 11] [--parallel 8]

Our path keeps prompt cells across requests and evaluates a cascade's prompt once for its k
samples (copied to the other sequences); llama-server is given --parallel slots, a unified KV
cache and its own prompt cache. The orchestrator is the test chat server (it answers at once),
so the difference is the specialist's. `--no-cache`, --concurrency 4 both times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from math_router.llama.runtime import physical_cores
from math_router.testing import ChatServer, completion, free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]


def eval_seconds(args, out: Path, orch_url: str, specialist: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "cli.py", "eval", "--method", "cascade", "--dataset",
                    str(ROOT / "data" / "gsm8k" / "test.jsonl"), "--n", str(args.n), "--seed",
                    str(args.seed), "--out", str(out), "--base-url", orch_url, "--no-cache",
                    "--no-progress", "--concurrency", "4", *specialist], cwd=ROOT, check=True,
                   env={**os.environ, "OPENAI_API_KEY": "sk-bench"}, capture_output=True)
    seconds = time.perf_counter() - start
    return seconds, json.loads((out / "comparison.json").read_text())["methods"]["cascade"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    tools = subprocess.run(["bash", str(ROOT / "benchmarks" / "build_llama_tools.sh")],
                           capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHON": sys.executable}).stdout.split()[-1]
    threads = str(physical_cores())
    with tempfile.TemporaryDirectory() as tmp, \
            ChatServer(lambda r: completion("\\boxed{42}", prompt_tokens=150, completion_tokens=20)) as orch:
        tmp = Path(tmp)
        ours, ours_stats = eval_seconds(args, tmp / "ours", orch.url,
                                        ["--specialist", args.gguf, "--threads", threads])
        port = free_port()
        log = tmp / "llama-server.log"
        with log.open("w") as sink:
            server = subprocess.Popen([f"{tools}/llama-server", "-m", args.gguf, "--host", "127.0.0.1",
                                       "--port", str(port), "--jinja", "-t", threads, "-np",
                                       str(args.parallel), "-c", str(args.parallel * 2048), "-kvu"],
                                      stdout=sink, stderr=subprocess.STDOUT)
            try:
                wait_until_serving(server, f"http://127.0.0.1:{port}/health", log,
                                   ready=lambda d: d.get("status") == "ok")
                theirs, their_stats = eval_seconds(
                    args, tmp / "server", orch.url,
                    ["--specialist", f"http://127.0.0.1:{port}/v1", "--specialist-model", "standin",
                     "--price", "standin=0,0"])
            finally:
                server.terminate()
                server.wait(timeout=60)
    for name, seconds, stats in (("in process", ours, ours_stats), ("llama-server", theirs, their_stats)):
        print(f"{name:12s}: {seconds:.0f} s, {args.n / seconds * 60:.2f} problems/min, accuracy "
              f"{stats['accuracy']:.2f}, escalated {stats['escalation_rate']:.0%}, specialist "
              f"tokens in/out {stats['specialist_input_tokens']}/{stats['specialist_output_tokens']}")
    print(f"in process / llama-server: {theirs / ours:.2f}x the problems per minute")


if __name__ == "__main__":
    main()
