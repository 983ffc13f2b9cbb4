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
PRICES_SOURCE = "https://openai.com/api/pricing (standard tier)"


@attrs.frozen
class Price:
    input_per_million: float
    output_per_million: float
    cached_input_per_million: float | None = None  # the API's prompt-cache rate; None: no discount

    def cost(self, usage: Usage) -> float:
        """USD for `usage`, with input served from the API's prompt cache at its own rate."""
        hits = min(usage.prompt_cache_hit_tokens, usage.input_tokens)
        hit_rate = self.input_per_million if self.cached_input_per_million is None \
            else self.cached_input_per_million
        return ((usage.input_tokens - hits) * self.input_per_million + hits * hit_rate
                + usage.output_tokens * self.output_per_million) / 1_000_000


LOCAL = Price(0.0, 0.0)

DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
}

# The Batch API's tier: half the standard price, input and output, prompt-cached input included
# (requests answered within 24 h).
BATCH_PRICES_DATE = "2025-08-01"
BATCH_PRICES_SOURCE = "https://openai.com/api/pricing (Batch API tier: 50% of standard)"

BATCH_PRICES: dict[str, Price] = {
    "gpt-4o": Price(1.25, 5.00, 0.625),
    "gpt-4o-mini": Price(0.075, 0.30, 0.0375),
    "gpt-4.1": Price(1.00, 4.00, 0.25),
    "gpt-4.1-mini": Price(0.20, 0.80, 0.05),
    "gpt-4.1-nano": Price(0.05, 0.20, 0.0125),
}

# Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def lookup(model: str, extra: dict[str, Price] | None = None, batch: bool = False) -> Price | None:
    """The price of `model` (at the Batch API's tier with `batch`), or None when nobody told us."""
    table = {**(BATCH_PRICES if batch else DEFAULT_PRICES), **(extra or {})}
    return _find(table, model)


def _find(table: dict[str, Price], model: str) -> Price | None:
    name = model.lower()
    return table.get(name) or table.get(_SNAPSHOT.sub("", name))


def cost(model: str, usage: Usage, *, local: bool = False,
         extra: dict[str, Price] | None = None, batch: bool = False) -> float | None:
    """USD for `usage` of `model`: None when the price is unknown.

    A price the user named (`--price`) wins, at either tier (it is what the user
    pays), so a local or self-hosted model can be charged for its GPU time;
    otherwise a model run in process costs 0, and calls that went through the
    Batch API (`batch`) cost the batch tier's price.
    """
    price = _find(extra or {}, model) or (LOCAL if local else lookup(model, batch=batch))
    return None if price is None else price.cost(usage)


def tiered_cost(model: str, usage: Usage, batched: Usage | None = None, *, local: bool = False,
                extra: dict[str, Price] | None = None) -> float | None:
    """USD for `usage`, of which `batched` went through the Batch API and costs its tier."""
    if batched is None or not batched.calls:
        return cost(model, usage, local=local, extra=extra)
    rest = cost(model, usage - batched, local=local, extra=extra)
    tier = cost(model, batched, local=local, extra=extra, batch=True)
    return None if rest is None or tier is None else rest + tier


def parse_price(spec: str) -> tuple[str, Price]:
    """Parse `NAME=IN,OUT[,CACHED_IN]` (USD per million input, output, prompt-cached input tokens)."""
    name, sep, numbers = spec.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        values = [float(x) for x in numbers.split(",")]
        if len(values) not in (2, 3) or min(values) < 0:
            raise ValueError
    except ValueError:
        raise UserError(f"--price wants NAME=IN,OUT[,CACHED_IN] in USD per million tokens, "
                        f"got {spec!r}") from None
    return name.lower(), Price(*values)
