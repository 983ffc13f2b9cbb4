"""train-probe: labels from `slm` runs, hidden states from the specialist, a fitted probe.

    math-router eval --method slm --dataset gsm8k-train --n 400 --out runs/labels
    math-router train-probe runs/labels --out runs/probe     # writes runs/probe/probe.json

A label is whether the specialist's greedy answer was right (an `slm` record's
`correct`); the features are its hidden state at the question's last prompt token,
read by evaluating the prompt again on the same GGUF (the response cache keeps each
reading, so a second fit reads nothing). A quarter of the problems, split by label, is
held out: the probe is fitted on the rest and its AUROC on the held-out part, with a
bootstrap interval, goes into probe.json beside its weights, the specialist's identity
and a hash of the training data.
"""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import numpy as np

from math_router.engine.errors import UserError
from math_router.evals.folders import EvalFolder, read_samples, write_text_atomic
from math_router.evals.records import latest_records, read_records
from math_router.probe import fit as fitting
from math_router.probe.features import vector
from math_router.probe.model import HIDDEN, Probe

HELDOUT_SHARE = 0.25


@attrs.frozen
class Labelled:
    """Problems with a label each, from one or more `slm` runs on one specialist."""

    ids: list[str]
    questions: list[str]
    labels: np.ndarray  # 1: the greedy answer was right
    specialist: dict  # the runs' specialist identity (all the same)
    mode: str
    runs: list[dict]  # folder, data set, problems, accuracy
    # Each greedy solution's confidence (probe.features), where the run recorded it
    # (--specialist-logprobs); None where it did not.
    confidences: list[dict | None] = attrs.field(factory=list)

    def confidence_matrix(self) -> np.ndarray:
        """The confidence features as rows; one line if a record lacks them."""
        missing = sum(c is None for c in self.confidences)
        if missing or not self.confidences:
            raise UserError(f"{missing or 'all'} of the records hold no log-probabilities: run "
                            "the slm eval with --specialist-logprobs (a server that returns "
                            "none cannot feed a logprobs probe)")
        return np.array([vector(c) for c in self.confidences], dtype=np.float64)


def labelled(run_dirs: list[Path]) -> Labelled:
    """The answered `slm` records of the runs; refused in one line if a run is not an slm
    eval, or the runs' specialists or modes differ."""
    ids, questions, labels, runs, confidences = [], [], [], [], []
    seen: set[str] = set()
    specialist = mode = None
    for run_dir in run_dirs:
        folder = EvalFolder(run_dir)
        settings = folder.info().get("methods", {}).get("slm", {}).get("settings")
        records = read_records(folder.results("slm"))
        if settings is None or not records or not folder.samples.exists():
            raise UserError(f"{run_dir} holds no `eval --method slm` results to learn from")
        if specialist is not None and settings.get("specialist") != specialist:
            raise UserError(f"{run_dir} was run with another specialist than {run_dirs[0]}")
        specialist, mode = settings.get("specialist"), settings.get("specialist_mode", "cot")
        question_of = {row["id"]: row["question"] for row in read_samples(folder.samples)}
        done = [r for r in latest_records(records).values()
                if r.get("error") is None and r.get("correct") is not None]
        for r in done:
            if r["id"] in seen:
                continue  # the same problem in two runs: its first label
            seen.add(r["id"])
            ids.append(r["id"])
            questions.append(question_of[r["id"]])
            labels.append(int(bool(r["correct"])))
            confidences.append(((r.get("trace") or {}).get("details") or {}).get("confidence"))
        runs.append({"folder": str(run_dir), "dataset": folder.info().get("dataset"),
                     "problems": len(done),
                     "accuracy": sum(bool(r["correct"]) for r in done) / len(done) if done else None})
    return Labelled(ids, questions, np.array(labels, dtype=int), specialist, mode, runs,
                    confidences)


def read_states(specialist, questions: list[str], *, concurrency: int = 4,
                progress: bool = True) -> np.ndarray:
    """The specialist's hidden state for each question, read `concurrency` at a time (the
    batched decoder evaluates those prompts together)."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(questions), desc="reading", unit="problem", dynamic_ncols=True)

    def read(question: str) -> tuple[float, ...]:
        state = specialist.read(question).hidden_state
        if bar is not None:
            bar.update(1)
        return state

    try:
        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            return np.array(list(pool.map(read, questions)), dtype=np.float64)
    finally:
        if bar is not None:
            bar.close()


def data_hash(data: Labelled) -> str:
    """What the probe learned from, as one fingerprint: each problem's id, text and label."""
    text = json.dumps([[i, q, int(y)] for i, q, y in zip(data.ids, data.questions, data.labels)],
                      ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def train(data: Labelled, states: np.ndarray, *, seed: int = 0,
          heldout_share: float = HELDOUT_SHARE, features: str = HIDDEN) -> Probe:
    """The probe fitted on the problems not held out, judged on those that are. `states` are
    the features of each problem: hidden states, or confidences (`features` says which)."""
    fit_idx, held_idx = fitting.heldout_split(data.labels, heldout_share, seed)
    weights = fitting.fit(states[fit_idx], data.labels[fit_idx], seed=seed)
    probe = Probe(mean=weights["mean"], scale=weights["scale"], projection=weights["projection"],
                  coef=weights["coef"], intercept=weights["intercept"],
                  specialist=data.specialist, mode=data.mode, fit=weights["fit"], features=features,
                  training={"runs": data.runs, "problems": len(data.ids),
                            "right": int(data.labels.sum()), "fitted_on": len(fit_idx),
                            "problem_ids": data.ids, "data_sha256": data_hash(data),
                            "seed": seed, "date": time.strftime("%Y-%m-%d")})
    heldout: dict = {"problems": len(held_idx), "share": heldout_share}
    y = data.labels[held_idx]
    if len(held_idx) and y.min() != y.max():
        p = np.array([probe.probability(states[i]) for i in held_idx])
        low, high = fitting.auroc_interval(y, p, seed=seed)
        heldout.update(auroc=fitting.auroc(y, p), interval=[low, high], right=int(y.sum()))
    return attrs.evolve(probe, heldout=heldout)


def write_probe(probe: Probe, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "probe.json"
    write_text_atomic(path, json.dumps(probe.as_dict(), indent=1) + "\n")
    return path


def describe(probe: Probe) -> str:
    """The lines train-probe prints."""
    t, h = probe.training, probe.heldout
    lines = [f"fitted on {t['fitted_on']} of {t['problems']} problems ({t['right']} right), "
             f"{probe.fit['components']} components, C={probe.fit['C']:g}"]
    if "auroc" in h:
        low, high = h["interval"]
        lines.append(f"held-out AUROC {h['auroc']:.3f} [{low:.3f}, {high:.3f}] "
                     f"on {h['problems']} problems ({h['right']} right)")
    else:
        lines.append(f"held out {h['problems']} problems: too few of one kind for an AUROC")
    return "\n".join(lines)
