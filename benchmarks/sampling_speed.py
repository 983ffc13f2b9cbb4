"""k sampled solutions (batched, shared prompt) vs one greedy solution, on the same GGUF.

    python -m benchmarks.sampling_speed --gguf PATH [--questions 3] [--k 4]

For each GSM8K question: the time of one greedy solution through the
specialist, then of k samples (T=0.7, top_p=0.8, top_k=20) decoded together.
The k samples end when the longest does, so tokens are reported beside the
times. `--settle` stops sampling as the cascade does, once 3 of 4 answers
agree (threshold 0.75); `--max-tokens 200` cuts every solution at a length
most reach, which measures the decoder alone, whatever the sample lengths.
Goal: k=4 in at most 2.0x the time of one greedy solution (median ratio).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from benchmarks.specialist_overhead import cpu_name
from math_router.evals.datasets import load_problems
from math_router.evals.voting import StopWhenSettled
from math_router.specialists.base import SamplingParams
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime
from math_router.specialists.qwen_math import QwenMathSpecialist


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--questions", type=int, default=3)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--gpu-layers", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=1024)
    parser.add_argument("--settle", action="store_true", help="stop once the vote is settled")
    args = parser.parse_args()

    runtime = LlamaRuntime(args.gguf, gpu_layers=args.gpu_layers)
    specialist = QwenMathSpecialist(runtime, max_tokens=args.max_tokens,
                                    decoder=BatchedDecoder(runtime, n_seq_max=max(8, args.k)))
    settle = StopWhenSettled(needed=math.ceil(0.75 * args.k)) if args.settle else None
    problems = load_problems(str(ROOT / "data" / "gsm8k" / "test.jsonl"), args.questions, 123)
    specialist.solve("What is 1+1?")  # warm-up: load the weights, set up the batch context
    rows = []
    for p in problems:
        start = time.perf_counter()
        greedy = specialist.solve(p.question)
        greedy_s = time.perf_counter() - start
        start = time.perf_counter()
        samples = specialist.sample(p.question, SamplingParams(k=args.k, seed=random.Random(p.id).randrange(10**6)),
                                    settled=settle)
        sample_s = time.perf_counter() - start
        rows.append({"id": p.id, "greedy_s": round(greedy_s, 2), "greedy_tokens": greedy.usage.output_tokens,
                     "samples_s": round(sample_s, 2),
                     "sample_tokens": [r.usage.output_tokens for r in samples.results],
                     "cancelled": sum(r.details["finish_reason"] == "cancelled" for r in samples.results),
                     "ratio": round(sample_s / greedy_s, 2)})
        print(json.dumps(rows[-1]), flush=True)
    print(json.dumps({"model": Path(args.gguf).name, "device": runtime.device, "cpu": cpu_name(),
                      "threads": runtime.n_threads, "k": args.k, "max_tokens": args.max_tokens,
                      "settle": args.settle,
                      "median_ratio": statistics.median(r["ratio"] for r in rows),
                      "total_ratio": round(sum(r["samples_s"] for r in rows) / sum(r["greedy_s"] for r in rows), 2)}))


if __name__ == "__main__":
    main()
