"""The two jobs that answer many problems, on the runner: an eval of methods on problems with
gold answers, and `solve --input`, one method's answers to a user's own problems.

Both take a built Setup (factory builds it; evals sits below factory) and the
settings that shape each method's results, check the folder before anything is
written, send one small request per API first (`preflight`), then run the
runner. They differ in what they write: an eval, results_<method>.jsonl and
comparison.json; answers, answers.jsonl, answers.csv and summary.json.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import re
import time
from pathlib import Path
from typing import Callable, Iterator

import attrs

from math_router.engine.errors import BudgetReached
from math_router.evals.budget import Budget, stopped_line
from math_router.evals.datasets import Problem
from math_router.evals.folders import (AnswerFolder, EvalFolder, one_writer, write_json_atomic,
                                      write_text_atomic)
from math_router.evals.methods import METHODS, Setup, preflight
from math_router.evals.records import answer_record
from math_router.evals.records import read_at, scan
from math_router.evals.runner import Workers, run, run_method


@attrs.frozen
class Evaluation:
    """A finished (or resumed) eval: its folder, the comparison and the latest record per problem."""

    out: Path
    comparison: dict
    records: dict[str, list[dict]]
    stopped: str | None = None  # why a budget stopped it starting problems (evals.budget)

    @property
    def errors(self) -> int:
        """Problems whose latest record is an error (rerun the eval to retry them)."""
        return sum(r["error"] is not None for recs in self.records.values() for r in recs)


# Problems solved at once: enough to keep a batched decoder and an API busy, few enough for a laptop.
DEFAULT_CONCURRENCY = 4
# With the Batch API every problem is in flight at once (a worker thread each, mostly waiting),
# so that one round carries all of them; more problems than this go in several rounds.
BATCH_WORKERS = 10_000


@attrs.frozen
class Job:
    """How a job runs, whatever it writes."""

    setup: Setup
    run_info: dict  # dataset or input, dates, environment: what run.json records
    concurrency: int = DEFAULT_CONCURRENCY
    progress: bool = True
    notify: Callable[[str], None] = lambda _: None
    served_models: Callable[[], dict] = dict  # model names the servers reported, after a run
    workers: Workers | None = None  # told when workers start and stop (the Batch API's rounds)
    status: Callable[[], str] | None = None  # a progress-line status of its own (the Batch API's)
    budget: Budget | None = None  # --max-cost, --max-time over the whole job


def evaluate(job: Job, methods: list[str], problems: list[Problem], out: Path,
             settings: dict[str, dict], latency_sample: int = 0) -> Evaluation:
    """Each method on the same problems into `out`; an existing `out` resumes. With
    `latency_sample` N, each method then answers the first N problems again one at a time
    without the response cache (latency_<method>.jsonl): its seconds alone, not shared."""
    from math_router.evals.report import load_results, write_comparison

    folder = EvalFolder(out)
    with one_writer(out) as claim:
        folder.check(problems, settings)
        claim()
        preflight(job.setup, methods)
        job.notify(f"results: {out}")
        folder.prepare(problems, job.run_info, settings)
        for method in methods:
            started = time.monotonic()
            run_method(out, method, functools.partial(METHODS[method], job.setup), problems,
                       concurrency=job.concurrency, progress=job.progress, workers=job.workers,
                       status=job.status, budget=job.budget)
            folder.record_elapsed(method, time.monotonic() - started, job.concurrency)
            folder.record_served_models(method, job.served_models())
        if latency_sample and not (job.budget is not None and job.budget.stopped):
            alone = uncached(job.setup)
            for method in methods:
                measure_latency(out, method, functools.partial(METHODS[method], alone),
                                problems[:latency_sample], job)
        results = load_results(out)
        return Evaluation(out, write_comparison(out, results), results,
                          job.budget.reason if job.budget is not None else None)


def uncached(setup: Setup) -> Setup:
    """The same models without the response cache: every call runs (and is paid for)."""
    from math_router.engine.caching import CachedModel

    def bare(model):
        return model.inner if isinstance(model, CachedModel) else model

    return attrs.evolve(setup, orchestrator=bare(setup.orchestrator), baseline=bare(setup.baseline),
                        specialist=bare(setup.specialist),
                        specialists={m: bare(s) for m, s in setup.specialists.items()})


def measure_latency(out: Path, method: str, solve, problems: list[Problem], job: Job) -> None:
    """`problems` one at a time into out/latency_<method>.jsonl (resumable, like results)."""
    from math_router.evals.records import record

    for _ in run(problems, solve, lambda p, t, e: record(p, method, t, e),
                 path=EvalFolder(out).latency(method), label=f"{method} alone", concurrency=1,
                 progress=job.progress, budget=job.budget):
        pass


# The columns of answers.csv: what a spreadsheet needs, the rest is in answers.jsonl.
CSV_COLUMNS = ("id", "question", "answer", "gold", "correct", "error", "method", "ended",
               "escalated", "cost_usd", "seconds", "input_tokens", "output_tokens", "models")


def answer(job: Job, method: str, problems: list[Problem], out: Path | None,
           settings: dict) -> Iterator[dict]:
    """Answer every problem with `method`, yielding each answer record: those an earlier run
    into `out` finished first, then each new one as soon as it is on disk. With `out`, the
    folder's answers.csv and summary.json are written at the end."""
    folder = AnswerFolder(out) if out is not None else None
    with one_writer(out) if out is not None else contextlib.nullcontext(lambda: None) as claim:
        yield from _answer(job, method, problems, out, folder, settings, claim)


def _answer(job: Job, method: str, problems: list[Problem], out: Path | None,
            folder: AnswerFolder | None, settings: dict, claim) -> Iterator[dict]:
    if folder is not None:
        folder.check(problems, settings)
        claim()
    preflight(job.setup, [method])
    if folder is not None:
        job.notify(f"answers: {out}")
        folder.prepare(problems, job.run_info, settings)
        done = scan(folder.answers)
        yield from read_at(folder.answers, [done[p.id].offset for p in problems
                                            if p.id in done and not done[p.id].error])
    yield from run(problems, functools.partial(METHODS[method], job.setup),
                   lambda p, t, e: answer_record(p, method, t, e),
                   path=folder.answers if folder else None, label=method,
                   concurrency=job.concurrency, progress=job.progress, workers=job.workers,
                   status=job.status, budget=job.budget)
    if folder is not None:
        write_answers_csv(folder, problems)
        write_json_atomic(folder.summary, summarize_answers(folder, problems, method, job))
    if job.budget is not None and job.budget.stopped:
        raise BudgetReached(stopped_line(job.budget.reason, out))


def latest_answers(folder: AnswerFolder, problems: list[Problem]) -> Iterator[dict]:
    """The latest answer of each problem, in the input's order, read one at a time."""
    done = scan(folder.answers)
    yield from read_at(folder.answers, [done[p.id].offset for p in problems if p.id in done])


def write_answers_csv(folder: AnswerFolder, problems: list[Problem]) -> None:
    """answers.csv in the input's order, made anew from answers.jsonl (which stays the record);
    written as the folder's other files are (write_text_atomic: a question UTF-8 cannot hold
    escaped, a full disk one line with no temporary file left).

    It joins back to the input: the id column under the input's own name, then every column
    of the input as it was, then the answer's columns (CSV_COLUMNS; one the input also has
    is written math_router_<name>)."""
    by_id = {p.id: p for p in problems}
    id_name = next((p.id_field for p in problems if p.id_field), None) or "id"
    given = list(dict.fromkeys(k for p in problems for k in p.row if k != id_name))
    ours = [c for c in CSV_COLUMNS if c != "id" and not (c == "question" and given)]
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow([id_name, *given, *(f"math_router_{c}" if c in given or c == id_name
                                        else c for c in ours)])
    for r in latest_answers(folder, problems):
        source = by_id[r["id"]].row if r["id"] in by_id else {}
        row = {**r, "models": "; ".join(f"{k}: {v}" for k, v in r["models"].items())}
        cells = [r["id"], *(_cell_text(source.get(k)) for k in given),
                 *("" if row.get(c) is None else row[c] for c in ours)]
        writer.writerow([spreadsheet_cell(c) for c in cells])
    write_text_atomic(folder.csv, text.getvalue())


def _cell_text(value):
    """An input cell as a spreadsheet shows it: text as is, lists and objects as JSON."""
    import json

    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else value


# A cell a spreadsheet would read as a formula starts with one of these (OWASP's CSV injection
# list); the csv module quotes, but quoting does not stop a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_cell(value):
    """A CSV cell no spreadsheet runs: text that starts like a formula gets a leading ', as
    spreadsheet tools expect; numbers (-42, +7, 1e5) stay numbers."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) \
            or _NUMBER.fullmatch(value):
        return value
    return "'" + value


def summarize_answers(folder: AnswerFolder, problems: list[Problem], method: str, job: Job) -> dict:
    """summary.json: how many were answered, what they cost, accuracy where rows had gold."""
    from math_router.evals.compare import Stats, prices_note

    stats = Stats()
    for r in latest_answers(folder, problems):
        stats.add(r)
    figures = stats.figures(len(problems))
    answered = figures.pop("n")
    info = folder.info()
    return {"method": method, "problems": len(problems), "answered": answered,
            "unanswered": len(problems) - figures["attempted"], **figures,
            "served_models": job.served_models(),
            "prices": prices_note(),
            "input": info.get("input"), "settings": info.get("settings"),
            "environment": info.get("environment"), "created": info.get("created")}
