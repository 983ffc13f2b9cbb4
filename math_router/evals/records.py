"""Traces as the flat records users read: `solve --json` and the eval JSONL rows.

A record's usual figures (tokens, seconds, cost) are the method's own, as
measured when each call ran; what this run spent, with the response cache's
help, is under `spent`. A problem that failed has an `error` and `correct: null`:
it is counted apart, never as a wrong answer. Reading a results file back (read_records,
and for a resume `scan` and `read_at`) is here too: the folders and the runner both read,
so neither imports the other for it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs

from math_router.engine.appendlog import lines
from math_router.engine.errors import UserError
from math_router.engine.trace import Trace, Usage, parse_arguments

COMPONENTS = ("orchestrator", "specialist")


def usage_table(trace: Trace) -> dict[str, dict[str, int | float]]:
    """Tokens, calls and seconds per component (as measured), both components always present."""
    names = list(COMPONENTS) + [c for c in trace.usage if c not in COMPONENTS]
    table = {}
    for name in names:
        u = trace.usage.get(name, Usage())
        table[name] = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                       "calls": u.calls, "cached_calls": u.cached_calls,
                       "seconds": round(u.seconds, 4),
                       "prompt_cache_hit_tokens": u.prompt_cache_hit_tokens,
                       "reasoning_tokens": u.reasoning_tokens}
    return table


def spent_table(trace: Trace) -> dict[str, Any]:
    """What this run spent on the question: real calls only, wall-clock seconds."""
    spent = [u.spent() for u in trace.usage.values()]
    return {"input_tokens": sum(u.input_tokens for u in spent),
            "output_tokens": sum(u.output_tokens for u in spent),
            "seconds": round(trace.spent_seconds, 4), "cost_usd": trace.spent_cost_usd,
            "calls": sum(u.calls for u in spent),
            "cached_calls": sum(u.cached_calls for u in trace.usage.values())}


def summary(trace: Trace) -> dict[str, Any]:
    """One question's result, as `solve --json` prints it."""
    return {
        "answer": trace.answer,
        "final_text": trace.final_text,
        "method": trace.method,
        "stopped": trace.stopped,
        "tool_calls": [{"name": c.name, "arguments": parse_arguments(c.arguments), "seconds": round(c.seconds, 3),
                        "is_error": c.is_error} for c in trace.tool_calls],
        "usage": usage_table(trace),
        "cost_usd": trace.cost_usd,
        "component_cost_usd": trace.component_cost_usd,
        "models": trace.models,
        "local": trace.local,
        "seconds": round(trace.seconds, 3),
        "component_seconds": {k: round(v, 3) for k, v in trace.component_seconds.items()},
        "spent": spent_table(trace),
        "notes": [note for turn in trace.turns for note in turn.notes],
        "details": trace.details,
        "vote": attrs.asdict(trace.vote) if trace.vote else None,
    }


def record(problem, method: str, trace: Trace | None, error: str | None = None) -> dict[str, Any]:
    """One row of results_<method>.jsonl: the problem, the verdict, and where time and money went.

    A problem without gold (a user's own, `solve --input`) is not graded: `correct` is None
    and so is `error`, which tells it from a failure.
    """
    from math_router.evals.grading import is_correct

    def graded(text: str) -> bool | None:
        return None if problem.gold is None else is_correct(text, problem.gold, problem.dataset)

    # Reaching --max-turns is the method's own doing: a wrong answer (stopped says why),
    # not an error of the machinery.
    text = None if trace is None or trace.stopped == "max_turns" else trace.final_text
    usage = trace.usage if trace else {}
    seconds = trace.component_seconds if trace else {}
    row = {
        "id": problem.id,
        "method": method,
        "prediction": trace.answer if trace else None,
        "gold": problem.gold,
        # An error is not a wrong answer: it is counted apart.
        "correct": None if error is not None else graded(text or ""),
        "final_text": trace.final_text if trace else None,
        "stopped": trace.stopped if trace else None,
        # The router: did the orchestrator answer, or did the specialist's agreed vote end it?
        "ended": trace.ended if trace else None,
        "seconds": round(trace.seconds, 4) if trace else None,
        "orchestrator_seconds": round(seconds.get("orchestrator", 0.0), 4),
        "specialist_seconds": round(seconds.get("specialist", 0.0), 4),
        "input_tokens": sum(u.input_tokens for u in usage.values()),
        "output_tokens": sum(u.output_tokens for u in usage.values()),
        # Of the output, the hidden reasoning (billed as output; shown apart).
        "reasoning_tokens": sum(u.reasoning_tokens for u in usage.values()),
        "usage": usage_table(trace) if trace else {},
        "tool_calls": len(trace.tool_calls) if trace else 0,
        "cost_usd": trace.cost_usd if trace else None,
        "component_cost_usd": trace.component_cost_usd if trace else {},
        "cached_calls": sum(u.cached_calls for u in usage.values()),
        # Orchestrator calls answered through the Batch API (priced at its tier).
        "batch_calls": sum(t.batch for t in trace.turns) if trace else 0,
        "spent": spent_table(trace) if trace else None,
        "models": trace.models if trace else {},
        "device": trace.device if trace else None,
        "error": error,
        **({"meta": problem.meta} if problem.meta else {}),
        "trace": trace.to_dict() if trace else None,
    }
    if trace is not None and trace.route is not None:  # the probe method's way
        row.update(route=trace.route.way, probe_probability=trace.route.probability,
                   escalated=bool(trace.turns))  # the orchestrator was asked
    elif trace is not None and trace.vote is not None:  # the cascade's vote
        v = trace.vote
        row.update(agreement=v.agreement, escalated=v.escalated, threshold=v.threshold,
                   candidates=[{k: c[k] for k in ("answer", "count", "by_mode") if k in c}
                               for c in v.candidates],
                   sample_modes=v.sample_modes, sample_answers=v.sample_answers,
                   majority=v.majority, **({"vote_only": True} if v.vote_only else {}),
                   majority_correct=None if problem.gold is None else v.majority is not None
                   and bool(graded(f"\\boxed{{{v.majority}}}")))
    return row


def answer_record(problem, method: str, trace: Trace | None, error: str | None = None) -> dict[str, Any]:
    """One row of answers.jsonl (`solve --input`): the eval record with the question and the
    answer first, so a row reads on its own; gold and correct are None where the input had no
    answer."""
    row = record(problem, method, trace, error)
    return {"id": row.pop("id"), "question": problem.question, "answer": row.pop("prediction"),
            **row}


def latest_records(records: list[dict]) -> dict[str, dict]:
    """The last record of each problem, by id (a retried error is followed by its new record)."""
    return {r["id"]: r for r in records}


def read_records(path: Path) -> list[dict]:
    """The finished records of a results file, read only.

    A last line without its newline is a record still being written (or torn by
    a kill): it is not a record yet, and it is left as it is.
    """
    if not path.exists():
        return []
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
    records = []
    # Records end at "\n" alone: str.splitlines() would also split at U+2028, U+0085 and other
    # separators a question or an answer may hold, inside a record.
    for number, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise damaged(path, number) from None
    return records


def damaged(path: Path, number: int) -> UserError:
    return UserError(f"{path}:{number} is not a JSON record; the file is damaged")


@attrs.frozen
class Finished:
    """What a resume needs of a problem's latest record."""

    offset: int  # where its line starts in the file
    error: bool
    correct: bool | None
    question: str | None = None  # answers.jsonl records the question; results files do not


def scan(path: Path) -> dict[str, Finished]:
    """Each problem's latest record in `path` (a retried error is followed by its new record),
    read line by line; a torn last line is not a record."""
    latest: dict[str, Finished] = {}
    for number, start, line in lines(path):
        try:
            r = json.loads(line)
            latest[r["id"]] = Finished(start, r["error"] is not None, r.get("correct"),
                                       r.get("question"))
        except (ValueError, KeyError, TypeError):
            raise damaged(path, number) from None
    return latest


def read_at(path: Path, offsets: Iterable[int]) -> Iterator[dict]:
    """The records that start at `offsets`, in that order."""
    offsets = list(offsets)
    if not offsets:
        return
    with path.open("rb") as f:
        for offset in offsets:
            f.seek(offset)
            yield json.loads(f.readline())
