"""The GGUF specialist: Qwen2.5-Math in process, in either of its modes (specialists.modes)."""

from __future__ import annotations

import time

from math_router.engine.errors import UserError
from math_router.engine.trace import Usage, usage_of_response
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime
from math_router.probe.features import confidence
from math_router.specialists import tir
from math_router.specialists.base import (GREEDY, Reading, SampleSet, SamplingParams,
                                          SpecialistResult)
from math_router.specialists.modes import COT, DEFAULT_MODE, TIR, specialist_mode

# GSM8K solutions of the stand-in 1.5B model are well under this (docs/benchmarks.md);
# MATH-500 needs more room, so the CLI lets users raise it.
MAX_TOKENS = 1024


class QwenMathSpecialist:
    """Qwen2.5-Math (or a stand-in GGUF) run in process by llama.cpp.

    With a `decoder` (llama.batched), concurrent calls and the k samples of
    one question are decoded together; without one, calls take turns on the
    runtime's lock. `mode="tir"` needs an `executor` (sandbox.executor) to run
    the programs the model writes.
    """

    local = True

    def __init__(self, runtime: LlamaRuntime, *, max_tokens: int = MAX_TOKENS,
                 decoder: BatchedDecoder | None = None, mode: str = DEFAULT_MODE,
                 executor=None, logprobs: bool = False):
        self.mode = specialist_mode(mode, executor)
        # Greedy chain-of-thought solutions on the decoder report their confidence
        # (probe.features) in details["confidence"].
        self.logprobs = logprobs
        self.runtime = runtime
        self.max_tokens = max_tokens
        self.decoder = decoder
        self.executor = executor
        self.name = runtime.name

    @property
    def identity(self) -> str:
        return (f"{self.runtime.identity}:max{self.max_tokens}{self.mode.identity}"
                + (":logprobs" if self.logprobs else ""))

    def card(self):
        from math_router.engine.model_card import ModelCard

        return ModelCard(self.name, local=True, runtime=self.runtime)

    @property
    def reads_hidden_state(self) -> bool:
        return self.decoder is not None

    def read(self, question: str) -> Reading:
        """The prompt evaluated on the batched decoder, nothing generated: its hidden state.
        The cells stay (the decoder keeps finished sequences), so `solve` right after
        evaluates one token of the prompt, not all of it."""
        if self.decoder is None:
            raise UserError("reading the specialist's hidden state needs the batched decoder "
                            "(leave --batch on)")
        prompt = self.runtime.prompt_tokens(self.mode.messages(question))
        out = self.decoder.generate(prompt, max_tokens=0, hidden_state=True)
        seconds = out.queue_seconds + out.generate_seconds
        return Reading(hidden_state=tuple(float(x) for x in out.hidden_state),
                       usage=Usage.of_call(out.prompt_tokens, 0, seconds), seconds=seconds,
                       details={"device": self.runtime.device, "mode": self.mode.name,
                                "prompt_reused": out.prompt_reused})

    def solve(self, question: str) -> SpecialistResult:
        if self.decoder is None and not self.mode.runs_code:
            response = self.runtime.chat(self.mode.messages(question), max_tokens=self.max_tokens,
                                         temperature=0.0)
            return _result(response, self.runtime)
        return self.sample(question, GREEDY).results[0]

    def sample(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        """k solutions; `settled(texts)` may stop the rest once the caller's outcome is fixed."""
        if self.decoder is not None:
            return self._batched(question, params, settled)
        # Sequential fallback: one call per sample, each with its own seed.
        start = time.perf_counter()
        results: list[SpecialistResult] = []
        for i in range(params.k):
            if settled is not None and results and settled([r.text for r in results] + [None] * (params.k - i)):
                results += [_cancelled(self.runtime)] * (params.k - i)
                break
            results.append(self._plain(question, params, params.seed + i))
        usage = sum((r.usage for r in results), Usage())
        return SampleSet(results, usage, time.perf_counter() - start,
                         {"device": self.runtime.device, "batched": False, "mode": self.mode.name})

    def _plain(self, question: str, params: SamplingParams, seed: int) -> SpecialistResult:
        if not self.mode.runs_code:
            return _result(self.runtime.chat(
                self.mode.messages(question), max_tokens=self.max_tokens,
                temperature=params.temperature, top_p=params.top_p, top_k=params.top_k, seed=seed),
                self.runtime)
        start = time.perf_counter()
        prompt = self.runtime.prompt_text(TIR.messages(question))
        programs = tir.Programs(self.executor)
        budget = [self.max_tokens]

        def complete(text: str) -> tuple[str, str, int]:
            out = self.runtime.complete(prompt + text, max_tokens=max(1, budget[0]),
                                        temperature=params.temperature, top_p=params.top_p,
                                        top_k=params.top_k, seed=seed, stop=[tir.STOP])
            choice = out["choices"][0]
            tokens = out["usage"]["completion_tokens"]
            budget[0] -= tokens
            reason = "length" if budget[0] <= 0 else choice["finish_reason"]
            return choice["text"], reason, tokens

        text, generated, injected, reason = tir.continue_until_done(complete, programs)
        seconds = time.perf_counter() - start
        prompt_tokens = len(self.runtime.prompt_tokens(TIR.messages(question)))
        return SpecialistResult(
            text=text, answer=TIR.answer(text),
            usage=Usage.of_call(prompt_tokens + injected, generated, seconds), seconds=seconds,
            details={"device": self.runtime.device, "finish_reason": reason, "mode": TIR.name,
                     "executions": programs.executions})

    def _batched(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        prompt = self.runtime.prompt_tokens(self.mode.messages(question))
        programs = tir.Programs(self.executor) if self.mode.runs_code else None
        confident = self.logprobs and params.k == 1 and params.temperature <= 0 and not programs
        out = self.decoder.generate(prompt, n=params.k, max_tokens=self.max_tokens, settled=settled,
                                    sampling=params, interlude=programs, logprobs=confident)
        seconds = out.queue_seconds + out.generate_seconds
        details = {"device": self.runtime.device, "batched": True, "mode": self.mode.name,
                   "wait_seconds": out.queue_seconds, "generate_seconds": out.generate_seconds}
        results = []
        for i, g in enumerate(out.generations):
            extra = {"executions": programs.of_sample(i)} if programs else {}
            if confident:
                extra["confidence"] = confidence([self.decoder.piece(t) for t in g.tokens],
                                                 g.logprobs)
            results.append(SpecialistResult(
                # A cancelled sample's text is unfinished: it states no answer.
                text=g.text,
                answer=None if g.finish_reason == "cancelled" else self.mode.answer(g.text),
                # One call for all k, its prompt evaluated once: counted with the first sample.
                # Program outputs are read like a prompt: input tokens.
                usage=Usage((out.prompt_tokens if i == 0 else 0) + g.injected_tokens,
                            g.completion_tokens, calls=1 if i == 0 else 0,
                            seconds=seconds if i == 0 else 0.0),
                seconds=seconds,
                details={**details, "finish_reason": g.finish_reason, **extra,
                         "tokens_per_second": g.completion_tokens / out.generate_seconds
                         if out.generate_seconds > 0 else None}))
        usage = Usage(out.prompt_tokens + sum(g.injected_tokens for g in out.generations),
                      sum(g.completion_tokens for g in out.generations), calls=1, seconds=seconds)
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
        text=text, answer=COT.answer(text), usage=usage,
        seconds=sum(timings.values()),
        details={"device": runtime.device, "finish_reason": choice.get("finish_reason"),
                 "tokens_per_second": tokens_out / generate if generate > 0 else None,
                 "mode": COT.name, **timings})
