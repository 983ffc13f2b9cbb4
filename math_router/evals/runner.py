"""Run a method over problems: a pool of workers, a progress bar, append-only results, resume.

Each finished record is appended to `results_<method>.jsonl` and flushed to
disk at once, so a killed run keeps every finished record and a rerun into the
same folder skips them; a problem that ended in an error is tried again and its
new record appended. A record is never rewritten.
"""

from __future__ import annotations

import csv
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable

from math_router.engine.errors import TransportError, UserError
from math_router.engine.trace import Trace
from math_router.evals.datasets import Problem
from math_router.evals.records import read_records, record

SolveFn = Callable[[str], Trace]


def results_path(out: Path, method: str) -> Path:
    return out / f"results_{method}.jsonl"


def check_rerun(out: Path, problems: list[Problem], settings: dict[str, dict]) -> None:
    """Refuse a run into `out` that would mix problems or settings; reads only."""
    samples = out / "samples.csv"
    if samples.exists():
        with samples.open(newline="", encoding="utf-8") as f:
            saved = [(row.get("id"), row.get("question")) for row in csv.DictReader(f)]
        if saved != [(p.id, p.question) for p in problems]:
            raise UserError(f"{out} holds results for other problems (see its samples.csv): "
                            "pass the same --dataset, --n and --seed, or a fresh --out")
    info_path = out / "run.json"
    info = read_json(info_path) if info_path.exists() else {}
    for method, wanted in settings.items():
        before = info.get("methods", {}).get(method, {}).get("settings")
        if before is not None and results_path(out, method).exists() and before != wanted:
            changed = sorted(k for k in set(before) | set(wanted) if before.get(k) != wanted.get(k))
            raise UserError(f"{results_path(out, method)} was made with other settings "
                            f"({', '.join(changed)}): use the same flags to resume, or a fresh --out")


def prepare_run(out: Path, problems: list[Problem], run_info: dict,
                settings: dict[str, dict]) -> None:
    """Create the folder (samples.csv, run.json), or check that a rerun matches it.

    Everything is checked before anything is written, so a refused rerun
    changes nothing on disk. `settings` holds, per method, what shapes its
    results; a method whose results file exists must match what made it.
    """
    check_rerun(out, problems, settings)
    samples = out / "samples.csv"
    info_path = out / "run.json"
    info = read_json(info_path) if info_path.exists() else {}
    out.mkdir(parents=True, exist_ok=True)
    if not samples.exists():
        with samples.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "question", "gold"])
            writer.writerows([p.id, p.question, p.gold] for p in problems)
    info.setdefault("created", run_info.get("started"))
    info.update({k: v for k, v in run_info.items() if k not in ("methods", "environment")})
    methods = info.setdefault("methods", {})
    for method, wanted in settings.items():
        entry = methods.setdefault(method, {})
        entry["settings"] = wanted
        # What it ran on when it started; a resume keeps the first and notes the latest.
        entry.setdefault("environment", run_info.get("environment", {}))
        entry["last_environment"] = run_info.get("environment", {})
    write_json_atomic(info_path, info)


def record_served_models(out: Path, method: str, models: dict[str, str]) -> None:
    """Add the model names the servers reported (they may differ from the names asked for)."""
    if not models:
        return
    info_path = out / "run.json"
    info = read_json(info_path)
    entry = info.setdefault("methods", {}).setdefault(method, {})
    if entry.get("served_models") != models:
        entry["served_models"] = models
        write_json_atomic(info_path, info)


def read_json(path: Path) -> dict:
    """A JSON file of ours; a damaged one is named in one line, never a traceback."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is damaged (not JSON at line {e.lineno}): move it aside or use "
                        "a fresh --out") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is damaged (not a JSON object)")
    return data


def drop_torn_tail(path: Path) -> None:
    """Cut a last line that a kill left without its newline: it is not a record.

    Only the writer does this, just before it appends; readers never modify a file.
    """
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as f:
            f.truncate(data.rfind(b"\n") + 1)


# The same error on this many problems in a row stops the run: the rest would fail alike.
SAME_ERROR_LIMIT = 5


def run_method(out: Path, method: str, solve: SolveFn, problems: list[Problem],
               concurrency: int = 1, progress: bool = True) -> list[dict]:
    """Solve every problem without a good record; returns this method's latest records.

    A problem whose record is an error is tried again: its new record is
    appended, and readers take the latest record of each problem.
    """
    path = results_path(out, method)
    drop_torn_tail(path)
    latest = latest_records(read_records(path))
    wanted = {p.id for p in problems}
    if set(latest) - wanted:
        raise UserError(f"{path} has records for problems outside this sample")
    todo = [p for p in problems if p.id not in latest or latest[p.id]["error"] is not None]
    bar = _progress(method, len(problems), len(problems) - len(todo), list(latest.values())) \
        if progress else None
    streak: list[str] = []
    try:
        with path.open("a", encoding="utf-8") as sink:
            for rec in _solve_all(method, solve, todo, concurrency):
                sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                latest[rec["id"]] = rec
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(_accuracy_text(list(latest.values())))
                if rec["error"] is None:
                    streak = []
                elif streak and streak[-1] == rec["error"]:
                    streak.append(rec["error"])
                else:
                    streak = [rec["error"]]
                if len(streak) >= SAME_ERROR_LIMIT:
                    raise UserError(f"{method}: the same error on {SAME_ERROR_LIMIT} problems in a row, "
                                    f"so the run stopped (finished problems are kept; rerun to "
                                    f"retry): {streak[-1]}")
    finally:
        if bar is not None:
            bar.close()
    return [latest[p.id] for p in problems if p.id in latest]


def latest_records(records: list[dict]) -> dict[str, dict]:
    """The last record of each problem, by id (a retried error is followed by its new record)."""
    return {r["id"]: r for r in records}


def _solve_all(method: str, solve: SolveFn, problems: list[Problem], concurrency: int):
    """Yield records as problems finish; stop everything on a systemic failure."""
    def attempt(problem: Problem) -> dict:
        try:
            return record(problem, method, solve(problem.question))
        except TransportError as e:
            if e.systemic:
                raise
            return record(problem, method, None, error=str(e))
        except UserError:
            raise  # a setup mistake: the same for every problem
        except Exception as e:  # one problem's failure is recorded, the run goes on
            return record(problem, method, None, error=f"{type(e).__name__}: {e}")

    pending = iter(problems)
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency))
    running = set()
    clean = False
    try:
        for problem in pending:
            running.add(pool.submit(attempt, problem))
            if len(running) >= concurrency:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
                nxt = next(pending, None)
                if nxt is not None:
                    running.add(pool.submit(attempt, nxt))
        clean = True
    finally:
        # On a failure or Ctrl-C, start nothing new; problems in flight are not recorded.
        pool.shutdown(wait=clean, cancel_futures=True)


def _progress(method: str, total: int, initial: int, records: list[dict]):
    from tqdm.auto import tqdm  # a widget in notebooks, a bar on terminals

    bar = tqdm(total=total, initial=initial, desc=method, unit="problem", dynamic_ncols=True)
    if records:
        bar.set_postfix_str(_accuracy_text(records))
    return bar


def _accuracy_text(records: list[dict]) -> str:
    answered = [r for r in records if r["error"] is None]
    errors = len(records) - len(answered)
    text = f"acc {sum(bool(r['correct']) for r in answered) / len(answered):.1%}" if answered else "acc -"
    return text + (f", {errors} errors" if errors else "")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temporary file, so a kill never leaves half a JSON file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
