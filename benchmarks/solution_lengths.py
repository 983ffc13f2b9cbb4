"""How long are the specialist's GSM8K solutions? Chooses a max_tokens that does not cut them.

    python -m benchmarks.solution_lengths --gguf PATH --data gsm8k/test.jsonl --n 40

Greedy, Qwen2.5-Math's official prompt, a generous cap; prints the distribution
of completion tokens and how many hit the cap.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path


from math_router.llama.runtime import LlamaRuntime
from math_router.specialists.modes import COT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--cap", type=int, default=2048)
    args = parser.parse_args()

    rows = [json.loads(line) for line in open(args.data)]
    picked = random.Random(args.seed).sample(range(len(rows)), args.n)
    runtime = LlamaRuntime(args.gguf)
    lengths = []
    start = time.perf_counter()
    for i, index in enumerate(picked):
        question = rows[index].get("question") or rows[index]["problem"]
        response = runtime.chat(COT.messages(question), max_tokens=args.cap)
        n = response["usage"]["completion_tokens"]
        lengths.append(n)
        print(f"{i + 1}/{args.n} problem {index}: {n} tokens "
              f"({response['choices'][0]['finish_reason']})", flush=True)
    lengths.sort()
    q = statistics.quantiles(lengths, n=100)
    print(json.dumps({
        "model": Path(args.gguf).name, "data": args.data, "n": args.n, "cap": args.cap,
        "median": statistics.median(lengths), "p90": q[89], "p99": q[98], "max": lengths[-1],
        "hit_cap": sum(n >= args.cap for n in lengths), "seconds": time.perf_counter() - start,
    }))


if __name__ == "__main__":
    main()
