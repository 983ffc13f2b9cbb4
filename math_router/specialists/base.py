"""The Specialist protocol: a model that solves a math question on its own."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import attrs

from math_router.engine.trace import Usage


@attrs.frozen
class SpecialistResult:
    text: str
    answer: str | None  # extracted from `text`; None when it states none
    usage: Usage
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)  # device, cache hits, finish reason


@attrs.frozen
class SampleSet:
    """k sampled solutions of one question: usage counts the shared prompt once."""

    results: list[SpecialistResult]
    usage: Usage
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class SamplingParams:
    """Qwen2.5's recommended sampling (its generation_config): T 0.7, top_p 0.8, top_k 20."""

    k: int = 4
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20  # also keeps top_p from sorting the whole vocabulary every token
    seed: int = 0  # sample i uses seed + i


GREEDY = SamplingParams(k=1, temperature=0.0, top_p=1.0, top_k=0)


class Specialist(Protocol):
    name: str
    identity: str  # what the response cache keys on: model, file or server
    local: bool  # runs in this process: no API cost

    def solve(self, question: str) -> SpecialistResult: ...

    def sample(self, question: str, params: SamplingParams,
               settled: Callable[[list[str | None]], bool] | None = None) -> SampleSet: ...
