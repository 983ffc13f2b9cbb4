"""A fitted probe, as probe.json keeps it, and what it says about one question.

The probe is a logistic regression on the specialist's hidden state at the question's
last prompt token (specialists.base.Reading): standardized, projected onto a few
principal directions, then weighted. Applying it is three small numpy products, so
`solve`, `eval` and `serve` need no scikit-learn (only `train-probe` does, probe.fit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import attrs
import numpy as np

from math_router.engine.errors import UserError

FORMAT = 1
HIDDEN = "hidden_state_last_prompt_token"  # read before the specialist writes
CONFIDENCE = "greedy_logprobs"  # read after its greedy solution (probe.features)
FEATURES = (HIDDEN, CONFIDENCE)


@attrs.frozen(eq=False)
class Probe:
    mean: np.ndarray  # (dim,) what standardizing subtracts
    scale: np.ndarray  # (dim,) and divides by
    projection: np.ndarray  # (dim, k) principal directions of the standardized training states
    coef: np.ndarray  # (k,)
    intercept: float
    specialist: dict  # the specialist's identity (run.json's): a GGUF by file, size and sha256
    mode: str  # the answering mode whose prompt was read (cot, tir)
    training: dict = attrs.field(factory=dict)  # runs, problem ids, data hash, counts
    heldout: dict = attrs.field(factory=dict)  # AUROC on the held-out part, with its interval
    fit: dict = attrs.field(factory=dict)  # library, regularization, components
    features: str = HIDDEN

    @property
    def reads_confidence(self) -> bool:
        return self.features == CONFIDENCE

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def probability(self, features: Sequence[float]) -> float:
        """P(the greedy answer is right) from one question's features (its hidden state, or
        its greedy solution's confidence)."""
        x = np.asarray(features, dtype=np.float64)
        if x.shape != (self.dim,):
            raise UserError(f"the probe reads {self.dim} numbers; this specialist gives "
                            f"{x.size} (a probe of another model?)")
        z = ((x - self.mean) / self.scale) @ self.projection
        return float(1.0 / (1.0 + np.exp(-(z @ self.coef + self.intercept))))

    def check_specialist(self, identity: dict, mode: str) -> None:
        """Refuse, in one line, a specialist (or a mode) other than the one it was fitted on."""
        mine, theirs = _gguf(self.specialist), _gguf(identity)
        same = (mine.get("sha256") == theirs.get("sha256")) if mine and theirs \
            else (mine is None and theirs is None and self.specialist == identity)
        if not same:
            raise UserError(f"the probe was fitted on {_named(self.specialist)}, not on "
                            f"{_named(identity)}: train one for this specialist (train-probe)")
        if mode != self.mode:
            raise UserError(f"the probe was fitted on the specialist's {self.mode} prompt; "
                            f"this run reads its {mode} prompt (--specialist-mode {self.mode})")

    def fingerprint(self) -> str:
        """A short hash of the weights: run.json tells one probe from another by it."""
        import hashlib

        weights = json.dumps(self.as_dict()["weights"], sort_keys=True)
        return hashlib.sha256(weights.encode("utf-8")).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "features": self.features, "mode": self.mode,
                "specialist": self.specialist, "training": self.training,
                "heldout": self.heldout, "fit": self.fit,
                "weights": {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                            "projection": self.projection.tolist(), "coef": self.coef.tolist(),
                            "intercept": self.intercept}}


def load_probe(path: str | Path) -> Probe:
    """A probe.json from `train-probe`, checked enough to use; one line when it is not."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or data.get("features") not in FEATURES:
            raise ValueError(f"format {data.get('format')!r}, features {data.get('features')!r}")
        w = data["weights"]
        probe = Probe(mean=np.asarray(w["mean"], dtype=np.float64),
                      scale=np.asarray(w["scale"], dtype=np.float64),
                      projection=np.asarray(w["projection"], dtype=np.float64),
                      coef=np.asarray(w["coef"], dtype=np.float64),
                      intercept=float(w["intercept"]), specialist=dict(data["specialist"]),
                      mode=str(data["mode"]), training=data.get("training", {}),
                      heldout=data.get("heldout", {}), fit=data.get("fit", {}),
                      features=data["features"])
        k = probe.coef.shape[0]
        if probe.scale.shape != probe.mean.shape or probe.projection.shape != (probe.dim, k) \
                or not np.all(probe.scale > 0):
            raise ValueError("weights of mismatched shapes")
    except OSError as e:
        raise UserError(f"cannot read the probe {path}: {e.strerror or e}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path} is not a probe.json from `train-probe` ({e})") from None
    return probe


def _gguf(identity: dict) -> dict | None:
    return identity.get("gguf") if isinstance(identity, dict) else None


def _named(identity: dict) -> str:
    gguf = _gguf(identity)
    if gguf:
        return f"{gguf.get('file')} (sha256 {str(gguf.get('sha256'))[:12]})"
    return str(identity.get("model") if isinstance(identity, dict) else identity)
