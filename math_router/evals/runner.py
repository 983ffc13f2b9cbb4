"""Run a method over problems: a pool of workers, a progress bar, append-only results, resume.

Each finished record is appended to `results_<method>.jsonl` and flushed to
disk at once, so a killed run keeps every finished record and a rerun into the
same folder skips them. A record is never rewritten.
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


def prepare_folder(out: Path, problems: list[Problem], run_info: dict) -> None:
    """Create the folder with samples.csv and run.json, or check that a rerun matches them."""
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.csv"
    info_path = out / "run.json"
    if samples.exists():
        with samples.open(newline="", encoding="utf-8") as f:
            saved = [(row["id"], row["question"]) for row in csv.DictReader(f)]
        if saved != [(p.id, p.question) for p in problems]:
            raise UserError(f"{out} holds results for other problems (see its samples.csv): "
                            "pass the same --dataset, --n and --seed, or a fresh --out")
    else:
        with samples.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["id", "question", "gold"])
            writer.writerows([p.id, p.question, p.gold] for p in problems)
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info.setdefault("created", run_info.get("started"))
    info.update({k: v for k, v in run_info.items() if k != "methods"})
    info.setdefault("methods", {})
    write_json_atomic(info_path, info)


def check_method_settings(out: Path, method: str, settings: dict) -> None:
    """Refuse to mix results of different models or flags in one results file."""
    info_path = out / "run.json"
    info = json.loads(info_path.read_text())
    before = info["methods"].get(method)
    if before is not None and results_path(out, method).exists() and before != settings:
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        raise UserError(f"{results_path(out, method)} was made with other settings "
                        f"({', '.join(changed)}): use the same flags to resume, or a fresh --out")
    info["methods"][method] = settings
    write_json_atomic(info_path, info)


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


def run_method(out: Path, method: str, solve: SolveFn, problems: list[Problem],
               concurrency: int = 1, progress: bool = True) -> list[dict]:
    """Solve every problem not yet recorded; returns all records of this method."""
    path = results_path(out, method)
    drop_torn_tail(path)
    records = read_records(path)
    wanted = {p.id for p in problems}
    done = {r["id"] for r in records}
    if done - wanted:
        raise UserError(f"{path} has records for problems outside this sample")
    todo = [p for p in problems if p.id not in done]
    bar = _progress(method, len(problems), len(done), records) if progress else None
    try:
        with path.open("a", encoding="utf-8") as sink:
            for rec in _solve_all(method, solve, todo, concurrency):
                sink.write(json.dumps(rec, ensure_ascii=False) + "\n")
                sink.flush()
                os.fsync(sink.fileno())
                records.append(rec)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(_accuracy_text(records))
    finally:
        if bar is not None:
            bar.close()
    return records


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
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, desc=method, unit="problem", dynamic_ncols=True)
    if records:
        bar.set_postfix_str(_accuracy_text(records))
    return bar


def _accuracy_text(records: list[dict]) -> str:
    correct = sum(bool(r["correct"]) for r in records)
    errors = sum(r["error"] is not None for r in records)
    text = f"acc {correct / len(records):.1%}"
    return text + (f", {errors} errors" if errors else "")


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temporary file, so a kill never leaves half a JSON file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
