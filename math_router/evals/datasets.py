"""GSM8K and MATH-500: from the Hugging Face Hub through `datasets`, or a local JSONL.

Each problem has a stable id (GSM8K: its row in the test split; MATH-500: its
`unique_id`), and `--n N --seed S` picks the same problems for every method.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import attrs

from math_router.engine import hub
from math_router.engine.errors import UserError

HUB = {
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
}
FIELDS = {"gsm8k": "question, answer", "math500": "problem, answer"}
# Offline copies shipped with the project (data/README.md).
LOCAL_COPIES = {"gsm8k": "data/gsm8k/test.jsonl", "math500": "data/math500/test.jsonl"}


@attrs.frozen
class Problem:
    id: str
    question: str
    gold: str  # GSM8K: the number after ####; MATH-500: the LaTeX answer
    dataset: str  # "gsm8k" | "math500": how to grade it
    meta: dict = attrs.field(factory=dict)


def load_problems(spec: str, n: int | None = None, seed: int = 123) -> list[Problem]:
    """`n` problems (all when None) of the data set `spec`, sampled with `seed`."""
    problems = load_all(spec)
    if n is None:
        return problems
    if n < 1 or n > len(problems):
        raise UserError(f"--n must be between 1 and {len(problems)} for {spec}")
    picked = random.Random(seed).sample(range(len(problems)), n)
    return [problems[i] for i in picked]


def load_all(spec: str) -> list[Problem]:
    if spec in HUB:
        return [to_problem(row, i, spec) for i, row in enumerate(_hub_rows(spec))]
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"--dataset wants gsm8k, math500 or a JSONL file; {spec} is neither")
    rows = _jsonl_rows(path)
    if not rows:
        raise UserError(f"{path} holds no problems")
    kind = kind_of(rows[0], path)
    return [to_problem(row, i, kind) for i, row in enumerate(rows)]


def kind_of(row: dict, path: Path) -> str:
    if "problem" in row and "answer" in row:
        return "math500"
    if "question" in row and "answer" in row:
        return "gsm8k"
    raise UserError(f"{path}: rows need the fields question, answer (GSM8K) "
                    f"or problem, answer (MATH-500)")


def to_problem(row: dict, index: int, kind: str) -> Problem:
    if kind == "gsm8k":
        from math_router.evals.grading import gsm8k_gold

        return Problem(f"gsm8k-{index}", row["question"], gsm8k_gold(row["answer"]), "gsm8k")
    return Problem(row.get("unique_id") or f"math500-{index}", row["problem"], row["answer"],
                   "math500", {k: row[k] for k in ("subject", "level") if k in row})


def _jsonl_rows(path: Path) -> list[dict]:
    rows = []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        raise UserError(f"{path}:{number} is not a JSON object") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    return rows


def _hub_rows(name: str) -> list[dict]:
    """The rows of a Hub data set; the cached copy when the Hub cannot be reached."""
    repo, config, split = HUB[name]
    try:
        import datasets
    except ImportError:
        raise UserError("the datasets package is missing: pip install datasets") from None
    offline = datasets.config.HF_HUB_OFFLINE or not hub.reachable()
    was = datasets.config.HF_HUB_OFFLINE
    verbosity = datasets.logging.get_verbosity()
    datasets.config.HF_HUB_OFFLINE = offline  # without a network, go straight to the cache
    datasets.logging.set_verbosity_error()
    try:
        return list(datasets.load_dataset(repo, config, split=split))
    except Exception:
        why = "the Hub is unreachable and it is not cached" if offline else "the Hub refused"
        copy = Path(__file__).resolve().parents[2] / LOCAL_COPIES[name]
        hint = f" (this project has one: {copy})" if copy.is_file() else ""
        raise UserError(f"cannot load {repo} ({why}): pass --dataset PATH.jsonl, a local copy "
                        f"with the fields {FIELDS[name]}{hint}") from None
    finally:
        datasets.config.HF_HUB_OFFLINE = was
        datasets.logging.set_verbosity(verbosity)
