"""Decode speed through the specialist adapter vs bare llama-cpp-python.

    python -m benchmarks.specialist_overhead --gguf PATH [--runs 5] [--max-tokens 128]

Same GGUF, prompt (Qwen2.5-Math's official one), greedy settings and threads;
runs alternate between the paths so that machine noise hits all alike. The
figure is completion tokens / wall seconds of the call, median over the runs.
Two adapter paths: plain (llama-cpp-python's chat completion under the lock)
and batched (the default: llama.batched, its own context and sampler).
Goal: adapter / bare >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path


from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import DEFAULT_N_CTX, LlamaRuntime, physical_cores
from math_router.specialists.modes import COT
from math_router.specialists.qwen_math import QwenMathSpecialist

QUESTION = ("A baker makes 24 loaves a day and sells each for $3. Flour for one loaf costs $0.75 "
            "and he pays $40 a day in rent. How much profit does he make in a week?")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--gpu-layers", type=int, default=None)
    args = parser.parse_args()

    import llama_cpp

    threads = physical_cores()
    runtime = LlamaRuntime(args.gguf, gpu_layers=args.gpu_layers, n_threads=threads)
    adapter = QwenMathSpecialist(runtime, max_tokens=args.max_tokens)
    batched = QwenMathSpecialist(runtime, max_tokens=args.max_tokens, decoder=BatchedDecoder(runtime))
    bare = llama_cpp.Llama(model_path=args.gguf, n_gpu_layers=runtime.gpu_layers, n_ctx=DEFAULT_N_CTX,
                           n_threads=threads, n_threads_batch=threads, verbose=False)
    messages = COT.messages(QUESTION)

    def run_bare() -> float:
        start = time.perf_counter()
        out = bare.create_chat_completion(messages=messages, max_tokens=args.max_tokens,
                                          temperature=0.0, top_p=1.0, top_k=0, min_p=0.0,
                                          repeat_penalty=1.0)
        return out["usage"]["completion_tokens"] / (time.perf_counter() - start)

    def run_adapter(specialist) -> float:
        start = time.perf_counter()
        result = specialist.solve(QUESTION)
        return result.usage.output_tokens / (time.perf_counter() - start)

    run_bare(), run_adapter(adapter), run_adapter(batched)  # warm-up: load, page in the weights
    bare_speeds, adapter_speeds, batched_speeds = [], [], []
    for i in range(args.runs):
        bare_speeds.append(run_bare())
        adapter_speeds.append(run_adapter(adapter))
        batched_speeds.append(run_adapter(batched))
        print(f"run {i + 1}: bare {bare_speeds[-1]:.2f} tok/s, adapter {adapter_speeds[-1]:.2f}, "
              f"batched adapter {batched_speeds[-1]:.2f}", flush=True)
    b = statistics.median(bare_speeds)
    a, ab = statistics.median(adapter_speeds), statistics.median(batched_speeds)
    print(json.dumps({"model": Path(args.gguf).name, "device": runtime.device, "threads": threads,
                      "cpu": cpu_name(), "runs": args.runs,
                      "max_tokens": args.max_tokens, "bare_tok_s": round(b, 2),
                      "adapter_tok_s": round(a, 2), "ratio": round(a / b, 3),
                      "batched_adapter_tok_s": round(ab, 2), "batched_ratio": round(ab / b, 3)}))


if __name__ == "__main__":
    main()
