"""Problems from GSM8K, MATH-500 (Hugging Face Hub or the offline copies) or a file of any shape.

Each problem has a stable id (GSM8K: its row; MATH-500: its `unique_id`; a
file: its id field, else `<file name>-<row>`), and `--n N --seed S` picks the
same problems for every method. A file of another shape (SVAMP's `Body`,
`Question`, `Answer`; ASDiv's `answer` written "9 (apples)") is read through a
field mapping: `Fields(question=("Body", "Question"), answer="Answer")`.
Answers that are numbers are graded as numbers; others, as MATH-500's are,
with math-verify.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import attrs

from math_router.engine import hub
from math_router.engine.answers import to_number
from math_router.engine.errors import UserError

HUB = {
    "gsm8k": ("openai/gsm8k", "main", "test"),
    "gsm8k-train": ("openai/gsm8k", "main", "train"),
    "math500": ("HuggingFaceH4/MATH-500", None, "test"),
}
SHAPE = {"gsm8k": "question, answer", "gsm8k-train": "question, answer",
         "math500": "problem, answer"}
# Offline copies shipped with the project (data/README.md): the same rows and ids as the Hub's.
LOCAL_COPIES = {"gsm8k": "data/gsm8k/test.jsonl", "gsm8k-train": "data/gsm8k/train.jsonl",
                "math500": "data/math500/test.jsonl"}
ROOT = Path(__file__).resolve().parents[2]
ID_FIELDS = ("id", "unique_id", "ID", "idx")


@attrs.frozen
class Problem:
    id: str
    question: str
    gold: str | None  # GSM8K: the number after ####; MATH-500: LaTeX; a file: as written; None: ungraded
    dataset: str  # how to grade it: "gsm8k" (a number) or "math500" (math-verify)
    meta: dict = attrs.field(factory=dict)  # MATH-500: subject and level
    source: str = ""  # where it came from: gsm8k, math500, or the file's name
    # A row of a file: the row as read, and the field its id came from (answers.csv gives the
    # user's columns back, under their names).
    row: dict = attrs.field(factory=dict, eq=False, repr=False)
    id_field: str | None = None


@attrs.frozen
class Fields:
    """Which fields of a row hold the question (several are joined with a space), the answer
    and the id. Empty: the GSM8K or MATH-500 shape, recognised by its field names."""

    question: tuple[str, ...] = ()
    answer: str | None = None
    id: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.question or self.answer or self.id)


# The eval defaults, written once (the CLI and the Python API read them): problems sampled per
# eval and per calibration, and the seed that picks them.
DEFAULT_N = 150
CALIBRATION_N = 50
DEFAULT_SEED = 123


def load_problems(spec: str, n: int | None = None, seed: int = DEFAULT_SEED,
                  fields: Fields = Fields(), notify=None) -> list[Problem]:
    """`n` problems (all when None) of the data set `spec`, sampled with `seed`."""
    problems = load_all(spec, fields, notify)
    if n is None:
        return problems
    if n < 1 or n > len(problems):
        raise UserError(f"--n must be between 1 and {len(problems)} for {spec} (or all)")
    picked = random.Random(seed).sample(range(len(problems)), n)
    return [problems[i] for i in picked]


def load_all(spec: str, fields: Fields = Fields(), notify=None) -> list[Problem]:
    problems = _load_all(spec, fields, notify)
    check_unique_ids(problems, spec)
    return problems


def load_inputs(spec: str, fields: Fields = Fields(), stdin=None) -> list[Problem]:
    """A user's own problems (`solve --input`): a file, or `-` for JSONL on `stdin`.

    Rows need no answer; a row that has one (the answer field, `answer` unless
    named) is graded too. The question field is `question` or `problem` unless named.
    """
    if spec == "-":
        import sys

        path, rows = Path("stdin"), _jsonl_lines((stdin or sys.stdin), "stdin")
        if not rows:
            raise UserError("stdin holds no problems")
    else:
        path = Path(spec).expanduser()
        rows = _file_rows(path, "--input wants a file (.jsonl, .json, .csv, .parquet) or - for "
                                f"JSONL on stdin; there is no file {spec}")
    if not fields.question and not any(f in rows[0] for f in ("question", "problem")):
        raise UserError(f"{path}: its rows have the fields {', '.join(map(str, rows[0]))}; say "
                        "which holds the question with --question-field")
    problems = [mapped_problem(row, i, fields, path, need_answer=False) for i, row in enumerate(rows)]
    check_unique_ids(problems, spec)
    return problems


def rows_to_problems(rows, fields: Fields = Fields()) -> list[Problem]:
    """A user's own problems given in code: dicts (read as `load_inputs` reads a file's rows)
    or question strings (ids rows-0, rows-1, ...)."""
    rows = [{"question": r} if isinstance(r, str) else r for r in rows]
    if not rows:
        raise UserError("no problems were given")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise UserError(f"row {bad + 1} is neither a dict nor a question string")
    problems = [mapped_problem(row, i, fields, Path("rows"), need_answer=False)
                for i, row in enumerate(rows)]
    check_unique_ids(problems, "rows")
    return problems


def check_unique_ids(problems: list[Problem], spec: str) -> None:
    """Refuse two rows with one id (`1` and `"1"` are one id): their results would replace
    each other."""
    seen: dict[str, int] = {}
    for index, problem in enumerate(problems):
        if problem.id in seen:
            raise UserError(f"{spec}: rows {seen[problem.id] + 1} and {index + 1} have the same id "
                            f"{problem.id!r}; ids must be unique (--id-field names the field)")
        seen[problem.id] = index


def _load_all(spec: str, fields: Fields, notify) -> list[Problem]:
    if spec in HUB and not fields.given:
        try:
            rows = _hub_rows(spec)
        except UserError:
            copy = ROOT / LOCAL_COPIES[spec]
            if not copy.is_file():
                raise
            # A clone carries the same rows: use them, and say so.
            (notify or (lambda _: None))(f"{HUB[spec][0]} cannot be loaded from the Hub: reading "
                                         f"the offline copy {copy} (the same rows and ids)")
            rows = read_rows(copy)
        return [to_problem(row, i, spec) for i, row in enumerate(rows)]
    path = Path(spec).expanduser()
    rows = _file_rows(path, f"--dataset wants {', '.join(HUB)}, or a file (.jsonl, .json, .csv, "
                            f".parquet); {spec} is neither")
    known = _shipped_copy(path)
    if known and not fields.given:
        return [to_problem(row, i, known) for i, row in enumerate(rows)]
    if not fields.given:
        shape = _shape_of(rows[0])
        if shape is None:
            raise UserError(f"{path}: its rows have the fields {', '.join(map(str, rows[0]))}; say "
                            "which hold the question and the answer with --question-field "
                            "(repeatable) and --answer-field")
        # MATH-shaped answers keep math-verify, whatever they look like.
        grader = "math500" if shape == "math500" else None
        fields = Fields(("question",) if shape == "gsm8k" else ("problem",), "answer")
        return [mapped_problem(row, i, fields, path, grader) for i, row in enumerate(rows)]
    return [mapped_problem(row, i, fields, path) for i, row in enumerate(rows)]


def _file_rows(path: Path, missing: str) -> list[dict]:
    """The rows of a file that must hold some; `missing` is the line when there is no file."""
    if not path.is_file():
        raise UserError(missing)
    rows = read_rows(path)
    if not rows:
        raise UserError(f"{path} holds no problems")
    return rows


def _shape_of(row: dict) -> str | None:
    if "problem" in row and "answer" in row:
        return "math500"
    if "question" in row and "answer" in row:
        return "gsm8k"
    return None


def _shipped_copy(path: Path) -> str | None:
    """The name of the data set this file is our offline copy of, if it is one."""
    for name, copy in LOCAL_COPIES.items():
        target = ROOT / copy
        if target.is_file() and target.resolve() == path.resolve():
            return name
    return None


def to_problem(row: dict, index: int, name: str) -> Problem:
    """A row of GSM8K (test or train) or MATH-500, with the ids the Hub's rows have."""
    if name.startswith("gsm8k"):
        from math_router.evals.grading import gsm8k_gold

        return Problem(f"{name}-{index}", _text(row, "question", index, name),
                       gsm8k_gold(_text(row, "answer", index, name)), "gsm8k", source=name)
    return Problem(row.get("unique_id") or f"math500-{index}", _text(row, "problem", index, name),
                   _text(row, "answer", index, name), "math500",
                   {k: row[k] for k in ("subject", "level") if k in row}, source=name)


def mapped_problem(row: dict, index: int, fields: Fields, path: Path,
                   grader: str | None = None, need_answer: bool = True) -> Problem:
    """A row of any shape, read through `fields`.

    Without `need_answer` (a user's own problems), a row without the default answer
    field is ungraded (gold None); a field the user named must be there.
    """
    where = f"{path.name}:{index + 1}"
    if not row:
        raise UserError(f"{where} is an empty row")
    question_fields = fields.question or (("question",) if "question" in row else ("problem",))
    answer_field = fields.answer or "answer"
    wanted = (*question_fields, answer_field) if need_answer or fields.answer else question_fields
    missing = [f for f in wanted if f not in row]
    if missing:
        raise UserError(f"{where} has no field {', '.join(missing)} (its fields: "
                        f"{', '.join(map(str, row))})")
    for name in (*question_fields, answer_field):
        if isinstance(row.get(name), (list, dict)):
            raise UserError(f"{where}: the field {name} holds a {type(row[name]).__name__}, "
                            "not text")
    question = " ".join(str(row[f]).strip() for f in question_fields
                        if row[f] is not None and str(row[f]).strip())
    raw = row.get(answer_field)
    gold = None if raw is None else str(raw).strip()
    if gold and "####" in gold:  # a GSM8K-style worked answer
        gold = gold.split("####")[-1].strip()
    if not question:
        raise UserError(f"{where} has an empty question")
    if not gold:
        if need_answer or fields.answer:
            raise UserError(f"{where} has an empty answer")
        gold = None
    id_field = fields.id or next((f for f in ID_FIELDS if f in row), None)
    if fields.id and fields.id not in row:
        raise UserError(f"{where} has no field {fields.id}")
    problem_id = str(row[id_field]) if id_field else f"{path.stem}-{index}"
    # A gold that is a number ("18", "9 (apples)", 5.0) is graded as one; others with math-verify.
    grader = grader or ("gsm8k" if gold is None or to_number(gold) is not None else "math500")
    meta = {k: row[k] for k in ("subject", "level", "type") if k in row}
    return Problem(problem_id, question, gold, grader, meta, source=path.stem, row=row,
                   id_field=id_field)


def _text(row: dict, field: str, index: int, name: str) -> str:
    value = row.get(field)
    if value is None or not str(value).strip():
        raise UserError(f"{name} row {index + 1} has an empty or missing {field}")
    return str(value)


def read_rows(path: Path) -> list[dict]:
    """Rows of a JSONL, JSON (a list of objects), CSV or Parquet file."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as f:
                return list(csv.DictReader(f))
        if suffix == ".parquet":
            return _parquet_rows(path)
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM is taken
            if isinstance(data, list) and all(isinstance(r, dict) for r in data):
                return data
            if not isinstance(data, dict):
                raise UserError(f"{path} is not a list of JSON objects")
            if data and all(isinstance(v, list) for v in data.values()):
                raise UserError(f"{path} holds columns (an object of lists: "
                                f"{', '.join(map(str, data))}); write one object per row, as a "
                                "JSON list or JSONL")
            return [data]
        with path.open(encoding="utf-8-sig") as f:  # a BOM is taken, as in CSV
            return _jsonl_lines(f, str(path))
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno} is not JSON") from None


def _jsonl_lines(lines, name: str) -> list[dict]:
    rows = []
    try:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise UserError(f"{name}:{number} is not a JSON object") from None
                if not isinstance(row, dict):
                    raise UserError(f"{name}:{number} is not a JSON object")
                rows.append(row)
    except UnicodeDecodeError as e:
        raise UserError(f"cannot read {name}: {e}") from None
    return rows


def _parquet_rows(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet
    except ImportError:
        raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        return pyarrow.parquet.read_table(path).to_pylist()
    except Exception as e:  # pyarrow's errors for a file that is not Parquet vary by version
        raise UserError(f"cannot read {path} as Parquet: {str(e).splitlines()[0]}") from None


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
        copy = ROOT / LOCAL_COPIES[name]
        hint = f" (this project has one: {copy})" if copy.is_file() else ""
        raise UserError(f"cannot load {repo} ({why}): pass --dataset PATH.jsonl, a local copy "
                        f"with the fields {SHAPE[name]}{hint}") from None
    finally:
        datasets.config.HF_HUB_OFFLINE = was
        datasets.logging.set_verbosity(verbosity)
