"""When the cascade's sampling may stop early (the vote itself is engine.answers.vote)."""

from __future__ import annotations

import attrs

from math_router.engine.answers import vote
from math_router.specialists.modes import DEFAULT_MODE, mode_named


@attrs.frozen
class StopWhenSettled:
    """Stop sampling once one answer has the votes to stand whatever the rest say.

    Only the "it stands" outcome ends sampling early; a problem headed for the
    orchestrator keeps all its samples, so that what the record shows (and the
    threshold curve recomputes) is what full sampling would have shown there.
    """

    needed: int
    mode: str = DEFAULT_MODE  # how the samples state their answers

    @property
    def key(self) -> str:
        return f"stop-at-{self.needed}-votes"

    def __call__(self, texts: list[str | None]) -> bool:
        answer = mode_named(self.mode).answer
        votes = vote([answer(t) for t in texts if t is not None])
        return bool(votes) and votes[0]["count"] >= self.needed
