"""A specialist served over the chat-completions protocol (vLLM, llama-server, ...)."""

from __future__ import annotations

import os
import time

from engine.chat import call_openai
from engine.errors import UserError
from engine.trace import Usage
from evals.grading import extract_answer
from specialists import qwen_math
from specialists.base import SpecialistResult


class OpenAISpecialist:
    """Qwen2.5-Math (or any math model) behind an OpenAI-compatible URL."""

    local = False

    def __init__(self, base_url: str, model: str | None, *, api_key: str | None = None,
                 max_tokens: int = qwen_math.MAX_TOKENS, timeout: float = 300.0,
                 max_retries: int = 2):
        import openai

        if not model:
            raise UserError("--specialist URL needs --specialist-model NAME (the model the server serves)")
        self.name = model
        self.base_url = base_url
        self.max_tokens = max_tokens
        # The orchestrator's OpenAI key is never sent to a specialist server:
        # it has its own variable, and self-hosted servers rarely check keys.
        self._key = api_key or os.environ.get("SPECIALIST_API_KEY") or "no-key"
        self._client = openai.OpenAI(api_key=self._key, base_url=base_url, timeout=timeout,
                                     max_retries=max_retries)

    def solve(self, question: str) -> SpecialistResult:
        start = time.perf_counter()
        response = call_openai(self._client.chat.completions.create, self.base_url, self._key,
                               model=self.name, messages=qwen_math.messages_for(question),
                               temperature=0.0, max_tokens=self.max_tokens)
        seconds = time.perf_counter() - start
        if not response.choices:
            raise UserError(f"{self.base_url} answered with no choices")
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = response.usage
        return SpecialistResult(
            text=text, answer=extract_answer(text),
            usage=Usage.of_call(usage.prompt_tokens if usage else 0,
                                usage.completion_tokens if usage else 0),
            seconds=seconds, details={"finish_reason": choice.finish_reason, "device": "remote"})
