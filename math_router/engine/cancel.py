"""Stopping a question whose asker has gone: a flag the caller sets, read by the loop at each turn.

A server's client that disconnects should not go on costing money: the server sets the flag of
that request, and the method stops at its next orchestrator turn or tool call (a model call
already running ends first). The flag travels in a context variable, so the methods and the
loop carry no parameter for it; code run without one is never cancelled.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading


class Cancelled(Exception):
    """The asker has gone: the question was stopped before its next model call."""


_flag: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar("cancel", default=None)


@contextlib.contextmanager
def cancellable(flag: threading.Event):
    """Within this block (on this thread), `check()` raises once `flag` is set."""
    token = _flag.set(flag)
    try:
        yield
    finally:
        _flag.reset(token)


def check() -> None:
    """Raise Cancelled when the current question's asker has gone."""
    flag = _flag.get()
    if flag is not None and flag.is_set():
        raise Cancelled("the client went away; stopped before the next model call")
