"""A finished eval rerun into a fresh folder: answered from the response cache.

    python -m benchmarks.cache_rerun --gguf PATH [--n 8] [--latency 0.2]

The orchestrator is the tests' chat-completions server (200 ms a request,
fixed replies), the specialist the GGUF in process. The first run fills a
fresh cache (XDG_CACHE_HOME in a temporary folder); the second, into a new
--out, must send no request and finish at least 50x faster.
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

ROOT = Path(__file__).resolve().parents[1]

from math_router.testing import ChatServer, completion, tool_call
from math_router.testing import has_tool_result


def orchestrator(request: dict):
    if not has_tool_result(request):
        question = request["messages"][-1]["content"]
        return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                          prompt_tokens=150, completion_tokens=60, model="gpt-4o-mini")
    answer = request["messages"][-1]["content"].rsplit(":", 1)[-1].strip()
    return completion(f"\\boxed{{{answer}}}", prompt_tokens=600, completion_tokens=12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ChatServer(orchestrator, delay=args.latency) as api:
        env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache"), "OPENAI_API_KEY": "sk-bench"}
        times, sent = [], []
        for name in ("first", "rerun"):
            before = len(api.requests)
            start = time.perf_counter()
            subprocess.run([sys.executable, "cli.py", "eval", "--method", "router", "--dataset",
                            str(ROOT / "data" / "gsm8k" / "test.jsonl"), "--n", str(args.n),
                            "--out", str(Path(tmp) / name), "--base-url", api.url,
                            "--specialist", args.gguf, "--concurrency", "1", "--no-progress"],
                           cwd=ROOT, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
            sent.append(len(api.requests) - before)  # the one-token check is kept apart
            print(f"{name}: {times[-1]:.2f} s, {sent[-1]} API requests", flush=True)
        first = json.loads((Path(tmp) / "first" / "comparison.json").read_text())["methods"]["router"]
        rerun = json.loads((Path(tmp) / "rerun" / "comparison.json").read_text())["methods"]["router"]
    print(json.dumps({"model": Path(args.gguf).name, "n": args.n, "first_s": round(times[0], 2),
                      "rerun_s": round(times[1], 2), "speedup": round(times[0] / times[1], 1),
                      "rerun_api_requests": sent[1], "same_accuracy": first["accuracy"] == rerun["accuracy"],
                      "rerun_real_calls": rerun["spent"]["calls"],
                      "rerun_cached_calls": rerun["spent"]["cached_calls"],
                      "checks_before_each_run": len(api.checks) // 2}))


if __name__ == "__main__":
    main()
