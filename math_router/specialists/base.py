"""The Specialist protocol: a model that solves a math question on its own."""

from __future__ import annotations

from typing import Any, Callable, Protocol

import attrs

from math_router.engine.sampling import GREEDY, SamplingParams  # noqa: F401 (re-exported)
from math_router.engine.trace import Usage


class _Details:
    """Typed reads of a result's `details`, the bag that traces keep as it is: each key is read
    here, nowhere else."""

    details: dict[str, Any]

    @property
    def device(self) -> str | None:
        """Where it ran: cpu, cuda, ... in process; "remote" behind a server."""
        return self.details.get("device")

    @property
    def cached(self) -> bool:
        return bool(self.details.get("cached"))


@attrs.frozen
class SpecialistResult(_Details):
    text: str
    answer: str | None  # extracted from `text`; None when it states none
    usage: Usage
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)  # device, cache hits, finish reason

    @property
    def finish_reason(self) -> str | None:
        """stop, length, or cancelled (a settled vote no longer needed it)."""
        return self.details.get("finish_reason")

    @property
    def tokens_per_second(self) -> float | None:
        return self.details.get("tokens_per_second")


@attrs.frozen
class SampleSet(_Details):
    """k sampled solutions of one question: usage counts the shared prompt once."""

    results: list[SpecialistResult]
    usage: Usage
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Reading:
    """What the specialist's evaluation of a question's prompt says before it writes a token:
    its hidden state at the prompt's last token (the probe's features), and what reading cost.
    The prompt's KV cells are kept, so a solution asked next starts where the reading ended."""

    hidden_state: tuple[float, ...]
    usage: Usage  # the prompt's tokens as input, no output
    seconds: float
    details: dict[str, Any] = attrs.field(factory=dict)


class Specialist(Protocol):
    name: str
    identity: str  # what the response cache keys on: model, file or server
    local: bool  # runs in this process: no API cost

    def solve(self, question: str) -> SpecialistResult: ...

    def sample(self, question: str, params: SamplingParams,
               settled: Callable[[list[str | None]], bool] | None = None) -> SampleSet: ...

    def card(self): ...  # engine.model_card.ModelCard


class ReadingSpecialist(Specialist, Protocol):
    """A specialist whose hidden state can be read (in process, on llama.cpp's batched
    decoder): what the `probe` method routes on."""

    def read(self, question: str) -> Reading: ...


def can_read(specialist) -> bool:
    """Whether `specialist` (or the model a cache wraps) offers its hidden state."""
    return bool(getattr(specialist, "reads_hidden_state", False))
