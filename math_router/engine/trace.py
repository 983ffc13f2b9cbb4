"""What happened during one question: turns, tool calls, tokens, seconds, cost.

Every figure a user reads comes from a Trace, so all methods are measured the
same way. Traces round-trip through JSON (`to_dict` / `from_dict`).

Measured vs spent: a Trace's tokens, seconds and cost are what the method took
when each call was computed, even when this run got the answer from the
response cache; what this run actually spent is kept apart (`Usage.spent()`,
`Trace.spent_seconds`, `Trace.spent_cost_usd`). A method does not get faster
or cheaper because an earlier run asked the same question.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import attrs

# How a run with tools ended: the orchestrator's own reply; the specialist's agreed vote (no
# orchestrator turn after it); or a reply that stated no answer, so the one shown stands.
Ended = Literal["orchestrator", "specialist_vote", "specialist_stands"]


@attrs.frozen
class Usage:
    """What model calls took: tokens and model seconds, as measured when each call ran.

    A call that the response cache answered in this run keeps the figures it had
    when it ran, and counts them again under `cached_*`: `spent()` is the rest.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    seconds: float = 0.0
    prompt_cache_hit_tokens: int = 0  # input the API served from its prompt cache (cheaper)
    cached_calls: int = 0  # of `calls`, answered by our response cache in this run
    cached_input_tokens: int = 0
    cached_output_tokens: int = 0
    cached_seconds: float = 0.0
    cached_prompt_cache_hit_tokens: int = 0
    # Of `output_tokens`, the hidden reasoning a reasoning model did (billed as output; the
    # server reports it in completion_tokens_details), and of those, answered by the cache.
    reasoning_tokens: int = 0
    cached_reasoning_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other))))

    def __sub__(self, other: Usage) -> Usage:
        return Usage(*(a - b for a, b in zip(attrs.astuple(self), attrs.astuple(other))))

    @classmethod
    def of_call(cls, input_tokens: int, output_tokens: int, seconds: float = 0.0,
                prompt_cache_hit_tokens: int = 0, reasoning_tokens: int = 0) -> Usage:
        """Usage of one call made now."""
        return cls(input_tokens, output_tokens, calls=1, seconds=seconds,
                   prompt_cache_hit_tokens=prompt_cache_hit_tokens,
                   reasoning_tokens=reasoning_tokens)

    def replayed(self) -> Usage:
        """The same figures, answered from the response cache this time."""
        return attrs.evolve(self, cached_calls=self.calls, cached_input_tokens=self.input_tokens,
                            cached_output_tokens=self.output_tokens, cached_seconds=self.seconds,
                            cached_prompt_cache_hit_tokens=self.prompt_cache_hit_tokens,
                            cached_reasoning_tokens=self.reasoning_tokens)

    def spent(self) -> Usage:
        """What this run paid for: the figures less what the cache answered."""
        return Usage(self.input_tokens - self.cached_input_tokens,
                     self.output_tokens - self.cached_output_tokens,
                     calls=self.calls - self.cached_calls,
                     seconds=max(0.0, self.seconds - self.cached_seconds),
                     prompt_cache_hit_tokens=self.prompt_cache_hit_tokens
                     - self.cached_prompt_cache_hit_tokens,
                     reasoning_tokens=self.reasoning_tokens - self.cached_reasoning_tokens)


@attrs.frozen
class ToolRequest:
    """A tool call as the model asked for it."""

    id: str
    name: str
    arguments: str  # raw JSON text, exactly as the model wrote it


@attrs.frozen
class Turn:
    """One orchestrator reply."""

    content: str | None
    tool_requests: list[ToolRequest] = attrs.field(factory=list)
    usage: Usage = Usage()
    seconds: float = 0.0
    finish_reason: str | None = None
    cached: bool = False
    notes: list[str] = attrs.field(factory=list)  # what the client changed to get an answer
    batch: bool = False  # answered through the OpenAI Batch API (priced at its tier)


@attrs.frozen
class ModelAnswer:
    """What a tool backed by a model reports of its call: which model, whether it ran in this
    process (no API cost), and the answer it gave."""

    name: str
    local: bool
    answer: str | None = None
    device: str | None = None  # cpu, cuda, ... in process; "remote" behind a server


@attrs.frozen
class ToolCall:
    """A tool call as it ran: what was asked, what came back, how long it took."""

    name: str
    arguments: str
    result: str
    seconds: float
    is_error: bool = False
    usage: dict[str, Usage] = attrs.field(factory=dict)
    details: dict[str, Any] = attrs.field(factory=dict)
    model: ModelAnswer | None = None  # the tool's model, where it has one (slm_help)
    called_by: str | None = None  # who made the call when the orchestrator did not ("router")


@attrs.frozen
class Vote:
    """The cascade's vote over its k samples, and what it decided."""

    agreement: float  # the majority's share of the samples
    escalated: bool  # the orchestrator was asked
    threshold: float
    candidates: list[dict]  # engine.answers.vote: answer, normalized, count (by_mode), most first
    majority: str | None
    samples: list[str]
    sample_modes: list[str]
    sample_answers: list[str | None]
    samples_cancelled: int = 0  # stopped early once the vote was settled
    vote_only: bool = False  # a run that only votes (calibration) asks nobody


@attrs.frozen
class Route:
    """The probe method's decision before anything was decoded."""

    probability: float  # the probe's P(the specialist's greedy answer is right)
    way: str  # "specialist" (one greedy solution), "cascade" (the vote), "orchestrator"
    low: float  # the bands it was compared with
    high: float
    features: str = "hidden_state_last_prompt_token"  # what the probe read (probe.model)


@attrs.frozen
class Trace:
    """The record of one question answered by one method."""

    method: str
    final_text: str | None
    turns: list[Turn] = attrs.field(factory=list)
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    usage: dict[str, Usage] = attrs.field(factory=dict)  # component -> tokens
    seconds: float = 0.0  # as measured: model calls count what they took when they ran
    spent_seconds: float = 0.0  # wall-clock seconds of this run
    component_seconds: dict[str, float] = attrs.field(factory=dict)
    models: dict[str, str] = attrs.field(factory=dict)  # component -> model name
    local: list[str] = attrs.field(factory=list)  # components run in process: no API cost
    cost_usd: float | None = None  # at list prices, as measured; None when a price is unknown
    component_cost_usd: dict[str, float | None] = attrs.field(factory=dict)
    spent_cost_usd: float | None = None  # what this run's real calls cost
    stopped: str = "answer"  # "answer" | "max_turns"
    ended: Ended | None = None  # set by runs that offer tools
    device: str | None = None  # where the specialist ran, when one did
    details: dict[str, Any] = attrs.field(factory=dict)
    vote: Vote | None = None  # set by methods that vote over samples (the cascade)
    route: Route | None = None  # set by the probe method: which way it sent the question

    @property
    def answer(self) -> str | None:
        """The answer the trace states: its final text's, or none when the method stopped at
        --max-turns (a text written beside a last tool call is not an answer). The one rule:
        the API's Result, `solve --json`, the records and the server all read it here."""
        from math_router.engine.answers import extract_answer

        return extract_answer(self.final_text or "") if self.stopped == "answer" else None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        def usage_map(raw: dict) -> dict[str, Usage]:
            return {k: Usage(**v) for k, v in raw.items()}

        turns = [
            Turn(**{**t, "usage": Usage(**t["usage"]),
                    "tool_requests": [ToolRequest(**r) for r in t["tool_requests"]]})
            for t in data.get("turns", [])
        ]
        calls = [ToolCall(**{**c, "usage": usage_map(c["usage"]),
                             "model": c.get("model") and ModelAnswer(**c["model"])})
                 for c in data.get("tool_calls", [])]
        vote, route = data.get("vote"), data.get("route")
        return cls(**{**data, "turns": turns, "tool_calls": calls,
                      "usage": usage_map(data.get("usage", {})), "vote": vote and Vote(**vote),
                      "route": route and Route(**route)})


def parse_arguments(arguments: str) -> object:
    """A tool call's arguments as data when they parse, else the raw text the model wrote."""
    try:
        return json.loads(arguments)
    except (json.JSONDecodeError, TypeError):
        return arguments


def usage_of_response(response: dict, seconds: float = 0.0) -> Usage:
    """Tokens of an OpenAI-shaped response dict (llama-cpp-python returns these)."""
    usage = response.get("usage") or {}
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return Usage.of_call(usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0), seconds,
                         reasoning_tokens=reasoning)


def measured_seconds(wall: float, usages) -> float:
    """Wall seconds with each model call's spent time replaced by the time it took when it ran."""
    usages = list(usages)
    return max(0.0, wall - sum(u.spent().seconds for u in usages) + sum(u.seconds for u in usages))


def add_usage(total: dict[str, Usage], more: dict[str, Usage]) -> dict[str, Usage]:
    """Merge per-component usage maps."""
    merged = dict(total)
    for component, usage in more.items():
        merged[component] = merged.get(component, Usage()) + usage
    return merged
