"""Seconds from starting the command to its first chat request, and for --help.

    python -m benchmarks.startup [--root DIR] [--runs 5]

`solve --method llm` against the tests' local chat-completions server: the
time until the server receives the request is start-up (interpreter, imports,
building the model objects). `--root` runs another checkout's cli.py (an older
commit, for a before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from math_router.testing import ChatServer, completion

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    arrived: list[float] = []

    def respond(request):
        arrived.append(time.perf_counter())
        return completion("\\boxed{2}")

    env = {**os.environ, "OPENAI_API_KEY": "sk-bench", "XDG_CACHE_HOME": "/tmp/startup-bench-cache"}
    first, helps = [], []
    with ChatServer(respond) as server:
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "cli.py", "--help"], cwd=args.root, env=env,
                           capture_output=True, check=True)
            helps.append(time.perf_counter() - start)
            arrived.clear()
            start = time.perf_counter()
            subprocess.run([sys.executable, "cli.py", "solve", "1+1", "--method", "llm", "--no-cache",
                            "--base-url", server.url, "--model", "gpt-4o-mini"], cwd=args.root,
                           env=env, capture_output=True, check=True)
            first.append(arrived[0] - start)
    print(json.dumps({"root": str(args.root), "help_s": round(statistics.median(helps), 3),
                      "first_request_s": round(statistics.median(first), 3)}))


if __name__ == "__main__":
    main()
