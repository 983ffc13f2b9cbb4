"""Qwen2.5-Math's official chat prompt and the answer it ends with."""

from __future__ import annotations

from engine.trace import Usage
from evals.grading import extract_answer
from specialists.base import SpecialistResult

# From the Qwen2.5-Math model card: greedy decoding with this system message.
SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

# GSM8K solutions of the stand-in 1.5B model are well under this (docs/benchmarks.md);
# MATH-500 needs more room, so the CLI lets users raise it.
MAX_TOKENS = 1024


def messages_for(question: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question}]


class QwenMathSpecialist:
    """Qwen2.5-Math (or a stand-in GGUF) run in process by llama.cpp."""

    local = True

    def __init__(self, runtime, *, max_tokens: int = MAX_TOKENS):
        self.runtime = runtime
        self.max_tokens = max_tokens
        self.name = runtime.name

    def solve(self, question: str) -> SpecialistResult:
        response = self.runtime.chat(messages_for(question), max_tokens=self.max_tokens,
                                     temperature=0.0)
        return _result(response, self.runtime)


def _result(response: dict, runtime) -> SpecialistResult:
    choice = response["choices"][0]
    text = choice["message"]["content"] or ""
    usage = response.get("usage") or {}
    timings = response["timings"]
    tokens_out = usage.get("completion_tokens", 0)
    generate = timings["generate_seconds"]
    return SpecialistResult(
        text=text, answer=extract_answer(text),
        usage=Usage.of_call(usage.get("prompt_tokens", 0), tokens_out),
        seconds=sum(timings.values()),
        details={"device": runtime.device, "finish_reason": choice.get("finish_reason"),
                 "tokens_per_second": tokens_out / generate if generate > 0 else None,
                 **timings})
