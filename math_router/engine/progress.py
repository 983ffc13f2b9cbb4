"""Progress lines while a question is being answered (a local solve takes a minute on a CPU).

The command line turns them on for `solve` on a terminal, on stderr, so `--json`
stays one object on stdout. Off (the default), `say` costs nothing.

    with reporting(print):
        ...                      # say("...") anywhere below reaches print
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from typing import Callable, Iterator

_reporter: contextvars.ContextVar[Callable[[str], None] | None] = \
    contextvars.ContextVar("math_router_progress", default=None)


@contextlib.contextmanager
def reporting(callback: Callable[[str], None]) -> Iterator[None]:
    started = time.perf_counter()
    token = _reporter.set(lambda line: callback(f"[{time.perf_counter() - started:6.1f} s] {line}"))
    try:
        yield
    finally:
        _reporter.reset(token)


def say(line: str) -> None:
    reporter = _reporter.get()
    if reporter is not None:
        reporter(line)


def short(text: str, width: int = 72) -> str:
    """The first line of `text`, cut to `width` characters."""
    first = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return first if len(first) <= width else first[:width - 3] + "..."


def say_solved(result) -> None:
    """A line for a specialist's solution: tokens, seconds, speed, answer."""
    rate = result.tokens_per_second
    say(f"specialist: {result.usage.output_tokens:,} tokens, {result.seconds:.1f} s"
        + (f" ({rate:.1f} tokens/s)" if rate else "") + f" -> answer {result.answer}"
        + (" (from the cache)" if result.cached else ""))
