"""Reading a final answer out of a model's text, and the form in which answers compare.

Low in the layers: specialists read their own answers with it, `vote` counts
sampled answers (slm_help's and the cascade's), and grading (evals.grading)
builds on it.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction

_PHRASE = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|final\s+answer|answer\s*:|####)\s*:?",
                     re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
_SENTENCE_END = re.compile(r"\.(?:\s|$)|\n")
# Markdown emphasis around an answer, as chat models write it: **72**, *72*, __72__.
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3})(.+?)\1")
# What an answer after "The answer is" holds: a digit, LaTeX, or a math sign; or it is
# a choice letter. "The answer is correct. ... 100 pounds." states no answer there.
_ANSWER_LIKE = re.compile(r"[\d\\$^=+\-*/()]|^\S{1,2}$")


def extract_answer(text: str) -> str | None:
    """The final answer stated in `text`, or None.

    In order: the last `\\boxed{...}` (braces matched); else what follows the
    last final-answer phrase ("The answer is", "Final answer", "Answer:",
    "####") that states one, up to the end of its sentence, markdown emphasis
    removed ("The answer is: **72**", "**Final answer:** 72"); else the last
    number. Words alone after a phrase ("The answer is correct.") state none.
    """
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    for phrase in reversed(list(_PHRASE.finditer(text))):
        rest = _EMPHASIS.sub(r"\2", text[phrase.end():].lstrip())
        rest = rest.lstrip("*_:").lstrip()  # what is left of "**Final answer:**"
        end = _SENTENCE_END.search(rest)
        chunk = (rest[:end.start()] if end else rest).strip().strip("*_").strip()
        if chunk and _ANSWER_LIKE.search(chunk):
            return chunk
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else None


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} or \\fbox{...}, braces matched."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth = 1
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                return text[start:i]
    return None


_UNWRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox|boxed|fbox)\s*\{([^{}]*)\}")
_DROP = re.compile(r"\\[,;:!]|\\left|\\right|\\\$|[$%]|\\%|\{,\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]+)\}\s*\{([^{}]+)\}")


def normalize(answer: str) -> str:
    """A canonical form: numbers as exact values (`$1,000.00` -> `1000`), else cleaned LaTeX."""
    value = to_number(answer)
    if value is not None:
        return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
    text = _strip_latex(answer)
    return re.sub(r"\s+", "", text)


def to_number(answer: str) -> Fraction | None:
    """The exact number an answer states, ignoring currency, commas, units and LaTeX.

    No rounding and no percentage leniency: "0.18" is 0.18, never 18.
    """
    text = _strip_latex(answer)
    frac = _FRAC.fullmatch(text.strip())
    if frac:
        text = f"{frac.group(1)}/{frac.group(2)}"
    # Units and words around a single number ("18 dollars", "x = 5") do not change it.
    numbers = _NUMBER.findall(text)
    if len(numbers) == 1 and re.fullmatch(r"[^\d]*", _NUMBER.sub("", text, count=1).replace("/", "")):
        leftover = _NUMBER.sub("", text, count=1)
        if re.search(r"[\^_\\*]", leftover):
            return None  # "5^2", "3\sqrt{2}": not a plain number
        return Fraction(numbers[0].replace(",", ""))
    slash = re.fullmatch(r"\s*([-+]?\d+)\s*/\s*(\d+)\s*", text)
    if slash and int(slash.group(2)) != 0:
        return Fraction(int(slash.group(1)), int(slash.group(2)))
    return None


def _strip_latex(answer: str) -> str:
    text = answer.strip()
    for _ in range(3):  # nested wrappers: \boxed{\text{18}}
        text = _UNWRAP.sub(r"\1", text)
    text = _DROP.sub("", text)
    return text.strip().rstrip(".").strip()


def escalates(agreement: float, majority: str | None, threshold: float) -> bool:
    """The vote's one rule: it settles nothing when no sample stated an answer or the
    majority's share is below `threshold`; then the orchestrator decides (the cascade, its
    threshold curve, calibration; the router's agree-and-stop is its other side)."""
    return majority is None or agreement < threshold


def votes_to_settle(threshold: float, k: int) -> int:
    """How many of k agreeing samples settle the vote at `threshold` (3 of 4 at 0.75): sampling
    may stop once one answer has them."""
    import math

    return math.ceil(threshold * k - 1e-9)


def vote(answers: list[str | None], modes: list[str] | None = None) -> list[dict]:
    """Distinct answers, most frequent first, equal ones counted together (18 == 18.00);
    with `modes`, how many votes each answer got from each mode."""
    counts = Counter(normalize(a) for a in answers if a is not None)
    first_form: dict[str, str] = {}
    by_mode: dict[str, Counter] = {}
    for i, a in enumerate(answers):
        if a is not None:
            first_form.setdefault(normalize(a), a)
            if modes:
                by_mode.setdefault(normalize(a), Counter())[modes[i]] += 1
    return [{"answer": first_form[n], "normalized": n, "count": c,
             **({"by_mode": dict(by_mode[n])} if modes else {})}
            for n, c in counts.most_common()]
