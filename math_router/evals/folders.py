"""Results folders: what an eval and a `solve --input` job write, and the checks that keep a
rerun from mixing other problems or settings into them.

    EvalFolder    samples.csv, run.json, results_<method>.jsonl, comparison.json
    AnswerFolder  run.json, answers.jsonl, answers.csv, summary.json

Both refuse, before anything is written, a rerun that would mix: other problems
(an eval's samples.csv; the questions an answers.jsonl recorded) or other
settings (run.json). A refused rerun changes nothing on disk.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
import time
from pathlib import Path

from math_router.engine.appendlog import json_line
from math_router.engine.errors import UserError
from math_router.evals.datasets import Problem


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


def write_json_atomic(path: Path, data: dict) -> None:
    """Write via a temporary file, so a kill never leaves half a JSON file."""
    write_text_atomic(path, json_line(data, indent=2))


def write_text_atomic(path: Path, text: str) -> None:
    """`text` into `path` via a temporary file beside it; a disk that is full or a folder that
    is read-only ends in one line, and leaves neither the temporary file nor half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8", errors="backslashreplace")
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None


@contextlib.contextmanager
def one_writer(out: Path):
    """Hold OUT/.lock while a job writes the folder: a second run into the same folder says who
    holds it and stops before it builds a model or pays for a call. The kernel drops the lock
    when the holder ends, however it ends (kill -9 included), so a stale lock never stays.
    A folder left with nothing but the lock in it (a run refused at its first request) is
    removed again: an empty folder is no result to keep."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        path = out / ".lock"
        handle = path.open("a+", encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot write to {out}: {e.strerror or e}") from None
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(f"{out} is being written by another run ({holder}): wait for it to "
                            f"finish, or pass another --out") from None

        def claim() -> None:
            """Name this run as the holder (once the folder's checks passed: a run refused by
            them changes nothing on disk)."""
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, since {now()}")
            handle.flush()

        yield claim
    finally:
        with contextlib.suppress(OSError):  # while still holding the lock
            if [p.name for p in out.iterdir()] == [".lock"]:
                path.unlink()
                out.rmdir()
        handle.close()


def as_written(text: str) -> str:
    """`text` as samples.csv holds it: what UTF-8 cannot hold (a lone surrogate) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def ensure_writable(out: Path) -> None:
    """Make `out` (or find it writable) before any model is loaded: one line if it cannot be."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"cannot write into {out}: {e.strerror or e}") from None


def _changed(before: dict, wanted: dict) -> list[str]:
    return sorted(k for k in set(before) | set(wanted) if before.get(k) != wanted.get(k))


class EvalFolder:
    """An eval's folder: the problems (samples.csv), how each method ran (run.json), its results."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.samples = self.out / "samples.csv"
        self.run_json = self.out / "run.json"

    def results(self, method: str) -> Path:
        return self.out / f"results_{method}.jsonl"

    def latency(self, method: str) -> Path:
        """--latency-sample: the method's answers one at a time, uncached (seconds alone)."""
        return self.out / f"latency_{method}.jsonl"

    def info(self) -> dict:
        return read_json(self.run_json) if self.run_json.exists() else {}

    def check(self, problems: list[Problem], settings: dict[str, dict]) -> None:
        """Refuse a run into this folder that would mix problems or settings; reads only."""
        if self.samples.exists():
            saved = [(row.get("id"), row.get("question")) for row in read_samples(self.samples)]
            if saved != [(p.id, as_written(p.question)) for p in problems]:
                raise UserError(f"{self.out} holds results for other problems (see its samples.csv): "
                                "pass the same --dataset, --n and --seed, or a fresh --out")
        info = self.info()
        for method, wanted in settings.items():
            before = info.get("methods", {}).get(method, {}).get("settings")
            if before is not None and self.results(method).exists() and before != wanted:
                raise UserError(f"{self.results(method)} was made with other settings "
                                f"({', '.join(_changed(before, wanted))}): use the same flags to "
                                "resume, or a fresh --out")

    def prepare(self, problems: list[Problem], run_info: dict, settings: dict[str, dict]) -> None:
        """Create the folder (samples.csv, run.json), or check that a rerun matches it.

        `settings` holds, per method, what shapes its results; a method whose results
        file exists must match what made it.
        """
        self.check(problems, settings)
        info = self.info()
        self.out.mkdir(parents=True, exist_ok=True)
        if not self.samples.exists():
            with self.samples.open("w", newline="", encoding="utf-8", errors="backslashreplace") as f:
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
        write_json_atomic(self.run_json, info)

    def record_served_models(self, method: str, models: dict[str, str]) -> None:
        """Add the model names the servers reported (they may differ from the names asked for)."""
        if not models:
            return
        info = read_json(self.run_json)
        entry = info.setdefault("methods", {}).setdefault(method, {})
        if entry.get("served_models") != models:
            entry["served_models"] = models
            write_json_atomic(self.run_json, info)

    def record_elapsed(self, method: str, seconds: float, concurrency: int) -> None:
        """Add the wall-clock seconds this run spent on `method` (a resumed run adds its own) and
        the concurrency its per-problem seconds were measured at."""
        info = read_json(self.run_json)
        entry = info.setdefault("methods", {}).setdefault(method, {})
        entry["elapsed_seconds"] = round(entry.get("elapsed_seconds", 0.0) + seconds, 3)
        entry["concurrency"] = concurrency
        write_json_atomic(self.run_json, info)

    def sample_size(self) -> int | None:
        return sum(1 for _ in read_samples(self.samples)) if self.samples.exists() else None


def read_samples(path: Path):
    """The rows of a samples.csv; a question longer than csv's default field limit is ours too."""
    csv.field_size_limit(sys.maxsize)
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


class AnswerFolder:
    """A `solve --input` job's folder: one method's answers to a user's own problems."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.answers = self.out / "answers.jsonl"
        self.csv = self.out / "answers.csv"
        self.summary = self.out / "summary.json"
        self.run_json = self.out / "run.json"

    def info(self) -> dict:
        return read_json(self.run_json) if self.run_json.exists() else {}

    def check(self, problems: list[Problem], settings: dict) -> None:
        """Refuse other settings, and answers to problems the input does not hold (an id
        missing, or the same id with another question); reads only."""
        from math_router.evals.records import scan

        self.check_method(settings["method"])
        before = self.info().get("settings")
        if before is not None and self.answers.exists() and before != settings:
            raise UserError(f"{self.answers} was made with other settings "
                            f"({', '.join(_changed(before, settings))}): use the same flags to "
                            "resume, or a fresh --out")
        questions = {p.id: p.question for p in problems}
        done = scan(self.answers)
        changed = next((i for i, d in done.items() if i in questions and d.question is not None
                        and d.question != questions[i]), None)
        if changed is not None:
            raise UserError(f"{self.answers} answered another question under the id "
                            f"{changed!r}: pass the same --input, or a fresh --out")
        outside = next((i for i in done if i not in questions), None)
        if outside is not None:
            raise UserError(f"{self.answers} holds answers to problems this input does not "
                            f"have (id {outside!r}): pass the same --input, or a fresh --out")

    def check_method(self, method: str) -> None:
        """One folder holds one method's answers (checked before any model is built)."""
        before = self.info().get("settings") or {}
        if self.answers.exists() and before.get("method") not in (None, method):
            raise UserError(f"{self.answers} holds {before['method']} answers, not {method} "
                            "ones: use a fresh --out for another method")

    def prepare(self, problems: list[Problem], run_info: dict, settings: dict) -> None:
        self.check(problems, settings)
        info = self.info()
        self.out.mkdir(parents=True, exist_ok=True)
        info.setdefault("created", run_info.get("started"))
        info.setdefault("environment", run_info.get("environment", {}))
        info.update({k: v for k, v in run_info.items() if k != "environment"})
        info["last_environment"] = run_info.get("environment", {})
        info["settings"] = settings
        write_json_atomic(self.run_json, info)
