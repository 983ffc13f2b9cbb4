"""Device check: the specialist on a CUDA build of llama.cpp, against the CPU on the same machine.

    python -m benchmarks.gpu_check --gguf MODEL.gguf [--max-tokens 128] [--out FILE]

Reports whether this build offloads (and to which backend), the device each
runtime reports, decode speed of the plain path and of the batched decoder
(1 sequence, k=4 samples, 8 concurrent callers) with all layers on the GPU and
with none, and whether greedy text is the same through both paths.
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path


from math_router.specialists.base import SamplingParams
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime, gpu_backend, gpu_offload_supported
from math_router.specialists.qwen_math import QwenMathSpecialist

QUESTIONS = ["What is 27*14+15?", "A train travels 60 km in 45 minutes. What is its speed in km/h?",
             "Tom has 3 apples and buys 5 more. How many?", "What is 12 squared?",
             "How many minutes are in 3 hours?", "What is 15% of 80?",
             "A book costs $12. How much do 7 books cost?", "What is 1000 - 357?"]


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def measure(gguf: str, gpu_layers: int, max_tokens: int) -> dict:
    runtime = LlamaRuntime(gguf, gpu_layers=gpu_layers)
    plain = QwenMathSpecialist(runtime, max_tokens=max_tokens)
    batched = QwenMathSpecialist(runtime, max_tokens=max_tokens, decoder=BatchedDecoder(runtime))
    plain.solve(QUESTIONS[0]), batched.solve(QUESTIONS[0])  # warm-up: load, set up the batch context
    speeds = []
    for _ in range(3):
        result, seconds = timed(lambda: plain.solve(QUESTIONS[0]))
        speeds.append(result.usage.output_tokens / seconds)
    greedy_plain = plain.solve(QUESTIONS[1]).text
    one, one_s = timed(lambda: batched.solve(QUESTIONS[1]))
    samples, samples_s = timed(lambda: batched.sample(QUESTIONS[1], SamplingParams(k=4, seed=1)))

    def concurrent(specialist) -> tuple[int, float]:
        results = []
        threads = [threading.Thread(target=lambda q=q: results.append(specialist.solve(q)))
                   for q in QUESTIONS]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sum(r.usage.output_tokens for r in results), time.perf_counter() - start

    seq_tokens, seq_s = concurrent(plain)
    bat_tokens, bat_s = concurrent(batched)
    return {
        "device": runtime.device, "gpu_layers": runtime.gpu_layers, "load_seconds": runtime.load_seconds,
        "plain_tok_s": round(statistics.median(speeds), 1),
        "greedy_same_through_batched_decoder": one.text == greedy_plain,
        "batched_one_tok_s": round(one.usage.output_tokens / one_s, 1),
        "k4_seconds": round(samples_s, 3), "greedy_seconds": round(one_s, 3),
        "k4_over_greedy": round(samples_s / one_s, 2),
        "k4_tokens": [r.usage.output_tokens for r in samples.results],
        "8_callers_sequential_tok_s": round(seq_tokens / seq_s, 1),
        "8_callers_batched_tok_s": round(bat_tokens / bat_s, 1),
        "batched_speedup_8_callers": round((bat_tokens / bat_s) / (seq_tokens / seq_s), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out")
    args = parser.parse_args()
    report = {"gpu_offload_supported": gpu_offload_supported(), "gpu_backend": gpu_backend(),
              "model": Path(args.gguf).name, "max_tokens": args.max_tokens}
    print(json.dumps(report), flush=True)
    for layers in (-1, 0):
        report["gpu" if layers else "cpu"] = measure(args.gguf, layers, args.max_tokens)
        print(json.dumps(report["gpu" if layers else "cpu"]), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
