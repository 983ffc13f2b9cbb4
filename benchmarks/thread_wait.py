"""Tokens per second of two llama.cpp processes side by side, threads spinning or sleeping.

    python -m benchmarks.thread_wait --gguf SMOLLM2 [--tokens 120]

Each process generates `--tokens` greedy tokens with 2 threads; first one
alone, then two at once, with OMP_WAIT_POLICY unset (llama.cpp's OpenMP threads
spin while they wait) and with PASSIVE (they sleep: for two processes on
one machine, set by the user).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = """
import sys, time, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=512, n_threads=2, verbose=False)
start = time.time()
out = llm.create_completion("Once upon a time", max_tokens=int(sys.argv[2]), temperature=0)
print(out["usage"]["completion_tokens"] / (time.time() - start))
"""


def rates(gguf: str, tokens: int, processes: int, policy: str | None) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    running = [subprocess.Popen([sys.executable, "-c", CHILD, gguf, str(tokens)], env=env,
                                stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return [round(float(p.communicate()[0].strip()), 1) for p in running]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--tokens", type=int, default=120)
    args = parser.parse_args()
    report = {}
    for policy in (None, "PASSIVE"):
        name = policy or "spinning (unset)"
        report[name] = {"alone": rates(args.gguf, args.tokens, 1, policy),
                        "two at once": rates(args.gguf, args.tokens, 2, policy)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
