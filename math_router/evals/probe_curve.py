"""The probe's trade-off curve beside the vote cascade's, from one eval's records.

When an eval ran `probe` beside `slm` and `llm` on the same problems, every problem has
the probe's P(specialist right) (probe records keep it, whichever way the problem went),
the specialist's greedy answer (slm) and the orchestrator's own (llm). So the probe's
routing can be replayed at any escalation share r without running anything: the r of
problems with the lowest P go to the orchestrator alone, the rest keep the greedy answer.
Each point gives accuracy, cost and the specialist's decoded tokens; where the cascade ran
too, its own point (and its threshold curve) stands beside it, and at the cascade's
escalation rate the two are compared problem by problem (a paired interval).
"""

from __future__ import annotations

from math_router.evals.compare import answered
from math_router.evals.stats import paired_difference, wilson_interval

SHARES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0)


def probe_curve(results: dict[str, list[dict]]) -> dict | None:
    """None unless probe, slm and llm all answered some of the same problems."""
    if not {"probe", "slm", "llm"} <= set(results):
        return None
    probe = {r["id"]: r for r in answered(results["probe"]) if "probe_probability" in r}
    slm = {r["id"]: r for r in answered(results["slm"])}
    llm = {r["id"]: r for r in answered(results["llm"])}
    ids = sorted(set(probe) & set(slm) & set(llm), key=lambda i: (probe[i]["probe_probability"], i))
    if not ids:
        return None
    cascade = {r["id"]: r for r in answered(results.get("cascade", []))}
    points = [_point(ids, share, probe, slm, llm) for share in SHARES]
    out = {"problems": len(ids), "points": points}
    kept = [i for i in ids if i in cascade]  # the problems the cascade answered too
    if kept:
        rate = sum(bool(cascade[i].get("escalated")) for i in kept) / len(kept)
        matched = _point(kept, rate, probe, slm, llm)
        right_probe = matched.pop("right_ids")
        right_cascade = {i for i in kept if cascade[i]["correct"]}
        both = len(right_probe & right_cascade)
        only_probe = len(right_probe - right_cascade)
        only_cascade = len(right_cascade - right_probe)
        out["cascade"] = {
            "problems": len(kept), "escalation_rate": rate,
            "accuracy": len(right_cascade) / len(kept),
            "total_cost_usd": _sum(cascade[i].get("cost_usd") for i in kept),
            "specialist_output_tokens": sum(_specialist(cascade[i])["output_tokens"] for i in kept),
            "probe_at_same_rate": matched,
            "probe_minus_cascade": paired_difference(both, only_probe, only_cascade,
                                                     len(kept) - both - only_probe - only_cascade)}
    for point in points:
        point.pop("right_ids")
    return out


def _point(ids: list[str], share: float, probe: dict, slm: dict, llm: dict) -> dict:
    """The lowest-P `share` of `ids` (ordered by P) answered by the llm, the rest by slm."""
    ordered = sorted(ids, key=lambda i: (probe[i]["probe_probability"], i))
    cut = int(round(share * len(ordered)))
    escalated, kept = ordered[:cut], ordered[cut:]
    right = {i for i in escalated if llm[i]["correct"]} | {i for i in kept if slm[i]["correct"]}
    interval = wilson_interval(len(right), len(ordered))
    return {"escalation_share": share, "escalated": len(escalated),
            "accuracy": len(right) / len(ordered), "accuracy_ci": list(interval) if interval else None,
            "total_cost_usd": _sum([llm[i].get("cost_usd") for i in escalated]
                                   + [slm[i].get("cost_usd") for i in kept]),
            "specialist_output_tokens": sum(_specialist(slm[i])["output_tokens"] for i in kept),
            "right_ids": right}


def _specialist(record: dict) -> dict:
    usage = (record.get("usage") or {}).get("specialist") or {}
    return {"output_tokens": usage.get("output_tokens", 0)}


def _sum(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)
