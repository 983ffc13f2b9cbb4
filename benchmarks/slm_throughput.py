"""`eval --method slm` problems per minute at --concurrency 4 vs 1, same problems.

    python -m benchmarks.slm_throughput --gguf PATH [--n 12]

Runs the real command twice without the cache (fresh folders), and reports
wall time, problems per minute and accuracy of each. With the batched decoder
the four workers' sequences share each llama.cpp decode step.
Goal: >= 2x problems per minute at concurrency 4, same accuracy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(gguf: str, n: int, concurrency: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([sys.executable, "cli.py", "eval", "--method", "slm", "--dataset",
                        str(ROOT / "data" / "gsm8k" / "test.jsonl"), "--n", str(n), "--out", out,
                        "--specialist", gguf, "--concurrency", str(concurrency), "--no-cache",
                        "--no-progress", *extra], cwd=ROOT, check=True, capture_output=True)
        seconds = time.perf_counter() - start
        summary = json.loads((Path(out) / "comparison.json").read_text())["slm"]
    return {"concurrency": concurrency, "seconds": round(seconds, 1),
            "problems_per_minute": round(n / seconds * 60, 2), "accuracy": summary["accuracy"],
            "output_tokens": summary["output_tokens"], "device": summary["device"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--no-batch", action="store_true", help="measure the sequential path")
    args = parser.parse_args()
    extra = ["--no-batch"] if args.no_batch else []
    one = run(args.gguf, args.n, 1, extra)
    print(json.dumps(one), flush=True)
    four = run(args.gguf, args.n, 4, extra)
    print(json.dumps(four), flush=True)
    print(json.dumps({"model": Path(args.gguf).name, "n": args.n, "batched": not args.no_batch,
                      "speedup": round(four["problems_per_minute"] / one["problems_per_minute"], 2),
                      "same_accuracy": one["accuracy"] == four["accuracy"]}))


if __name__ == "__main__":
    main()
