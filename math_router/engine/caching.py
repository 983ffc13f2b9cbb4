"""A ChatModel whose answers are kept in a ResponseCache (specialists.caching does the same
for specialists).

A hit costs nothing and sends nothing: its tokens are counted apart
(`Usage.cached_*`) so that reports count only real calls, and the record says
it was a hit.
"""

from __future__ import annotations

import time

import attrs

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


class CachedChat(CachedModel):

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        key = cache_key(kind="chat", model=self.identity, messages=messages, tools=tools,
                        tool_choice=tool_choice)
        start = time.perf_counter()
        stored = self.cache.get(key)
        if stored is not None:
            usage = Usage(**stored["usage"])
            return Turn(content=stored["content"],
                        tool_requests=[ToolRequest(**r) for r in stored["tool_requests"]],
                        usage=Usage.of_call(usage.input_tokens, usage.output_tokens, cached=True),
                        seconds=time.perf_counter() - start, finish_reason=stored["finish_reason"],
                        cached=True)
        turn = self.inner.complete(messages, tools, tool_choice)
        self.cache.put(key, "chat", attrs.asdict(turn))
        return turn
