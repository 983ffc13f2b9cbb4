"""USD per million tokens, per model name; the cost of a Usage.

An unknown model costs None ("unknown"), never 0: a missing price must not
make a method look free. Models run in process are local and cost 0.
"""

from __future__ import annotations

import attrs

from math_router.engine import openai_models
from math_router.engine.errors import UserError
from math_router.engine.trace import Usage


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

# Checked on this date against the sources named; every row is a model a user could pick for
# either role on that day. Retiring models keep their rows until their shutdown date
# (engine.openai_models.RETIREMENTS); gone ones (gpt-4.1-nano, 2026-10-23) are unknown.
PRICES_DATE = "2026-12-04"
PRICES_SOURCE = ("https://developers.openai.com/api/docs/pricing (standard tier; gpt-6-sol and "
                 "gpt-6-luna as announced 2026-09-22, gpt-5.6 as cut that day)")

# USD per million tokens: input, output, prompt-cached input. Reasoning tokens are output
# tokens (OpenAI counts them inside completion_tokens and bills them at the output rate).
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-6-luna": Price(0.10, 0.50, 0.01),
    "gpt-6-sol": Price(2.00, 10.00, 0.20),
    "gpt-6.1-sol": Price(2.00, 10.00, 0.10),
    "gpt-5.6-luna": Price(0.20, 1.20, 0.02),
    "gpt-5.6-terra": Price(2.00, 12.00, 0.20),
    "gpt-5.6-sol": Price(4.00, 20.00, 0.40),
    "gpt-5.5": Price(5.00, 30.00, 0.50),
    "gpt-5.4": Price(2.50, 15.00, 0.25),
    "gpt-5.4-mini": Price(0.75, 4.50, 0.075),
    "gpt-5.4-nano": Price(0.20, 1.25, 0.02),
    # Retiring 2026-12-11.
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    # Retiring 2027-01-14.
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
}

# The Batch API's tier: half the standard price, input and output, prompt-cached input included
# (requests answered within 24 h). Written out rather than derived, so that a test can hold
# each row to its standard one (a price changed in one table only fails it).
BATCH_PRICES_DATE = PRICES_DATE
BATCH_PRICES_SOURCE = "https://developers.openai.com/api/docs/pricing (Batch API tier: 50% of standard)"

BATCH_PRICES: dict[str, Price] = {
    "gpt-6-luna": Price(0.05, 0.25, 0.005),
    "gpt-6-sol": Price(1.00, 5.00, 0.10),
    "gpt-6.1-sol": Price(1.00, 5.00, 0.05),
    "gpt-5.6-luna": Price(0.10, 0.60, 0.01),
    "gpt-5.6-terra": Price(1.00, 6.00, 0.10),
    "gpt-5.6-sol": Price(2.00, 10.00, 0.20),
    "gpt-5.5": Price(2.50, 15.00, 0.25),
    "gpt-5.4": Price(1.25, 7.50, 0.125),
    "gpt-5.4-mini": Price(0.375, 2.25, 0.0375),
    "gpt-5.4-nano": Price(0.10, 0.625, 0.01),
    "gpt-5": Price(0.625, 5.00, 0.0625),
    "gpt-5-mini": Price(0.125, 1.00, 0.0125),
    "gpt-5-nano": Price(0.025, 0.20, 0.0025),
    "gpt-4o": Price(1.25, 5.00, 0.625),
    "gpt-4o-mini": Price(0.075, 0.30, 0.0375),
    "gpt-4.1": Price(1.00, 4.00, 0.25),
    "gpt-4.1-mini": Price(0.20, 0.80, 0.05),
}


def lookup(model: str, extra: dict[str, Price] | None = None, batch: bool = False) -> Price | None:
    """The price of `model` (at the Batch API's tier with `batch`), or None when nobody told us."""
    table = {**(BATCH_PRICES if batch else DEFAULT_PRICES), **(extra or {})}
    return _find(table, model)


def _find(table: dict[str, Price], model: str) -> Price | None:
    name = model.lower()
    # Dated snapshots ("gpt-4o-mini-2024-07-18") cost what their family costs.
    price = table.get(name) or table.get(openai_models.family(name))
    gone = openai_models.retirement(name)
    if price is not None and table.get(name) is None and gone is not None \
            and gone.shutdown.isoformat() <= PRICES_DATE:
        return None  # a snapshot gone before the table's date (gpt-4o-2024-05-13) has no price
    return price


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
