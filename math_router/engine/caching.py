"""A ChatModel whose answers are kept in a ResponseCache (specialists.caching does the same
for specialists).

A hit sends nothing and costs nothing now, yet keeps the tokens and seconds the
call took when it ran (`Usage.replayed()`): the method's own figures stay what
they were, and what this run spent is counted apart.
"""

from __future__ import annotations

import attrs

from math_router.engine import turn_params
from math_router.engine.cache import ResponseCache, cache_key
from math_router.engine.trace import ToolRequest, Turn, Usage


class CachedModel:
    """Stands in for the wrapped model: same name, identity and locality."""

    def __init__(self, inner, cache: ResponseCache):
        self.inner = inner
        self.cache = cache

    name = property(lambda self: self.inner.name)
    local = property(lambda self: self.inner.local)
    identity = property(lambda self: self.inner.identity)

    def card(self):
        return self.inner.card()

    def check(self, *args) -> None:
        """A test request goes to the model itself, never to the cache."""
        check = getattr(self.inner, "check", None)
        if check is not None:
            check(*args)


class CachedChat(CachedModel):

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        wanted = turn_params.asked()  # a client's own temperature: another answer
        key = cache_key(kind="chat", model=self.identity, messages=messages, tools=tools,
                        tool_choice=tool_choice, **({"asked": wanted} if wanted else {}))
        stored = self.cache.get(key)
        if stored is not None:
            usage = stored_usage(stored["usage"], stored["seconds"])
            return Turn(content=stored["content"],
                        tool_requests=[ToolRequest(**r) for r in stored["tool_requests"]],
                        usage=usage.replayed(), seconds=usage.seconds,
                        finish_reason=stored["finish_reason"], cached=True,
                        batch=bool(stored.get("batch")))  # its price tier stays the batch one
        turn = self.inner.complete(messages, tools, tool_choice)
        self.cache.put(key, "chat", attrs.asdict(turn))
        return turn


def stored_usage(stored: dict, seconds: float) -> Usage:
    """The usage a cache entry recorded, with its seconds (older entries kept them apart)."""
    known = {k: v for k, v in stored.items() if k in attrs.fields_dict(Usage)}
    usage = Usage(**known)
    # A usage that records its seconds keeps them, 0 included: a sample decoded in a
    # batch carries none (the set's seconds are on its first sample).
    return usage if "seconds" in stored else attrs.evolve(usage, seconds=seconds)
