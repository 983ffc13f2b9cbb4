"""Our batched decoder against llama.cpp's own llama-batched-bench and llama-bench: the same GGUF,
the same build (benchmarks/build_llama_tools.sh, cpu_build.py's flags), the same threads, one run.

    python -m benchmarks.llama_limit --model qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
        [--pp 128] [--tg 128] [--batches 1,2,4,8] [--threads N] [--repeat 2]
        [--ngl 99 --bin DIR]   # on a GPU: llama.cpp's tools from DIR, every layer offloaded

The everyday CPU check of the decoder's per-step work is this script on a Qwen-vocabulary
model with tiny layers (benchmarks/tiny_vocab_gguf.py) at --batches 1,8,32,64.

Decode: B sequences of `--pp` distinct prompt tokens each, `--tg` tokens generated each
(end-of-text suppressed, as llama.cpp's benchmarks generate a fixed length): aggregate decode
tokens per second (llama-batched-bench's S_TG; ours counted over the steps that only decode,
sampling and the scheduler's Python included) and the whole run's seconds (its T). Single
sequence: llama-bench's pp and tg tokens per second against ours (prompt evaluation timed
as one request of one token; decode as B=1). Prompts are random tokens, new for every run, so
our decoder's prefix reuse cannot help it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tools() -> Path:
    found = subprocess.run(["bash", str(ROOT / "benchmarks" / "build_llama_tools.sh")],
                           capture_output=True, text=True,
                           env={**os.environ, "PYTHON": sys.executable})
    if found.returncode != 0:
        raise SystemExit(found.stderr[-500:])
    return Path(found.stdout.strip().splitlines()[-1])


def llama_batched_bench(bin_dir: Path, model: str, args) -> dict[int, dict]:
    ctx = max(args.batches) * (args.pp + args.tg) + 64
    out = subprocess.run([str(bin_dir / "llama-batched-bench"), "-m", model, "-c", str(ctx),
                          "-b", "512", "-ub", "512", "-npp", str(args.pp), "-ntg", str(args.tg),
                          "-npl", ",".join(map(str, args.batches)), "-t", str(args.threads),
                          "-ngl", str(args.ngl), "-kvu", "--output-format", "jsonl"],
                         capture_output=True, text=True)
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise SystemExit(f"llama-batched-bench printed no results: {out.stderr[-800:]}")
    return {r["pl"]: r for r in rows}


def llama_bench(bin_dir: Path, model: str, args) -> dict[str, float]:
    out = subprocess.run([str(bin_dir / "llama-bench"), "-m", model, "-p", str(args.pp), "-n",
                          str(args.tg), "-t", str(args.threads), "-ngl", str(args.ngl), "-r", "3",
                          "-o", "json"],
                         capture_output=True, text=True)
    rows = json.loads(out.stdout)
    return {"pp": next(r["avg_ts"] for r in rows if r["n_prompt"] and not r["n_gen"]),
            "tg": next(r["avg_ts"] for r in rows if r["n_gen"] and not r["n_prompt"])}


def ours(model: str, args) -> tuple[dict[int, dict], dict[str, float]]:
    from math_router.specialists.base import GREEDY
    from math_router.llama.batched import BatchedDecoder
    from math_router.llama.runtime import LlamaRuntime

    runtime = LlamaRuntime(model, n_threads=args.threads, gpu_layers=-1 if args.ngl else 0)
    decoder = BatchedDecoder(runtime, n_seq_max=max(8, max(args.batches)),
                             ctx_per_seq=args.pp + args.tg + 64)
    vocab = runtime.llama.n_vocab()
    rng = random.Random(0)

    def prompt() -> list[int]:  # never seen before: no prefix to reuse
        return [rng.randrange(1000, min(vocab, 100_000)) for _ in range(args.pp)]

    decoder.generate(prompt(), max_tokens=4, sampling=GREEDY)  # context set up, weights warm
    results = {}
    for b in args.batches:
        runs = []
        for _ in range(2):
            decoder.decode_tokens, decoder.decode_seconds = 0, 0.0
            prompts = [prompt() for _ in range(b)]
            start = time.perf_counter()
            threads = [threading.Thread(target=decoder.generate, args=(p,),
                                        kwargs={"max_tokens": args.tg, "sampling": GREEDY,
                                                "ignore_eos": True}) for p in prompts]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            runs.append({"T": time.perf_counter() - start,
                         "S_TG": decoder.decode_tokens / decoder.decode_seconds})
        results[b] = {"T": statistics.median(r["T"] for r in runs),
                      "S_TG": statistics.median(r["S_TG"] for r in runs)}
    pp_times = []
    for _ in range(3):
        start = time.perf_counter()
        decoder.generate(prompt(), max_tokens=1, sampling=GREEDY)
        pp_times.append(time.perf_counter() - start)
    single = {"pp": args.pp / statistics.median(pp_times), "tg": results[min(args.batches)]["S_TG"]}
    return results, single


def ours_in_a_process(args) -> tuple[dict[int, dict], dict[str, float]]:
    """Ours in a fresh process each round, as llama.cpp's tools are: contexts (and their
    thread teams) of earlier rounds must not share the CPU with this one."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.llama_limit", "--model", args.model,
                          "--pp", str(args.pp), "--tg", str(args.tg), "--threads", str(args.threads),
                          "--ngl", str(args.ngl),
                          "--batches", ",".join(map(str, args.batches)), "--ours-only"],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-800:])
    results, single = json.loads(out.stdout.strip().splitlines()[-1])
    return {int(b): v for b, v in results.items()}, single


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pp", type=int, default=128)
    parser.add_argument("--tg", type=int, default=128)
    parser.add_argument("--batches", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4, 8])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--ngl", type=int, default=0, help="layers offloaded to the GPU (99: all)")
    parser.add_argument("--bin", type=Path, help="llama.cpp's tools (default: build_llama_tools.sh)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds, each running llama.cpp's tools then ours (medians reported: "
                             "this VM's speed wanders by up to 2x between minutes)")
    parser.add_argument("--ours-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is None:
        from math_router.llama.runtime import physical_cores

        args.threads = physical_cores()
    if args.ours_only:
        print(json.dumps(ours(args.model, args)))
        return
    bin_dir = args.bin or tools()
    rounds = []
    for _ in range(args.repeat):  # interleaved: a slow minute hits both sides alike
        rounds.append((llama_batched_bench(bin_dir, args.model, args),
                       llama_bench(bin_dir, args.model, args), ours_in_a_process(args)))
    med = statistics.median
    theirs = {b: {"speed_tg": med(r[0][b]["speed_tg"] for r in rounds),
                  "t": med(r[0][b]["t"] for r in rounds)} for b in args.batches}
    bench = {k: med(r[1][k] for r in rounds) for k in ("pp", "tg")}
    mine = {b: {k: med(r[2][0][b][k] for r in rounds) for k in ("S_TG", "T")} for b in args.batches}
    single = {k: med(r[2][1][k] for r in rounds) for k in ("pp", "tg")}
    print(f"{Path(args.model).name}, {args.threads} threads, prompt {args.pp}, generate {args.tg}, "
          f"medians of {args.repeat} interleaved rounds")
    print("| sequences | ours decode tok/s | llama-batched-bench S_TG | ratio | ours s | its T s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for b in args.batches:
        t = theirs[b]
        print(f"| {b} | {mine[b]['S_TG']:.1f} | {t['speed_tg']:.1f} | "
              f"{mine[b]['S_TG'] / t['speed_tg']:.2f}x | {mine[b]['T']:.2f} | {t['t']:.2f} | "
              f"{t['t'] / mine[b]['T']:.2f}x |")
    print(f"single sequence, llama-bench: prompt {bench['pp']:.1f} tok/s (ours {single['pp']:.1f}, "
          f"{single['pp'] / bench['pp']:.2f}x), decode {bench['tg']:.1f} tok/s (ours "
          f"{single['tg']:.1f}, {single['tg'] / bench['tg']:.2f}x)")


if __name__ == "__main__":
    main()
