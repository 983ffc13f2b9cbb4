"""The decoder's next-token choice in numpy (llama.step_sampling): greedy as llama.cpp's greedy
sampler chooses, and draws distributed as its top-k -> top-p -> temperature -> dist chain."""

from __future__ import annotations

import numpy as np
import pytest

from math_router.llama import step_sampling


def chain_probabilities(logits: np.ndarray, temperature: float, top_k: int, top_p: float) -> dict:
    """What llama.cpp's chain gives each token, written the plain way (sorted lists)."""
    order = sorted(range(len(logits)), key=lambda t: -logits[t])
    if top_k > 0:
        order = order[:top_k]
    values = np.array([logits[t] for t in order])
    probs = np.exp(values - values.max())
    probs /= probs.sum()
    kept, mass = [], 0.0
    for token, p in zip(order, probs):
        kept.append(token)
        mass += p
        if mass >= top_p:
            break
    values = np.array([logits[t] for t in kept]) / temperature
    probs = np.exp(values - values.max())
    return dict(zip(kept, probs / probs.sum()))


def test_greedy_takes_the_first_likeliest_token_and_never_a_banned_one():
    rows = np.array([[0.1, 3.0, 3.0, -1.0], [5.0, 1.0, 2.0, 0.0]], dtype=np.float32)
    assert step_sampling.greedy(rows.copy()).tolist() == [1, 0]
    assert step_sampling.greedy(rows.copy(), banned=np.array([0, 1])).tolist() == [2, 2]


@pytest.mark.parametrize("temperature,top_k,top_p", [(0.7, 20, 0.8), (1.0, 0, 1.0), (0.5, 3, 1.0),
                                                      (1.3, 0, 0.6)])
def test_draws_follow_llama_cpps_chain(temperature, top_k, top_p):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=50).astype(np.float32)
    expected = chain_probabilities(logits, temperature, top_k, top_p)
    draws = 20_000
    rows = np.repeat(logits[None, :], draws, axis=0)
    tokens = step_sampling.sample(rows, rng.random(draws), temperature=temperature, top_k=top_k,
                                  top_p=top_p)
    counts = np.bincount(tokens, minlength=len(logits)) / draws
    assert set(np.nonzero(counts)[0]) <= set(expected)  # nothing outside top-k / top-p
    for token, p in expected.items():
        p = float(p)
        assert counts[token] == pytest.approx(p, abs=4 * (p * (1 - p) / draws) ** 0.5 + 1e-3)


def test_a_draw_is_a_function_of_the_row_and_its_uniform_alone():
    rng = np.random.default_rng(1)
    rows = rng.normal(0, 3, size=(6, 1000)).astype(np.float32)
    uniforms = rng.random(6)
    once = step_sampling.sample(rows.copy(), uniforms, temperature=0.7, top_k=20, top_p=0.8)
    # The same rows drawn one at a time, in another order, give the same tokens.
    alone = [step_sampling.sample(rows[i:i + 1].copy(), uniforms[i:i + 1], temperature=0.7,
                                  top_k=20, top_p=0.8)[0] for i in reversed(range(6))]
    assert once.tolist() == list(reversed(alone))


def test_a_uniform_at_the_edge_takes_the_last_kept_token():
    rows = np.array([[0.0, 0.0, -100.0]], dtype=np.float32)
    assert step_sampling.sample(rows, np.array([0.9999999999]), temperature=1.0, top_k=0,
                                top_p=1.0).tolist() == [1]
