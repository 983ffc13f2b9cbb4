"""Where the batched decoder's time goes: inside llama_decode, in sampling, or in Python around
them (the scheduler, bookkeeping), for B sequences of fixed length.

    python -m benchmarks.decoder_profile --model GGUF [--sequences 1,4,8] [--tokens 128]
"""

from __future__ import annotations

import argparse
import random
import threading
import time

import llama_cpp

from math_router.specialists.base import GREEDY
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--sequences", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4, 8])
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    spent = {"decode": 0.0, "sample": 0.0}
    decode, sample = llama_cpp.llama_decode, llama_cpp.llama_sampler_sample

    def timed(name, fn):
        def wrapper(*a):
            start = time.perf_counter()
            try:
                return fn(*a)
            finally:
                spent[name] += time.perf_counter() - start
        return wrapper

    llama_cpp.llama_decode = timed("decode", decode)  # the decoder looks them up per call
    llama_cpp.llama_sampler_sample = timed("sample", sample)
    runtime = LlamaRuntime(args.model)
    decoder = BatchedDecoder(runtime, n_seq_max=max(8, *args.sequences), ctx_per_seq=args.tokens + 192)
    rng = random.Random(0)
    vocab = runtime.llama.n_vocab()

    def prompt() -> list[int]:
        return [rng.randrange(1000, min(vocab, 40_000)) for _ in range(128)]

    decoder.generate(prompt(), max_tokens=4, sampling=GREEDY)
    for b in args.sequences:
        spent.update(decode=0.0, sample=0.0)
        start = time.perf_counter()
        threads = [threading.Thread(target=decoder.generate, args=(prompt(),), kwargs=dict(
            max_tokens=args.tokens, sampling=GREEDY, ignore_eos=True)) for _ in range(b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        rest = wall - spent["decode"] - spent["sample"]
        print(f"{b} sequence(s): {wall:.2f} s, llama_decode {spent['decode']:.2f} s, sampling "
              f"{spent['sample']:.2f} s, the rest {rest:.2f} s ({rest / wall:.1%})")


if __name__ == "__main__":
    main()
