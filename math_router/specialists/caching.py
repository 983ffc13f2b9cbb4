"""A Specialist whose answers are kept in the ResponseCache (engine.caching does the same
for chat models). A hit costs nothing and sends nothing."""

from __future__ import annotations

import attrs

from math_router.engine.cache import cache_key
from math_router.engine.caching import CachedModel, stored_usage
from math_router.engine.trace import Usage
from math_router.specialists.base import (Reading, SampleSet, SamplingParams, SpecialistResult,
                                          can_read)


class CachedSpecialist(CachedModel):

    reads_hidden_state = property(lambda self: can_read(self.inner))

    def read(self, question: str) -> Reading:
        key = cache_key(kind="read", model=self.identity, question=question)
        stored = self.cache.get(key)
        if stored is not None:
            return Reading(hidden_state=tuple(stored["hidden_state"]),
                           usage=stored_usage(stored["usage"], stored["seconds"]).replayed(),
                           seconds=stored["seconds"], details={**stored["details"], "cached": True})
        reading = self.inner.read(question)
        self.cache.put(key, "read", attrs.asdict(reading))
        return reading

    def solve(self, question: str) -> SpecialistResult:
        key = cache_key(kind="solve", model=self.identity, question=question)
        stored = self.cache.get(key)
        if stored is not None:
            return _from_cache(stored)
        result = self.inner.solve(question)
        self.cache.put(key, "solve", attrs.asdict(result))
        return result

    def sample(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        # An early stop changes which samples finish, so its rule is part of the key.
        keys = [cache_key(kind="sample", model=self.identity, question=question,
                          temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
                          seed=params.seed, index=i, settled=getattr(settled, "key", None))
                for i in range(params.k)]
        stored = [self.cache.get(k) for k in keys]
        if all(s is not None for s in stored):
            results = [_from_cache(s) for s in stored]
            # Each sample's usage holds its share of the set's calls and seconds
            # (all on the first when they were decoded together).
            total = sum((r.usage for r in results), Usage())
            return SampleSet(results, total, total.seconds, {"cached": True})
        samples = self.inner.sample(question, params, settled)  # a partial hit is sampled anew
        for key, result in zip(keys, samples.results):
            self.cache.put(key, "sample", attrs.asdict(result))
        return samples


def _from_cache(stored: dict) -> SpecialistResult:
    """The stored result as it was computed (tokens, seconds), marked as answered by the cache."""
    return SpecialistResult(
        text=stored["text"], answer=stored["answer"],
        usage=stored_usage(stored["usage"], stored["seconds"]).replayed(),
        seconds=stored["seconds"], details={**stored["details"], "cached": True})
