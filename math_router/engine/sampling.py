"""SamplingParams: how k solutions are sampled. A value below both the llama.cpp decoder
and the specialists (HTTP or GGUF), so each reads the same type."""

from __future__ import annotations

import attrs


@attrs.frozen
class SamplingParams:
    """Qwen2.5's recommended sampling (its generation_config): T 0.7, top_p 0.8, top_k 20."""

    k: int = 4
    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20  # also keeps top_p from sorting the whole vocabulary every token
    seed: int = 0  # sample i uses seed + i


GREEDY = SamplingParams(k=1, temperature=0.0, top_p=1.0, top_k=0)
