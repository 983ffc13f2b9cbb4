"""A probe's AUROC on held-out test problems: how well P(specialist right), read before the
specialist writes, ranks the problems its greedy answer got right above those it got wrong.

    python -m benchmarks.probe_auroc --probe runs/probe/probe.json --labels runs/slm-test \
        --specialist STANDIN.gguf [--concurrency 4]

`--labels` is an `eval --method slm` folder on problems the probe never saw (the test
split). The specialist reads each question (its prompt evaluated, nothing decoded; the
response cache keeps the readings, so the probe method's eval later reads nothing again).
Printed beside it, as a floor: the AUROC of the question's length alone (longer = harder),
the kind of text-only signal the probe should beat.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from math_router.api import model_options
from math_router.evals.probe_training import labelled, read_states
from math_router.factory import build_setup
from math_router.probe import fit
from math_router.probe.model import load_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe", required=True)
    parser.add_argument("--labels", required=True, nargs="+")
    parser.add_argument("--specialist", required=True)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    probe = load_probe(args.probe)
    data = labelled(args.labels)
    trained = set(probe.training.get("problem_ids") or [])
    shared = [i for i in data.ids if i in trained]
    if shared:
        raise SystemExit(f"{len(shared)} test problems were training problems: not held out")
    options = model_options(specialist=args.specialist)
    setup = build_setup(["slm"], options, concurrency=args.concurrency)
    from math_router.factory import model_identity

    probe.check_specialist(model_identity(setup.specialist), options.specialist_mode)
    states = read_states(setup.specialist, data.questions, concurrency=args.concurrency)
    p = np.array([probe.probability(s) for s in states])
    y = data.labels
    low, high = fit.auroc_interval(y, p, seed=0)
    lengths = np.array([-len(q) for q in data.questions], dtype=float)
    l_low, l_high = fit.auroc_interval(y, lengths, seed=0)
    print(json.dumps({
        "problems": len(y), "right": int(y.sum()),
        "probe_auroc": round(fit.auroc(y, p), 4), "interval": [round(low, 4), round(high, 4)],
        "length_auroc": round(fit.auroc(y, lengths), 4),
        "length_interval": [round(l_low, 4), round(l_high, 4)],
        "train_heldout_auroc": probe.heldout.get("auroc"),
        "mean_p_right": round(float(p[y == 1].mean()), 4),
        "mean_p_wrong": round(float(p[y == 0].mean()), 4)}, indent=1))


if __name__ == "__main__":
    main()
