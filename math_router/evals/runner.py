"""Solve problems in a pool of workers, appending each finished record to a JSONL file at once.

One runner for both jobs that answer many problems: an eval method's
results_<method>.jsonl and `solve --input`'s answers.jsonl. Each record is
written and fsynced as it finishes, so a killed run keeps every finished record
and a rerun into the same file skips them; a problem whose latest record is an
error is tried again and its new record appended. A record is never rewritten.

Memory stays flat in the number of problems: records go to disk, not into a
list; what a resume needs of the file is each id's latest line (offset, error or
not, graded verdict), read by `scan`.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Callable, Iterator, Protocol

from math_router.engine.appendlog import append, drop_torn_tail
from math_router.engine.errors import TransportError, UserError
from math_router.engine.trace import Trace
from math_router.evals.budget import Budget
from math_router.evals.datasets import Problem
from math_router.evals.records import Finished, read_at, scan

SolveFn = Callable[[str], Trace]
RecordFn = Callable[[Problem, "Trace | None", "str | None"], dict]

# The same error on this many problems in a row stops the run: the rest would fail alike.
SAME_ERROR_LIMIT = 5


class Workers(Protocol):
    """Told when a worker thread starts and stops taking problems (a batching model counts
    them to know when every live worker is waiting for it)."""

    def join(self) -> None: ...

    def leave(self) -> None: ...


class Tally:
    """Running figures for the progress line: answered, errors, accuracy where graded, spent."""

    def __init__(self, finished: dict[str, Finished]):
        self.latest = {i: (f.error, f.correct) for i, f in finished.items()}
        self.spent_usd: float | None = 0.0  # by this run

    def add(self, record: dict) -> None:
        self.latest[record["id"]] = (record["error"] is not None, record.get("correct"))
        spent = (record.get("spent") or {}).get("cost_usd") if record["error"] is None else 0.0
        self.spent_usd = None if self.spent_usd is None or spent is None else self.spent_usd + spent

    def text(self) -> str:
        errors = sum(error for error, _ in self.latest.values())
        graded = [correct for error, correct in self.latest.values() if not error and correct is not None]
        parts = [f"acc {sum(graded) / len(graded):.1%}"] if graded else []
        if errors:
            parts.append(f"{errors} errors")
        parts.append("spent: unknown price" if self.spent_usd is None else f"${self.spent_usd:.4f} spent")
        return ", ".join(parts)


class SameErrorRun:
    """The longest run of neighbouring problems (in the order given) that ended in the same
    error, through the one that just finished; a problem not finished yet breaks a run."""

    def __init__(self, ids: list[str]):
        self.position = {problem_id: i for i, problem_id in enumerate(ids)}
        self.errors: dict[int, str | None] = {}

    def add(self, problem_id: str, error: str | None) -> int:
        here = self.position.get(problem_id)
        if here is None or error is None:
            if here is not None:
                self.errors[here] = None
            return 0
        self.errors[here] = error
        length = 1
        for step in (-1, 1):
            i = here + step
            while self.errors.get(i, "") == error:
                length += 1
                i += step
        return length


def run(problems: list[Problem], solve: SolveFn, make_record: RecordFn, *, path: Path | None,
        label: str, concurrency: int = 1, progress: bool = True,
        workers: Workers | None = None, status: Callable[[], str] | None = None,
        budget: Budget | None = None) -> Iterator[dict]:
    """Solve every problem without a good record in `path`, yielding each new record once it
    is on disk (`path` None: nothing is written, nothing resumes).

    The same error on `SAME_ERROR_LIMIT` problems in a row, in the input's order, stops the
    run with a UserError, keeping what finished. (In the input's order, not as they finish:
    a Batch API round hands back its scattered failures all at once.) `status` adds a line
    of its own to the progress bar (the Batch API's state). `budget` (evals.budget) may stop
    it from starting problems: it then ends early, without an error, `budget.reason` set.
    """
    finished: dict[str, Finished] = {}
    if path is not None:
        drop_torn_tail(path)
        finished = scan(path)
    todo = [p for p in problems if p.id not in finished or finished[p.id].error]
    tally = Tally(finished)
    bar = _progress(label, len(problems), len(problems) - len(todo), tally) if progress else None
    ticker = _Ticker(bar, tally, status) if bar is not None and status is not None else None
    streak = SameErrorRun([p.id for p in todo])
    sink = path.open("a", encoding="utf-8") if path is not None else None
    try:
        for rec in _solve_all(solve, make_record, todo, concurrency, workers, budget):
            if sink is not None:
                append(sink, rec)
            tally.add(rec)
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(_postfix(tally, status))
            yield rec
            if streak.add(rec["id"], rec["error"]) >= SAME_ERROR_LIMIT:
                raise UserError(f"{label}: the same error on {SAME_ERROR_LIMIT} problems in a row, "
                                f"so the run stopped (finished problems are kept; rerun to "
                                f"retry): {rec['error']}")
    finally:
        if ticker is not None:
            ticker.stop()
        if sink is not None:
            sink.close()
        if bar is not None:
            bar.close()


def run_method(out: Path, method: str, solve: SolveFn, problems: list[Problem],
               concurrency: int = 1, progress: bool = True, workers: Workers | None = None,
               status: Callable[[], str] | None = None, budget: Budget | None = None) -> list[dict]:
    """An eval method over its problems into out/results_<method>.jsonl; returns the latest
    record of each problem, in the problems' order."""
    from math_router.evals.folders import EvalFolder
    from math_router.evals.records import record

    path = EvalFolder(out).results(method)
    outside = set(scan(path)) - {p.id for p in problems}
    if outside:
        raise UserError(f"{path} has records for problems outside this sample")
    for _ in run(problems, solve, lambda p, t, e: record(p, method, t, e), path=path,
                 label=method, concurrency=concurrency, progress=progress, workers=workers,
                 status=status, budget=budget):
        pass
    latest = scan(path)
    ids = [p.id for p in problems if p.id in latest]
    return list(read_at(path, [latest[i].offset for i in ids]))


def _solve_all(solve: SolveFn, make_record: RecordFn, problems: list[Problem], concurrency: int,
               workers: Workers | None, budget: Budget | None = None) -> Iterator[dict]:
    """Yield records as problems finish; stop everything on a systemic failure.

    Each worker thread takes the next problem itself when it finishes one, so a
    batching model (`workers`) sees the same live workers from start to end.
    """
    def attempt(problem: Problem) -> dict:
        try:
            return make_record(problem, solve(problem.question), None)
        except TransportError as e:
            if e.systemic:
                raise
            return make_record(problem, None, str(e))
        except UserError:
            raise  # a setup mistake: the same for every problem
        except Exception as e:  # one problem's failure is recorded, the run goes on
            return make_record(problem, None, f"{type(e).__name__}: {e}")

    pending = iter(problems)
    lock = threading.Lock()
    stop = threading.Event()
    results: queue.Queue = queue.Queue()
    in_flight = [0]

    def worker() -> None:
        try:
            while not stop.is_set():
                with lock:
                    verdict = budget.verdict(in_flight[0]) if budget is not None else "go"
                    problem = next(pending, None) if verdict == "go" else None
                    in_flight[0] += problem is not None
                if verdict == "stop":
                    return  # the budget covers no more: start nothing new
                if verdict == "wait":
                    stop.wait(0.05)  # the first problem's cost is not known yet
                    continue
                if problem is None:
                    return
                try:
                    record = attempt(problem)
                    if budget is not None:
                        budget.add(record)
                    results.put(("record", record))
                except BaseException as e:  # systemic: the run stops
                    results.put(("raise", e))
                    return
                finally:
                    with lock:
                        in_flight[0] -= 1
        finally:
            if workers is not None:
                workers.leave()
            results.put(("done", None))

    count = min(max(1, concurrency), len(problems))
    threads = [threading.Thread(target=worker, name=f"solve-{i}", daemon=True)
               for i in range(count)]
    if workers is not None:  # all of them before any starts: none may think itself alone
        for _ in threads:
            workers.join()
    for thread in threads:
        thread.start()
    done = 0
    try:
        while done < count:
            kind, value = results.get()
            if kind == "done":
                done += 1
            elif kind == "raise":
                raise value
            else:
                yield value
    finally:
        # On a failure or Ctrl-C, start nothing new; problems in flight are not recorded.
        stop.set()


def _postfix(tally: Tally, status: Callable[[], str] | None) -> str:
    extra = status() if status is not None else ""
    return tally.text() + (f"; {extra}" if extra else "")


def _progress(label: str, total: int, initial: int, tally: Tally):
    from tqdm.auto import tqdm  # a widget in notebooks, a bar on terminals

    bar = tqdm(total=total, initial=initial, desc=label, unit="problem", dynamic_ncols=True)
    if initial:
        bar.set_postfix_str(tally.text())
    return bar


class _Ticker:
    """Refreshes the bar's status while no problem finishes (a batch may run for hours)."""

    def __init__(self, bar, tally: Tally, status: Callable[[], str], every: float = 2.0):
        self._stop = threading.Event()

        def tick() -> None:
            while not self._stop.wait(every):
                bar.set_postfix_str(_postfix(tally, status))

        threading.Thread(target=tick, name="progress", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
