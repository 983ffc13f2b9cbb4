"""Choose the cascade's threshold (and the router's agree-and-stop rule) without peeking.

    math-router calibrate --dataset gsm8k-train --n 50 --target escalate:0.2
    math-router eval --method cascade --calibration results/calib.../calibration.json

The threshold is chosen on problems disjoint from the test set, for a target
the user names:
- `escalate:X` (X a share, 0.2, or a percentage, 20%): the highest threshold
  whose escalation rate on the calibration problems is at most X. Only the
  specialist's votes are needed: nothing is sent to the orchestrator.
- `accuracy:llm`: the lowest threshold (the least escalation, so the least
  orchestrator spend) at which the cascade is at least as accurate as the llm
  on the calibration problems. The cascade runs there at threshold 1.01 (every
  problem escalated once, so every threshold can be recomputed) beside the llm.
The choice, the target, the calibration problems' ids and the curve go into
calibration.json; `eval --calibration` uses it, refuses test problems that
were among the calibration problems, and records it in run.json.

With `--probe PROBE_JSON` it sets the probe method's two bands instead, from the
probe's scores on the calibration problems (the specialist reads each prompt;
nothing is decoded, nothing is sent): `escalate:X` puts the X with the lowest
scores below the low band (the orchestrator alone) and the next `--vote-share`
in the cascade's band. The cascade there may escalate some of its share too.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import attrs

from math_router.engine.answers import escalates
from math_router.engine.errors import UserError
from math_router.evals.compare import answered

ALL = 1.01  # escalates every problem: the whole curve can be recomputed


@attrs.frozen
class Target:
    kind: str  # "escalate" | "accuracy"
    value: float | None = None  # the escalation share for "escalate"

    def __str__(self) -> str:
        return f"escalate at most {self.value:.0%}" if self.kind == "escalate" \
            else "no less accurate than the llm"


def parse_target(text: str) -> Target:
    """`escalate:0.2`, `escalate:20%` or `accuracy:llm`."""
    kind, _, value = text.strip().partition(":")
    if kind == "accuracy" and value in ("llm", ""):
        return Target("accuracy")
    if kind == "escalate":
        match = re.fullmatch(r"(\d+(?:\.\d+)?)(%?)", value.strip())
        if match:
            share = float(match.group(1)) / (100 if match.group(2) else 1)
            if 0 <= share <= 1:
                return Target("escalate", share)
    raise UserError(f"--target wants escalate:SHARE (0.2 or 20%) or accuracy:llm, got {text!r}")


def levels(k: int) -> list[float]:
    """Every threshold that changes what a k-sample vote does: j/k, and ALL."""
    return sorted({round(j / k, 6) for j in range(k + 1)} | {ALL})


def curve(records: list[dict], k: int, with_accuracy: bool) -> list[dict]:
    """Escalation rate (and accuracy) at each threshold, from a run at ALL."""
    done = answered(records)
    points = []
    for t in levels(k):
        escalated = [r for r in done if escalates(r["agreement"], r["majority"], t)]
        point = {"threshold": t, "escalation_rate": len(escalated) / len(done) if done else 0.0}
        if with_accuracy:
            right = sum(bool(r["correct"]) if escalates(r["agreement"], r["majority"], t)
                        else bool(r["majority_correct"]) for r in done)
            point["accuracy"] = right / len(done) if done else 0.0
        points.append(point)
    return points


def choose(points: list[dict], target: Target, llm_accuracy: float | None) -> tuple[dict, bool]:
    """The chosen point and whether it meets the target."""
    if target.kind == "escalate":
        fitting = [p for p in points if p["escalation_rate"] <= target.value + 1e-9]
        return (max(fitting, key=lambda p: p["threshold"]), True) if fitting \
            else (points[0], False)
    enough = [p for p in points if p["accuracy"] >= (llm_accuracy or 0.0) - 1e-9]
    if enough:
        return min(enough, key=lambda p: p["threshold"]), True
    return max(points, key=lambda p: (p["accuracy"], -p["threshold"])), False


def calibration_result(run, target: Target, dataset: str, seed: int, samples_mix) -> dict:
    """What calibration.json holds, from a calibration run (cascade at ALL, and the llm)."""
    cascade = run.records["cascade"]
    if not answered(cascade):
        raise UserError(f"no calibration problem was answered; see the errors in {run.out}")
    k = len(answered(cascade)[0].get("sample_answers") or [])
    llm_accuracy = run.comparison["methods"]["llm"]["accuracy"] if "llm" in run.records else None
    points = curve(cascade, k, target.kind == "accuracy")
    chosen, met = choose(points, target, llm_accuracy)
    return {
        "threshold": chosen["threshold"], "target": str(target), "target_spec": attrs.asdict(target),
        "met": met, "achieved": chosen, "llm_accuracy": llm_accuracy, "curve": points,
        "dataset": dataset, "n": len(cascade), "seed": seed, "samples": k,
        "samples_mix": [list(p) for p in samples_mix], "problem_ids": [r["id"] for r in cascade],
        "errors": run.errors, "results": str(run.out), "date": time.strftime("%Y-%m-%d"),
    }


def load_calibration(path: str | Path) -> dict:
    """A calibration.json, checked enough to use."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        float(data["threshold"])
        list(data["problem_ids"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is not a calibration.json from `calibrate` ({e})") from None
    return data


def check_disjoint(calibration: dict, problem_ids: list[str]) -> None:
    """Refuse test problems the threshold was chosen on."""
    shared = sorted(set(calibration["problem_ids"]) & set(problem_ids))
    if shared:
        raise UserError(f"{len(shared)} test problem(s) were calibration problems too "
                        f"({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}): calibrate "
                        "on other problems (gsm8k-train, another seed) so the threshold is not "
                        "tuned on the test set")


VOTE_SHARE = 0.1  # the probe method's problems that go to the vote cascade, by default


def probe_bands(scores: list[float], target: Target, vote_share: float) -> dict:
    """The probe method's low and high bands at the target's escalation share: quantiles of
    the calibration problems' scores, so that about that share scores below low and about
    `vote_share` more below high."""
    import numpy as np

    if target.kind != "escalate":
        raise UserError("calibrate --probe takes --target escalate:SHARE (the share the probe "
                        "sends to the orchestrator with nothing decoded)")
    if not 0 <= vote_share <= 1 - target.value:
        raise UserError(f"--vote-share must be between 0 and {1 - target.value:g} "
                        "(the escalation share and the vote share together at most 1)")
    if not scores:
        raise UserError("no calibration problem was read")
    ordered = np.sort(np.asarray(scores, dtype=np.float64))
    low = _cut(ordered, target.value)
    high = max(low, _cut(ordered, target.value + vote_share))
    below_low = float(np.mean(ordered < low))
    below_high = float(np.mean(ordered < high))
    return {"probe_low": low, "probe_high": high,
            "achieved": {"escalation_rate": below_low, "vote_rate": below_high - below_low,
                         "specialist_rate": 1 - below_high}}


def _cut(ordered, share: float) -> float:
    """A score with `share` of `ordered` below it: midway between neighbours, so a score
    on the boundary is not split by rounding; 0 and 1 at the ends (nothing, everything)."""
    n = len(ordered)
    k = int(round(share * n))
    if k <= 0:
        return 0.0
    if k >= n:
        return 1.0
    return round(float(ordered[k - 1] + ordered[k]) / 2, 6)
