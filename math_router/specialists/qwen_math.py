"""Qwen2.5-Math's official chat prompt, and the GGUF specialist that uses it."""

from __future__ import annotations

import time

from math_router.engine.trace import Usage, usage_of_response
from math_router.engine.answers import extract_answer
from math_router.specialists.base import GREEDY, SampleSet, SamplingParams, SpecialistResult

# From the Qwen2.5-Math model card: greedy decoding with this system message.
SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

# GSM8K solutions of the stand-in 1.5B model are well under this (docs/benchmarks.md);
# MATH-500 needs more room, so the CLI lets users raise it.
MAX_TOKENS = 1024


def messages_for(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question}]


class QwenMathSpecialist:
    """Qwen2.5-Math (or a stand-in GGUF) run in process by llama.cpp.

    With a `decoder` (specialists.batched), concurrent calls and the k samples of
    one question are decoded together; without one, calls take turns on the
    runtime's lock.
    """

    local = True

    def __init__(self, runtime, *, max_tokens: int = MAX_TOKENS, decoder=None):
        self.runtime = runtime
        self.max_tokens = max_tokens
        self.decoder = decoder
        self.name = runtime.name

    @property
    def identity(self) -> str:
        return f"{self.runtime.identity}:max{self.max_tokens}"

    def solve(self, question: str) -> SpecialistResult:
        if self.decoder is None:
            response = self.runtime.chat(messages_for(question), max_tokens=self.max_tokens,
                                         temperature=0.0)
            return _result(response, self.runtime)
        return self._batched(question, GREEDY).results[0]

    def sample(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        """k solutions; `settled(texts)` may stop the rest once the caller's outcome is fixed."""
        if self.decoder is not None:
            return self._batched(question, params, settled)
        # Sequential fallback: one chat call per sample, each with its own seed.
        start = time.perf_counter()
        results: list[SpecialistResult] = []
        for i in range(params.k):
            if settled is not None and results and settled([r.text for r in results] + [None] * (params.k - i)):
                results += [_cancelled(self.runtime)] * (params.k - i)
                break
            results.append(_result(self.runtime.chat(
                messages_for(question), max_tokens=self.max_tokens, temperature=params.temperature,
                top_p=params.top_p, top_k=params.top_k, seed=params.seed + i), self.runtime))
        usage = sum((r.usage for r in results), Usage())
        return SampleSet(results, usage, time.perf_counter() - start,
                         {"device": self.runtime.device, "batched": False})

    def _batched(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        prompt = self.runtime.prompt_tokens(messages_for(question))
        out = self.decoder.generate(prompt, n=params.k, max_tokens=self.max_tokens, settled=settled,
                                    sampling=params)
        seconds = out.queue_seconds + out.generate_seconds
        details = {"device": self.runtime.device, "batched": True,
                   "wait_seconds": out.queue_seconds, "generate_seconds": out.generate_seconds}
        results = [SpecialistResult(
            # A cancelled sample's text is unfinished: it states no answer.
            text=g.text, answer=None if g.finish_reason == "cancelled" else extract_answer(g.text),
            # One call for all k, its prompt evaluated once: counted with the first sample.
            usage=Usage(out.prompt_tokens if i == 0 else 0, g.completion_tokens,
                        calls=1 if i == 0 else 0, seconds=seconds if i == 0 else 0.0),
            seconds=seconds,
            details={**details, "finish_reason": g.finish_reason,
                     "tokens_per_second": g.completion_tokens / out.generate_seconds
                     if out.generate_seconds > 0 else None})
            for i, g in enumerate(out.generations)]
        usage = Usage(out.prompt_tokens, sum(g.completion_tokens for g in out.generations), calls=1,
                      seconds=seconds)
        return SampleSet(results, usage, seconds, details)


def _cancelled(runtime) -> SpecialistResult:
    return SpecialistResult(text="", answer=None, usage=Usage(), seconds=0.0,
                            details={"device": runtime.device, "finish_reason": "cancelled"})


def _result(response: dict, runtime) -> SpecialistResult:
    choice = response["choices"][0]
    text = choice["message"]["content"] or ""
    timings = response["timings"]
    usage = usage_of_response(response, sum(timings.values()))
    tokens_out = usage.output_tokens
    generate = timings["generate_seconds"]
    return SpecialistResult(
        text=text, answer=extract_answer(text), usage=usage,
        seconds=sum(timings.values()),
        details={"device": runtime.device, "finish_reason": choice.get("finish_reason"),
                 "tokens_per_second": tokens_out / generate if generate > 0 else None,
                 **timings})
