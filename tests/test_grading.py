"""Answer extraction and grading: hand-written cases and the GSM8K authors' labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from math_router.evals.grading import extract_answer, is_correct, normalize

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("text, expected", [
    ("so she makes \\boxed{18} dollars", "18"),
    ("first \\boxed{12}, but wait, that is wrong: \\boxed{18}", "18"),
    ("\\boxed{\\frac{1}{2}} is the answer", "\\frac{1}{2}"),
    ("\\boxed{\\$18}", "\\$18"),
    ("The answer is 18. Check: 18 - 6 = 12", "18"),
    ("Final answer: $1,000", "$1,000"),
    ("steps...\n#### 72", "72"),
    ("Answer: -5", "-5"),
    ("we get 3 apples and then 7 more, 10 in all", "10"),
    ("I do not know.", None),
    ("", None),
    # Markdown emphasis, as chat models such as GPT-4o-mini write a final answer.
    ("The answer is: **72**", "72"),
    ("**Final answer:** 72", "72"),
    ("So the final answer is *18*.", "18"),
    ("The answer is **$1,000**.", "$1,000"),
    ("The answer is __5__ apples.", "5 apples"),
    ("The answer is 2*3=6.", "2*3=6"),
    # Words alone after the phrase state no answer: the stated number counts.
    ("The answer is correct. Mark's initial weight was 100 pounds.", "100"),
    ("Answer: 42. The answer is right.", "42"),
    ("The answer is (C).", "(C)"),
    ("The final answer is $x$.", "$x$"),
])
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_an_emphasised_answer_is_graded_as_a_plain_one():
    for text in ("The answer is: **72**", "**Final answer:** $72", "The answer is *72* dollars."):
        assert is_correct(text, "#### 72")
    assert not is_correct("The answer is: **73**", "#### 72")


@pytest.mark.parametrize("text, gold, correct", [
    ("The total is $18.00.", "18", True),
    ("\\boxed{$18.00}", "18", True),
    ("\\boxed{1,000}", "1000", True),
    ("\\boxed{1000}", "1,000", True),
    ("The answer is -3", "-3", True),
    ("The answer is 3", "-3", False),
    ("\\boxed{18}", "18", True),
    ("\\boxed{\\$18}", "18", True),
    ("\\boxed{18 \\text{ dollars}}", "18", True),
    ("The answer is 18. Check: 18 - 6 = 12", "18", True),
    ("At first \\boxed{12}; correcting the slip, \\boxed{18}", "18", True),
    ("At first \\boxed{18}; correcting the slip, \\boxed{12}", "18", False),
    ("no answer at all", "18", False),
    ("", "18", False),
    ("\\boxed{0.18}", "18", False),  # no percentage leniency
    ("\\boxed{18\\%}", "18", True),
    ("\\boxed{17.99}", "18", False),  # no rounding
    ("\\boxed{18.5}", "18", False),
    ("\\boxed{5^2}", "25", False),
    ("Janet sells 9 eggs.\n#### 18", "Janet ... #### 18", True),  # gold given as a worked answer
])
def test_gsm8k_grading(text, gold, correct):
    assert is_correct(text, gold, "gsm8k") is correct


@pytest.mark.parametrize("prediction, gold, correct", [
    ("\\frac{1}{2}", "\\frac{1}{2}", True),
    ("\\dfrac{1}{2}", "\\frac{1}{2}", True),
    ("0.5", "\\frac{1}{2}", True),
    ("\\frac{1}{3}", "\\frac{1}{2}", False),
    ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", True),
    ("(\\frac{\\pi}{2}, 3)", "(3, \\frac{\\pi}{2})", False),
    ("\\sqrt{8}", "2\\sqrt{2}", True),
    ("2\\sqrt{3}", "2\\sqrt{2}", False),
    ("C", "\\text{(C)}", True),
    ("(C)", "\\text{(C)}", True),
    ("D", "\\text{(C)}", False),
    ("[-2,7]", "x \\in [-2,7]", True),
])
def test_math500_grading(prediction, gold, correct):
    assert is_correct(f"... so \\boxed{{{prediction}}}", gold, "math500") is correct


def test_normalize_makes_equal_numbers_equal():
    assert normalize("$1,000.00") == normalize("1000") == "1000"
    assert normalize("\\frac{3}{6}") == "1/2"
    assert normalize("\\text{(C)}") == "(C)"


def test_agrees_with_every_gsm8k_label():
    """5,276 model solutions labelled right or wrong by GSM8K's authors."""
    tests = [json.loads(line) for line in open(DATA / "gsm8k" / "test.jsonl")]
    solutions = [json.loads(line) for line in open(DATA / "gsm8k" / "example_model_solutions.jsonl")]
    disagree = []
    for test, row in zip(tests, solutions, strict=True):
        for model in ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification"):
            labelled = row[model]["is_correct"]
            if is_correct(row[model]["solution"], test["answer"]) != labelled:
                disagree.append((test["question"][:40], model))
    assert len(tests) * 4 == 5276
    assert disagree == []


def test_every_math500_reference_solution_grades_correct():
    rows = [json.loads(line) for line in open(DATA / "math500" / "test.jsonl")]
    wrong = [r["unique_id"] for r in rows if not is_correct(r["solution"], r["answer"], "math500")]
    assert wrong == []
