"""The cascade's vote: distinct answers counted, and when sampling may stop early."""

from __future__ import annotations

from collections import Counter

import attrs

from math_router.engine.answers import normalize
from math_router.specialists.qwen_math import answer_of


@attrs.frozen
class StopWhenSettled:
    """Stop sampling once one answer has the votes to stand whatever the rest say.

    Only the "it stands" outcome ends sampling early; a problem headed for the
    orchestrator keeps all its samples, so that what the record shows (and the
    threshold curve recomputes) is what full sampling would have shown there.
    """

    needed: int
    mode: str = "cot"  # how the samples state their answers

    @property
    def key(self) -> str:
        return f"stop-at-{self.needed}-votes"

    def __call__(self, texts: list[str | None]) -> bool:
        votes = vote([answer_of(t, self.mode) for t in texts if t is not None])
        return bool(votes) and votes[0]["count"] >= self.needed


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
