"""The Specialist protocol: a model that solves a math question on its own."""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from engine.trace import Usage


@attrs.frozen
class SpecialistResult:
    text: str
    answer: str | None  # extracted from `text`; None when it states none
    usage: Usage
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)  # device, cache hits, finish reason


class Specialist(Protocol):
    name: str
    local: bool  # runs in this process: no API cost

    def solve(self, question: str) -> SpecialistResult: ...
