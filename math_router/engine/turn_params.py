"""What one request asked of the orchestrator's turns (a server's client: temperature, top_p,
max_tokens), carried in a context variable as engine.cancel carries its flag, so the methods
and the loop pass nothing along. Outside such a request the models use their own settings.

The chat models read `asked()` when they build a turn; the response cache adds it to its
key (a turn at temperature 0.7 is not the answer cached at 0).
"""

from __future__ import annotations

import contextlib
import contextvars

_asked: contextvars.ContextVar[dict | None] = contextvars.ContextVar("turn_params", default=None)

NAMES = ("temperature", "top_p", "max_tokens")


@contextlib.contextmanager
def asking(**params):
    """Within this block (on this thread), the orchestrator's turns use `params` (those not None)."""
    given = {k: v for k, v in params.items() if v is not None}
    unknown = set(given) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown turn parameters {sorted(unknown)}")
    token = _asked.set(given or None)
    try:
        yield
    finally:
        _asked.reset(token)


def asked() -> dict:
    """The parameters this request asked for its orchestrator's turns ({} when none)."""
    return dict(_asked.get() or {})
