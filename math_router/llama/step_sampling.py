"""The next token of every sequence in a decode step, chosen from the logits in place, in numpy.

llama.cpp's `llama_sampler_sample` builds and scans a candidate array the size of the
vocabulary (151,936 entries for Qwen) once per sequence, one after the other, on the
scheduler's thread: at 64 sequences that took 12 of 17 seconds of a GPU run while the GPU
waited. Here the logits rows llama.cpp already wrote are read as one numpy view (no copy):
greedy rows take one vectorized argmax, and sampled rows (top-k, top-p, temperature, as the
cascade samples) are chosen together for all sequences that share their settings, with one
random stream per sequence so a sample depends on its seed, not on what else was decoded in
the same step. Grammar-constrained sequences stay on llama.cpp's sampler (no numpy
equivalent is worth writing for a forced tool call).

llama.cpp also offers backend sampling (`llama_set_sampler`, experimental in this version):
measured here it was fastest, but attaching or detaching a sampler marks the scheduler for a
new reservation, and sequences start and end on most steps of a busy decoder; detaching and
reattaching crashed this build. The numpy path does the same work on the host, every step.
"""

from __future__ import annotations

import ctypes

import numpy as np

# Logits this far below a row's maximum have probability under e^-30 (1e-13) at temperature
# 1 and less at the temperatures used: dropping them before top-k/top-p changes nothing a
# random draw could see, and the rest is a few dozen tokens instead of the vocabulary.
NEGLIGIBLE = 30.0


def floats(pointer, shape: tuple[int, ...]) -> np.ndarray:
    """A numpy view (no copy) of `shape` floats at a float* llama.cpp returned."""
    return np.ctypeslib.as_array(ctypes.cast(pointer, ctypes.POINTER(ctypes.c_float)),
                                 shape=shape)


def logits_view(llama_cpp, ctx, n_outputs: int, n_vocab: int) -> np.ndarray:
    """The logits of the last decode's outputs, (n_outputs, n_vocab), a view into llama.cpp's own
    buffer: one row per batch position that asked for logits, in batch order."""
    return floats(llama_cpp.llama_get_logits(ctx), (n_outputs, n_vocab))


def take(rows: np.ndarray, wanted: list[int]) -> np.ndarray:
    """Those rows: the view itself when they are all of it in order (a step that only decodes),
    else a copy (a prompt's last token read by several samples, say)."""
    if wanted == list(range(rows.shape[0])):
        return rows
    return rows[wanted]


def greedy(rows: np.ndarray, banned: np.ndarray | None = None) -> np.ndarray:
    """The likeliest token of each row (the first on a tie, as llama.cpp's greedy sampler);
    `banned` tokens (end of generation, for fixed-length benchmarks) are never chosen."""
    if banned is not None and len(banned):
        rows[:, banned] = -np.inf  # llama.cpp's buffer, rewritten before the next decode anyway
    return np.argmax(rows, axis=1)


def sample(rows: np.ndarray, uniforms: np.ndarray, *, temperature: float, top_k: int,
           top_p: float, banned: np.ndarray | None = None) -> np.ndarray:
    """One token per row, drawn as llama.cpp's chain top-k -> top-p -> temperature -> dist
    draws it: top-k by logit, top-p over the softmax of those (at temperature 1, keeping at
    least one), then the softmax at `temperature`, then the first token whose cumulative
    probability passes the row's uniform number in [0, 1)."""
    if banned is not None and len(banned):
        rows[:, banned] = -np.inf
    top = rows.max(axis=1, keepdims=True)
    row_of, token = np.nonzero(rows >= top - NEGLIGIBLE * max(1.0, temperature))
    counts = np.bincount(row_of, minlength=rows.shape[0])
    width = int(counts.max())
    # Candidates per row, padded with -inf: a small (rows, width) table, likeliest first.
    logits = np.full((rows.shape[0], width), -np.inf)
    ids = np.zeros((rows.shape[0], width), dtype=np.int64)
    slot = np.arange(len(row_of)) - np.repeat(np.cumsum(counts) - counts, counts)
    logits[row_of, slot] = rows[row_of, token]
    ids[row_of, slot] = token
    order = np.argsort(-logits, axis=1, kind="stable")
    logits = np.take_along_axis(logits, order, axis=1)
    ids = np.take_along_axis(ids, order, axis=1)
    if 0 < top_k < width:
        logits[:, top_k:] = -np.inf
    if top_p < 1.0:
        probs = _softmax(logits)
        before = np.cumsum(probs, axis=1) - probs  # mass of the likelier tokens
        cut = before >= top_p
        cut[:, 0] = False  # at least one token is kept
        logits[cut] = -np.inf
    probs = _softmax(logits / temperature)
    # The first token whose cumulative probability passes u; the last kept one when rounding
    # leaves the whole sum a hair under u.
    chosen = (np.cumsum(probs, axis=1) <= uniforms[:, None]).sum(axis=1)
    chosen = np.minimum(chosen, np.isfinite(logits).sum(axis=1) - 1)
    return ids[np.arange(rows.shape[0]), chosen]


def logprobs(rows: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """log p(chosen token) of each row under the softmax of its logits (temperature 1)."""
    top = rows.max(axis=1)
    total = np.log(np.exp(rows - top[:, None]).sum(axis=1)) + top
    return rows[np.arange(rows.shape[0]), chosen] - total


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
