"""Ten `kill -9` at random moments during a `solve --input` run, each followed by a rerun: is
every row answered exactly once? With `--batch-api`: is every request submitted once?

    python -m benchmarks.kill_resume [--rows 300] [--kills 10] [--seed 1]

The orchestrator is the test chat server (a `--delay` reply, 4 at once: a run takes longer than
the kills' spacing; with --batch-api, batches that take `--batch-seconds` each); `--method llm`,
`--no-cache`, so a rerun's only memory is the folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from math_router.testing import BatchBehaviour, ChatServer, completion, user_question

ROOT = Path(__file__).resolve().parents[1]


def summed(request: dict):
    numbers = [int(x) for x in re.findall(r"\d+", user_question(request))]
    return completion(f"\\boxed{{{sum(numbers)}}}", prompt_tokens=40, completion_tokens=10)


def trial(rows: int, kills: int, rng: random.Random, batch: bool, batch_seconds: float,
          delay: float) -> None:
    with tempfile.TemporaryDirectory() as tmp, ChatServer(
            summed, delay=delay, batch=BatchBehaviour(seconds=batch_seconds)) as server:
        tmp = Path(tmp)
        data = tmp / "rows.jsonl"
        data.write_text("".join(json.dumps({"question": f"What is {i} plus {i}?"}) + "\n"
                                for i in range(rows)))
        out = tmp / "out"
        args = [sys.executable, "cli.py", "solve", "--input", str(data), "--method", "llm",
                "--base-url", server.url, "--out", str(out), "--no-progress", "--no-cache"]
        args += ["--batch-api", "--batch-poll", "0.1"] if batch else ["--concurrency", "4"]
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
        start = time.perf_counter()
        answers = out / "answers.jsonl"
        for _ in range(kills):
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(1.5, 4.0))  # start-up takes about 1.5 s
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            done = len(answers.read_text().splitlines()) if answers.exists() else 0
            print(f"  killed with {done} answers on disk", flush=True)
        final = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        lines = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
        good = Counter(r["id"] for r in lines if r["error"] is None)
        right = sum(r["answer"] == str(2 * int(r["id"].split("-")[1])) for r in lines
                    if r["error"] is None)
        print(f"{'--batch-api' if batch else 'direct':11s}: {rows} rows, {kills} kills, exit "
              f"{final.returncode}, {seconds:.0f} s: {len(good)} rows answered, "
              f"{sum(c > 1 for c in good.values())} answered twice, {right} right")
        if batch:
            submitted = Counter(line["custom_id"] for line in server.batch_api.lines)
            print(f"             {len(server.batch_api.batches)} batches, {sum(submitted.values())} "
                  f"requests submitted, {sum(c > 1 for c in submitted.values())} of them twice")
        else:
            print(f"             {len(server.requests)} requests answered by the server "
                  f"(rows in flight at a kill are asked again)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-seconds", type=float, default=20.0)
    parser.add_argument("--delay", type=float, default=0.3)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    trial(args.rows, args.kills, rng, False, args.batch_seconds, args.delay)
    trial(args.rows, args.kills, rng, True, args.batch_seconds, args.delay)


if __name__ == "__main__":
    main()
