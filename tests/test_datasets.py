"""Data sets of any shape: field mappings, ids and folder names from the file, CSV and Parquet."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.errors import UserError
from math_router.evals.datasets import Fields, load_problems
from math_router.evals.grading import is_correct
from math_router.testing import ChatServer, completion, user_question

SVAMP = [{"ID": "chal-1", "Body": "Each pack has 3 pens.", "Question": "How many pens in 4 packs?",
          "Answer": 12.0, "Type": "Multiplication"},
         {"ID": "chal-2", "Body": "Tom had 9 apples and ate 2.", "Question": "How many are left?",
          "Answer": 7.0, "Type": "Subtraction"}]
ASDIV = [{"body": "A shelf holds 5 books.", "question": "How many on 2 shelves?",
          "answer": "10 (books)"}]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_svamp_fields_are_joined_and_ids_come_from_the_file(tmp_path):
    problems = load_problems(write_jsonl(tmp_path / "svamp.jsonl", SVAMP), None,
                             fields=Fields(("Body", "Question"), "Answer", "ID"))
    assert [p.id for p in problems] == ["chal-1", "chal-2"]
    assert problems[0].question == "Each pack has 3 pens. How many pens in 4 packs?"
    assert problems[0].dataset == "gsm8k" and is_correct("\\boxed{12}", problems[0].gold)


def test_asdiv_answers_with_units_grade_as_numbers(tmp_path):
    [problem] = load_problems(write_jsonl(tmp_path / "asdiv.jsonl", ASDIV), None,
                              fields=Fields(("body", "question")))
    assert problem.id == "asdiv-0" and problem.source == "asdiv"
    assert is_correct("So \\boxed{10}.", problem.gold) and not is_correct("\\boxed{9}", problem.gold)


def test_csv_and_parquet_files_are_read(tmp_path):
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["q", "a"])
        writer.writeheader()
        writer.writerow({"q": "What is 2+2?", "a": "4"})
    [problem] = load_problems(str(path), None, fields=Fields(("q",), "a"))
    assert problem.question == "What is 2+2?" and problem.gold == "4"
    import datasets

    parquet = tmp_path / "mine.parquet"
    datasets.Dataset.from_list([{"problem": "Simplify $\\frac{2}{4}$.", "answer": "\\frac{1}{2}"}]
                               ).to_parquet(str(parquet))
    [latex] = load_problems(str(parquet), None)
    assert latex.dataset == "math500" and is_correct("\\boxed{0.5}", latex.gold, latex.dataset)


def test_a_file_of_another_shape_without_a_mapping_says_which_flags(tmp_path):
    with pytest.raises(UserError, match="--question-field"):
        load_problems(write_jsonl(tmp_path / "svamp.jsonl", SVAMP), None)
    with pytest.raises(UserError, match="has no field Nope"):
        load_problems(write_jsonl(tmp_path / "s.jsonl", SVAMP), None, fields=Fields(("Nope",), "Answer"))


def test_eval_on_svamp_names_the_folder_after_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = write_jsonl(tmp_path / "svamp.jsonl", SVAMP)
    answers = {"Each pack has 3 pens. How many pens in 4 packs?": 12,
               "Tom had 9 apples and ate 2. How many are left?": 7}
    with ChatServer(lambda r: completion(f"\\boxed{{{answers[user_question(r)]}}}")) as orch:
        result = CliRunner().invoke(cli, [
            "eval", "--method", "llm", "--dataset", data, "--question-field", "Body",
            "--question-field", "Question", "--answer-field", "Answer", "--id-field", "ID",
            "--n", "all", "--base-url", orch.url, "--no-progress"], env={"OPENAI_API_KEY": "sk-t"},
            catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [folder] = list((tmp_path / "results").iterdir())
    assert folder.name == "svamp_llm_nall_seed123"  # named by the run: the same command resumes
    comparison = json.loads((folder / "comparison.json").read_text())["methods"]["llm"]
    assert comparison["accuracy"] == 1.0 and comparison["n"] == 2
