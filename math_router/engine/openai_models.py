"""What we know of OpenAI's chat models beyond their prices: which reason by default (and so
take `reasoning_effort`), which are retiring or gone, and what replaces them.

Facts of the provider's catalogue change; each table here carries its date and source, as
the price table does. Where a server says more (`shutdown_date` in GET /v1/models), the
server wins; the table is for the day the model is gone and the server only says
"model_not_found".
"""

from __future__ import annotations

import datetime
import re

import attrs

# OpenAI's reasoning_effort values, least thinking first (gpt-6-luna: none ... max, default
# medium). Older reasoning models take a subset; the server refuses the rest.
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

# Families that reason unless told otherwise: they bill hidden reasoning tokens as output,
# refuse temperature/top_p/logprobs while reasoning, want max_completion_tokens, and (in Chat
# Completions) take function tools only at effort "none".
_REASONS_BY_DEFAULT = re.compile(r"^(o\d|gpt-5(?!-chat)|gpt-6)", re.IGNORECASE)


def reasons_by_default(model: str) -> bool:
    """Whether `model` (an OpenAI name, snapshots included) thinks before it answers unless
    sent reasoning_effort "none"."""
    return bool(_REASONS_BY_DEFAULT.match(model.rsplit("/", 1)[-1]))


@attrs.frozen
class Retirement:
    shutdown: datetime.date
    replacement: str


# Checked 2026-12-04 against https://developers.openai.com/api/docs/deprecations (shutdown dates
# and recommended replacements, as listed on 2026-11-22).
_RETIRED: dict[str, tuple[str, str]] = {
    # Announced 2026-10-14.
    "gpt-4o": ("2027-01-14", "gpt-6-luna"),
    "gpt-4o-mini": ("2027-01-14", "gpt-6-luna"),
    "gpt-4.1": ("2027-01-14", "gpt-6-luna"),
    "gpt-4.1-mini": ("2027-01-14", "gpt-6-luna"),
    # Announced 2026-06-11 (replacements as renamed on the page in November).
    "gpt-5": ("2026-12-11", "gpt-6.1-sol"),
    "gpt-5-mini": ("2026-12-11", "gpt-6.1-terra"),
    "gpt-5-nano": ("2026-12-11", "gpt-6-luna"),
    "o3": ("2026-12-11", "gpt-6.1-sol"),
    # Gone on 2026-10-23.
    "gpt-4o-2024-05-13": ("2026-10-23", "gpt-5.6-sol"),
    "gpt-4.1-nano": ("2026-10-23", "gpt-5.6-luna"),
    "gpt-4": ("2026-10-23", "gpt-5.6-sol"),
    "gpt-4-turbo": ("2026-10-23", "gpt-5.6-sol"),
    "gpt-3.5-turbo": ("2026-10-23", "gpt-5.6-terra"),
    "o1": ("2026-10-23", "gpt-5.6-sol"),
    "o3-mini": ("2026-10-23", "gpt-5.6-sol"),
    "o4-mini": ("2026-10-23", "gpt-5.6-terra"),
}
RETIREMENTS: dict[str, Retirement] = {
    name: Retirement(datetime.date.fromisoformat(day), replacement)
    for name, (day, replacement) in _RETIRED.items()}

# Dated snapshots ("gpt-4o-mini-2024-07-18", "gpt-4-0613") retire with their family.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


def family(model: str) -> str:
    """A dated snapshot's family name ("gpt-4o-mini-2024-07-18" -> "gpt-4o-mini"), lower case."""
    return _SNAPSHOT.sub("", model.lower())


def retirement(model: str) -> Retirement | None:
    """When `model` leaves OpenAI's API and what replaces it, where we know."""
    name = model.lower().rsplit("/", 1)[-1]
    return RETIREMENTS.get(name) or RETIREMENTS.get(family(name))


def shutdown_line(model: str, shutdown: str | datetime.date,
                  today: datetime.date | None = None) -> str:
    """One line that names a model's shutdown date and what to use instead."""
    today = today or datetime.date.today()
    day = shutdown if isinstance(shutdown, datetime.date) else _date(shutdown)
    known = retirement(model)
    instead = known.replacement if known else None
    fix = f": pass --model {instead} (OpenAI's named replacement)" if instead else ""
    if day is None:
        return f"{model} has a shutdown date announced ({shutdown}){fix}"
    if day <= today:
        return f"{model} left OpenAI's API on {day.isoformat()}{fix}"
    days = (day - today).days
    return (f"{model} leaves OpenAI's API on {day.isoformat()}, in {days} day"
            f"{'' if days == 1 else 's'}{fix}")


def gone_line(model: str, today: datetime.date | None = None) -> str | None:
    """For a model the API no longer knows: the date it went and what to use, if we know."""
    known = retirement(model)
    if known is None:
        return None
    return shutdown_line(model, known.shutdown, today)


def _date(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None
