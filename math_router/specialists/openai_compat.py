"""A specialist served over the OpenAI protocol (vLLM, llama-server, ...).

Chain-of-thought goes through chat completions. Tool-integrated reasoning
continues the assistant's own text after each program output, which chat
completions cannot do, so it goes through /v1/completions with the prompt
rendered in Qwen's chat format (ChatML), as Qwen's own evaluation does.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import attrs

from math_router.engine import http
from math_router.engine.chat import CHECK_PROMPT, call_openai, response_usage
from math_router.engine.errors import UserError
from math_router.engine.trace import Usage
from math_router.probe.features import confidence
from math_router.specialists import qwen_math, tir
from math_router.specialists.base import SampleSet, SamplingParams, SpecialistResult
from math_router.specialists.modes import COT, DEFAULT_MODE, TIR, specialist_mode


class OpenAISpecialist:
    """Qwen2.5-Math (or any math model) behind an OpenAI-compatible URL."""

    local = False

    def __init__(self, base_url: str, model: str | None, *, api_key: str | None = None,
                 max_tokens: int = qwen_math.MAX_TOKENS, timeout: float = 300.0,
                 max_retries: int = 2, mode: str = DEFAULT_MODE, executor=None,
                 logprobs: bool = False):
        self.mode = specialist_mode(mode, executor)
        self.logprobs = logprobs  # greedy solutions ask the server for their tokens' logprobs
        self.executor = executor
        if not model:
            raise UserError("--specialist URL needs --specialist-model NAME (the model the server serves)")
        self.name = model
        self.served_model: str | None = None
        self.base_url = base_url
        self.max_tokens = max_tokens
        # The orchestrator's OpenAI key is never sent to a specialist server:
        # it has its own variable, and self-hosted servers rarely check keys.
        self._key = api_key or os.environ.get("SPECIALIST_API_KEY") or "no-key"
        self._client = http.client(api_key=self._key, base_url=base_url, timeout=timeout,
                                   max_retries=max_retries)

    @property
    def identity(self) -> str:
        return (f"openai:{self.base_url}:{self.name}:max{self.max_tokens}{self.mode.identity}"
                + (":logprobs" if self.logprobs else ""))

    def card(self):
        from math_router.engine.model_card import ModelCard

        return ModelCard(self.name, local=False, base_url=self.base_url, served=self.served_model)

    def check(self) -> None:
        """One token for a tiny question, with the parameters real requests send."""
        call_openai(self._client.chat.completions.create, self.base_url, self._key,
                    model=self.name, messages=COT.messages(CHECK_PROMPT), temperature=0.0,
                    max_tokens=1)

    def solve(self, question: str) -> SpecialistResult:
        if self.mode.runs_code:
            return self._tir(question, temperature=0.0, top_p=1.0, seed=None)
        return self._request(question, temperature=0.0, top_p=1.0, seed=None)

    def _tir(self, question: str, *, temperature: float, top_p: float, seed: int | None,
             sample: int = 0) -> SpecialistResult:
        """One TIR solution: complete, run the program, append its output, complete again."""
        prompt = chatml(TIR.messages(question))
        programs = tir.Programs(self.executor)
        budget = [self.max_tokens]
        prompt_tokens = [0]
        start = time.perf_counter()

        def complete(text: str) -> tuple[str, str, int]:
            request = {"model": self.name, "prompt": prompt + text, "temperature": temperature,
                       "max_tokens": max(1, budget[0]), "stop": [tir.STOP]}
            if top_p < 1.0:
                request["top_p"] = top_p
            if seed is not None:
                request["seed"] = seed
            response = call_openai(self._client.completions.create, self.base_url, self._key,
                                   **request)
            self.served_model = getattr(response, "model", None) or self.served_model
            usage = response_usage(response, 0.0, self.base_url)
            tokens = usage.output_tokens
            if not prompt_tokens[0]:
                prompt_tokens[0] = usage.input_tokens
            budget[0] -= tokens
            choice = response.choices[0]
            reason = "length" if budget[0] <= 0 else (choice.finish_reason or "stop")
            return choice.text or "", reason, tokens

        text, generated, injected, reason = tir.continue_until_done(complete, programs, sample)
        seconds = time.perf_counter() - start
        return SpecialistResult(
            text=text, answer=TIR.answer(text),
            usage=Usage.of_call(prompt_tokens[0] + injected, generated, seconds), seconds=seconds,
            details={"finish_reason": reason, "device": "remote", "mode": TIR.name,
                     "executions": programs.executions})

    def sample(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        """k solutions as k requests of one side by side, sample i with seed + i.

        Not one request of n=k: llama.cpp's llama-server answers n choices but reports the
        tokens of one, so the usage would be wrong; k requests are counted exactly on every
        server, and servers that cache prompts (vLLM, llama-server) evaluate it once anyway.
        All k are always drawn (`settled` is accepted for the protocol's sake).
        """
        start = time.perf_counter()

        def one(i: int) -> SpecialistResult:
            if self.mode.runs_code:  # each sample runs its own programs
                return self._tir(question, temperature=params.temperature, top_p=params.top_p,
                                 seed=params.seed + i, sample=i)
            return self._request(question, temperature=params.temperature, top_p=params.top_p,
                                 seed=params.seed + i)

        with ThreadPoolExecutor(max_workers=params.k) as pool:
            results = list(pool.map(one, range(params.k)))
        seconds = time.perf_counter() - start
        # They ran side by side: the set's seconds are its wall time, carried by the first
        # sample (as the batched decoder does), not the sum of the k requests' times.
        results = [attrs.evolve(r, usage=attrs.evolve(r.usage, seconds=seconds if i == 0 else 0.0))
                   for i, r in enumerate(results)]
        usage = sum((r.usage for r in results), Usage())
        return SampleSet(results, usage, seconds, {"device": "remote", "mode": self.mode.name})

    def _request(self, question: str, *, temperature: float, top_p: float,
                 seed: int | None) -> SpecialistResult:
        request = {"model": self.name, "messages": self.mode.messages(question),
                   "temperature": temperature, "max_tokens": self.max_tokens}
        if top_p < 1.0:
            request["top_p"] = top_p
        if seed is not None:
            request["seed"] = seed
        confident = self.logprobs and temperature <= 0
        if confident:
            request["logprobs"] = True
        start = time.perf_counter()
        response = call_openai(self._client.chat.completions.create, self.base_url, self._key,
                               **request)
        seconds = time.perf_counter() - start
        self.served_model = getattr(response, "model", None) or self.served_model
        choice = response.choices[0]
        text = choice.message.content or ""
        details = {"finish_reason": choice.finish_reason, "device": "remote"}
        if confident:
            # A server that returns no logprobs says so in the record: None, not zeros.
            tokens = (getattr(choice, "logprobs", None) and choice.logprobs.content) or []
            details["confidence"] = confidence([t.token for t in tokens],
                                               [t.logprob for t in tokens])
        return SpecialistResult(text=text, answer=self.mode.answer(text),
                                usage=response_usage(response, seconds, self.base_url),
                                seconds=seconds, details=details)


def chatml(messages: list[dict]) -> str:
    """Messages in Qwen's chat format, ready for the assistant's reply."""
    turns = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    return turns + "<|im_start|>assistant\n"
