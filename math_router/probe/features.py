"""The specialist's confidence in a greedy solution, from its tokens' log-probabilities.

Read after the solution is written (the hidden state is read before): the mean and the
minimum log-probability of all its tokens, the same over the tokens of the final answer
(the last \\boxed{...}), and its length. These are what an OpenAI-compatible specialist
can give too (`logprobs: true`), where no hidden state is reachable.
"""

from __future__ import annotations

from typing import Sequence

NAMES = ("mean_logprob", "min_logprob", "answer_mean_logprob", "answer_min_logprob",
         "log_tokens")


def confidence(pieces: Sequence[str], logprobs: Sequence[float]) -> dict[str, float] | None:
    """The features of one solution: `pieces` are its tokens' texts, `logprobs` theirs. None
    for an empty solution. Without a boxed answer, the answer span is the last 8 tokens."""
    import math

    if not pieces or len(pieces) != len(logprobs):
        return None
    span = answer_span(pieces) or range(max(0, len(pieces) - 8), len(pieces))
    answer = [logprobs[i] for i in span]
    return {"mean_logprob": sum(logprobs) / len(logprobs), "min_logprob": min(logprobs),
            "answer_mean_logprob": sum(answer) / len(answer), "answer_min_logprob": min(answer),
            "log_tokens": math.log(len(pieces))}


def answer_span(pieces: Sequence[str]) -> range | None:
    """The tokens that write the last \\boxed{...}'s content (braces inside it balanced)."""
    text = "".join(pieces)
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    begin = start + len("\\boxed{")
    depth, end = 1, None
    for k in range(begin, len(text)):
        depth += {"{": 1, "}": -1}.get(text[k], 0)
        if depth == 0:
            end = k
            break
    if end is None or end == begin:
        return None
    first = last = None
    offset = 0
    for i, piece in enumerate(pieces):
        if offset + len(piece) > begin and offset < end:
            first = i if first is None else first
            last = i
        offset += len(piece)
    return range(first, last + 1) if first is not None else None


def vector(features: dict[str, float]) -> list[float]:
    return [float(features[name]) for name in NAMES]
