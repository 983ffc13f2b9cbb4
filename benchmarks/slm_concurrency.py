"""Concurrent `slm` requests through the product's own path: the specialist the factory builds
(QwenMathSpecialist on the shared batched decoder, sized by --concurrency as `eval`, `solve
--input` and `serve` size it), called from that many threads at once.

    python -m benchmarks.slm_concurrency --gguf MODEL.gguf [--requests 64] [--max-tokens 128]
        [--concurrency N]   # the decoder's size (default: the product's default for this build)

Prints generated tokens per second over the whole run (queueing, prompt evaluation, sampling,
detokenizing included), the decoder's decode-only rate, and the most sequences it decoded in
one step. Compare with llama-batched-bench's S_TG at the same number of sequences
(benchmarks.llama_limit). With a random-weight GGUF most answers run to --max-tokens.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

QUESTION = "Natalia sold clips to {n} of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"


def main() -> None:
    from math_router.factory import build_specialist, default_concurrency
    from math_router.options import ModelOptions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args()
    options = ModelOptions(specialist=args.gguf, specialist_max_tokens=args.max_tokens)
    concurrency = args.concurrency or default_concurrency(options, ["slm"])
    specialist = build_specialist(options, concurrency=concurrency)
    specialist.solve("What is 2+2?")  # load, set the context up
    decoder = specialist.decoder
    decoder.decode_tokens, decoder.decode_seconds, decoder.max_active = 0, 0.0, 0
    results = [None] * args.requests

    def ask(i: int) -> None:
        results[i] = specialist.solve(QUESTION.format(n=40 + i))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(args.requests)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    tokens = sum(r.usage.output_tokens for r in results)
    print(json.dumps({"requests": args.requests, "concurrency": concurrency,
                      "n_seq_max": decoder.n_seq_max, "device": specialist.runtime.device,
                      "generated_tokens": tokens, "seconds": round(elapsed, 2),
                      "tokens_per_second": round(tokens / elapsed, 1),
                      "decode_only_tokens_per_second": round(
                          decoder.decode_tokens / max(decoder.decode_seconds, 1e-9), 1),
                      "most_sequences_in_one_step": decoder.max_active}))


if __name__ == "__main__":
    main()
