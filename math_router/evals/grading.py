"""Grade a model's text against the gold answer.

API used from outside the package: `extract_answer(text)` and
`is_correct(text, gold, dataset)`; `normalize(answer)` gives the form in which
answers are compared and counted. Reading the answer out of a text lives in
engine.answers (specialists need it too); deciding whether it is right is here.
"""

from __future__ import annotations

from math_router.engine.answers import extract_answer, normalize, to_number

__all__ = ["extract_answer", "gsm8k_gold", "is_correct", "math_equal", "normalize"]


def gsm8k_gold(gold: str) -> str:
    """GSM8K's gold is what follows `####` in its worked answer."""
    return gold.split("####")[-1].strip()


def is_correct(text: str, gold: str, dataset: str = "gsm8k") -> bool:
    """Whether the final answer in `text` equals `gold`.

    GSM8K: exact numeric equality after the clean-up in `to_number`.
    MATH-500: math-verify, gold first.
    """
    predicted = extract_answer(text)
    if predicted is None:
        return False
    if dataset == "gsm8k":
        want, got = to_number(gsm8k_gold(gold)), to_number(predicted)
        return want is not None and got is not None and want == got
    if dataset == "math500":
        return math_equal(gold, predicted)
    raise ValueError(f"unknown dataset kind {dataset!r}")


def math_equal(gold: str, predicted: str) -> bool:
    """MATH-style equivalence through math-verify (gold first), exact strings as a shortcut."""
    if normalize(gold) == normalize(predicted):
        return True
    from math_verify import parse, verify

    try:
        return bool(verify(parse(f"\\boxed{{{gold}}}"), parse(f"\\boxed{{{predicted}}}")))
    except Exception:  # math-verify gives up on some LaTeX: that is a miss, not a crash
        return False
