"""The Specialist protocol: a model that solves a math question on its own."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import attrs

from math_router.engine.sampling import GREEDY, SamplingParams  # noqa: F401 (re-exported)
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


class Specialist(Protocol):
    name: str
    identity: str  # what the response cache keys on: model, file or server
    local: bool  # runs in this process: no API cost

    def solve(self, question: str) -> SpecialistResult: ...

    def sample(self, question: str, params: SamplingParams,
               settled: Callable[[list[str | None]], bool] | None = None) -> SampleSet: ...
