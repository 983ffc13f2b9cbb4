"""Intervals and paired tests for accuracies measured on a few dozen problems.

At 30 or 150 problems an accuracy moves by ten points or more from sample to
sample, so every accuracy gets its 95% interval, and methods run on the same
problems are compared pair by pair: McNemar's exact test on the problems where
they differ, and an interval for the difference that uses the pairing
(Newcombe's score method), which is narrower than two separate intervals.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval for `correct` of `n`; None when n is 0."""
    if n <= 0:
        return None
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: is A right-where-B-is-wrong as often as the reverse?

    Only the discordant problems count; under the null each is a fair coin.
    """
    n = only_a + only_b
    if n == 0:
        return 1.0
    k = min(only_a, only_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def paired_difference(both: int, only_a: int, only_b: int, neither: int,
                      z: float = Z95) -> dict[str, float] | None:
    """Accuracy of A minus accuracy of B on the same problems, with a 95% interval.

    Newcombe (1998), method 10: Wilson intervals of the two accuracies combined
    through the correlation of the paired outcomes.
    """
    n = both + only_a + only_b + neither
    if n == 0:
        return None
    p_a, p_b = (both + only_a) / n, (both + only_b) / n
    low_a, high_a = wilson_interval(both + only_a, n, z)
    low_b, high_b = wilson_interval(both + only_b, n, z)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = 0.0 if margins == 0 else (both * neither - only_a * only_b) / math.sqrt(margins)
    estimate = p_a - p_b
    low = estimate - math.sqrt(max(0.0, (p_a - low_a) ** 2 - 2 * phi * (p_a - low_a) * (high_b - p_b)
                                   + (high_b - p_b) ** 2))
    high = estimate + math.sqrt(max(0.0, (high_a - p_a) ** 2 - 2 * phi * (high_a - p_a) * (p_b - low_b)
                                    + (p_b - low_b) ** 2))
    return {"estimate": estimate, "low": max(-1.0, low), "high": min(1.0, high)}
