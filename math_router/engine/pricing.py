"""USD per million tokens, per model name; the cost of a Usage.

An unknown model costs None ("unknown"), never 0: a missing price must not
make a method look free. Models run in process are local and cost 0.
"""

from __future__ import annotations

import re

import attrs

from math_router.engine.errors import UserError
from math_router.engine.trace import Usage

PRICES_DATE = "2025-08-01"
PRICES_SOURCE = "https://openai.com/api/pricing (standard tier, uncached input)"


@attrs.frozen
class Price:
    input_per_million: float
    output_per_million: float

    def cost(self, usage: Usage) -> float:
        """USD for the real calls in `usage`; cache hits are free."""
        return (usage.input_tokens * self.input_per_million
                + usage.output_tokens * self.output_per_million) / 1_000_000


LOCAL = Price(0.0, 0.0)

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
}

# Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def lookup(model: str, extra: dict[str, Price] | None = None) -> Price | None:
    """The price of `model`, or None when nobody told us."""
    table = {**DEFAULT_PRICES, **(extra or {})}
    name = model.lower()
    return table.get(name) or table.get(_SNAPSHOT.sub("", name))


def cost(model: str, usage: Usage, *, local: bool = False,
         extra: dict[str, Price] | None = None) -> float | None:
    """USD for `usage` of `model`: 0 when local, None when the price is unknown."""
    price = LOCAL if local else lookup(model, extra)
    return None if price is None else price.cost(usage)


def parse_price(spec: str) -> tuple[str, Price]:
    """Parse `NAME=IN,OUT` (USD per million input and output tokens)."""
    name, sep, numbers = spec.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        inp, out = (float(x) for x in numbers.split(","))
    except ValueError:
        raise UserError(f"--price wants NAME=IN,OUT in USD per million tokens, got {spec!r}") from None
    return name.lower(), Price(inp, out)
