"""A Specialist whose answers are kept in the ResponseCache (engine.caching does the same
for chat models). A hit costs nothing and sends nothing."""

from __future__ import annotations

import time

import attrs

from math_router.engine.cache import cache_key
from math_router.engine.caching import CachedModel
from math_router.engine.trace import Usage
from math_router.specialists.base import SampleSet, SamplingParams, SpecialistResult


class CachedSpecialist(CachedModel):

    def solve(self, question: str) -> SpecialistResult:
        key = cache_key(kind="solve", model=self.identity, question=question)
        start = time.perf_counter()
        stored = self.cache.get(key)
        if stored is not None:
            return _from_cache(stored, time.perf_counter() - start)
        result = self.inner.solve(question)
        self.cache.put(key, "solve", attrs.asdict(result))
        return result

    def sample(self, question: str, params: SamplingParams, settled=None) -> SampleSet:
        # An early stop changes which samples finish, so its rule is part of the key.
        keys = [cache_key(kind="sample", model=self.identity, question=question,
                          temperature=params.temperature, top_p=params.top_p, top_k=params.top_k,
                          seed=params.seed, index=i, settled=getattr(settled, "key", None))
                for i in range(params.k)]
        start = time.perf_counter()
        stored = [self.cache.get(k) for k in keys]
        if all(s is not None for s in stored):
            seconds = time.perf_counter() - start
            results = [_from_cache(s, seconds) for s in stored]
            total = sum((r.usage for r in results), Usage())
            # One cached request, as the real one was one request.
            return SampleSet(results, attrs.evolve(total, cached_calls=1), seconds, {"cached": True})
        samples = self.inner.sample(question, params, settled)  # a partial hit is sampled anew
        for key, result in zip(keys, samples.results):
            self.cache.put(key, "sample", attrs.asdict(result))
        return samples


def _from_cache(stored: dict, seconds: float) -> SpecialistResult:
    usage = Usage(**stored["usage"])
    return SpecialistResult(
        text=stored["text"], answer=stored["answer"],
        usage=Usage.of_call(usage.input_tokens, usage.output_tokens, cached=True),
        seconds=seconds,
        details={**stored["details"], "cached": True, "original_seconds": stored["seconds"]})
