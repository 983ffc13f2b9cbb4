"""Fitting a probe and judging it on problems it did not see.

scikit-learn does the fit (its logistic regression, with the regularization strength
chosen by cross-validation, and its PCA), because that is the maintained, well-tested
version of both; the result is stored as plain arrays (probe.model) so applying it
needs numpy alone. The hidden state has more numbers (1,536 for a 1.5B Qwen) than
there are labelled problems (a few hundred), so it is standardized and projected onto
its first principal directions before the regression: fewer weights to estimate, and
the cross-validated penalty does the rest.
"""

from __future__ import annotations

import warnings

import numpy as np

from math_router.engine.errors import UserError

COMPONENTS = 64
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)


def sklearn_version() -> str:
    try:
        import sklearn
    except ImportError:
        raise UserError("train-probe fits with scikit-learn: pip install 'math-router[probe]' "
                        "(or pip install scikit-learn)") from None
    return sklearn.__version__


def fit(x: np.ndarray, y: np.ndarray, *, seed: int = 0, components: int = COMPONENTS) -> dict:
    """Weights of a probe fitted on states `x` (n, dim) and labels `y` (1: the greedy answer
    was right): mean, scale, projection, coef, intercept, and how it was fitted."""
    version = sklearn_version()
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegressionCV

    y = np.asarray(y, dtype=int)
    if len(set(y.tolist())) < 2:
        raise UserError("the training problems are all right or all wrong: a probe needs both "
                        "(more problems, or a harder data set)")
    folds = int(min(5, np.bincount(y).min()))
    if folds < 2:
        raise UserError("too few right or wrong answers to fit a probe (at least 2 of each)")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = (x - mean) / scale
    k = int(min(components, z.shape[0] - 1, z.shape[1]))
    pca = PCA(n_components=k, random_state=seed).fit(z)
    projection = pca.components_.T  # (dim, k); PCA's own centering is ~0 after standardizing
    with warnings.catch_warnings():
        # scikit-learn 1.9 announces changes to defaults this fit does not rely on (plain L2,
        # one C per fit); the fitted values read below are the same either way.
        warnings.simplefilter("ignore", FutureWarning)
        model = LogisticRegressionCV(Cs=list(C_GRID), cv=folds, scoring="roc_auc",
                                     max_iter=5000, random_state=seed).fit(z @ projection, y)
    return {"mean": mean, "scale": scale, "projection": projection,
            "coef": model.coef_[0].astype(np.float64), "intercept": float(model.intercept_[0]),
            "fit": {"library": f"scikit-learn {version}", "model": "LogisticRegressionCV",
                    "components": k, "C": float(np.ravel(model.C_)[0]), "cv_folds": folds,
                    "explained_variance": float(pca.explained_variance_ratio_.sum())}}


def auroc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p))


def auroc_interval(y: np.ndarray, p: np.ndarray, *, rounds: int = 2000, seed: int = 0,
                   level: float = 0.95) -> tuple[float, float]:
    """A percentile bootstrap interval of the AUROC (resampling problems; draws with one
    class only are skipped)."""
    y, p = np.asarray(y), np.asarray(p)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(rounds):
        idx = rng.integers(0, len(y), len(y))
        if y[idx].min() != y[idx].max():
            values.append(auroc(y[idx], p[idx]))
    if not values:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def heldout_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices to fit on and to hold out, each class split in the same proportion."""
    rng = np.random.default_rng(seed)
    fit_idx, held_idx = [], []
    for label in (0, 1):
        idx = np.flatnonzero(np.asarray(y) == label)
        rng.shuffle(idx)
        cut = int(round(len(idx) * share))
        held_idx += idx[:cut].tolist()
        fit_idx += idx[cut:].tolist()
    return np.array(sorted(fit_idx)), np.array(sorted(held_idx))
