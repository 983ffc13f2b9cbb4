"""The response cache: hits send nothing, are counted apart, and survive a kill."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.engine.cache import ResponseCache, cache_dir, cache_key
from math_router.engine.caching import CachedChat
from math_router.specialists.caching import CachedSpecialist
from math_router.engine.chat import OpenAIChat
from math_router.evals.records import read_records
from math_router.specialists.base import SamplingParams
from math_router.specialists.openai_compat import OpenAISpecialist
from math_router.evals.datasets import load_problems
from math_router.testing import (ChatServer, answering_orchestrator, answering_specialist,
                                 completion, tool_call)

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
N, SEED = 6, 7
GOLD = {p.question: p.gold for p in load_problems(GSM8K, N, SEED)}
orchestrator = answering_orchestrator(GOLD)
specialist = answering_specialist(GOLD)
TOOLS = [{"type": "function", "function": {"name": "f", "description": "d",
                                           "parameters": {"type": "object", "properties": {}}}}]


def test_the_cache_lives_under_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c" / "math-router"
    assert ResponseCache().path == tmp_path / "c" / "math-router" / "responses.sqlite"


def test_a_repeated_chat_call_is_a_hit_that_sends_nothing(tmp_path):
    cache = ResponseCache(tmp_path / "r.sqlite")
    with ChatServer(lambda _: completion(tool_calls=[tool_call("f", {})], prompt_tokens=30,
                                         completion_tokens=7)) as server:
        chat = CachedChat(OpenAIChat("gpt-4o-mini", base_url=server.url), cache)
        messages = [{"role": "user", "content": "hi"}]
        first = chat.complete(messages, TOOLS, "auto")
        second = chat.complete(messages, TOOLS, "auto")
        other_tools = chat.complete(messages, [], None)
        other_messages = chat.complete([{"role": "user", "content": "hello"}], TOOLS, "auto")
    assert len(server.requests) == 3  # the repeat was not sent
    assert not first.cached and second.cached
    assert second.tool_requests == first.tool_requests and second.content == first.content
    # The method's own figures stay what the call took; the run spent nothing on it.
    assert (second.usage.input_tokens, second.usage.output_tokens, second.usage.calls) == (30, 7, 1)
    assert second.usage.seconds == first.usage.seconds > 0
    assert (second.usage.cached_input_tokens, second.usage.cached_output_tokens) == (30, 7)
    assert second.usage.cached_calls == 1
    spent = second.usage.spent()
    assert (spent.input_tokens, spent.output_tokens, spent.calls, spent.seconds) == (0, 0, 0, 0.0)
    assert not other_tools.cached and not other_messages.cached


def test_keys_change_with_every_part():
    base = dict(kind="chat", model="m", messages=[{"role": "user", "content": "x"}], tools=[],
                tool_choice=None)
    keys = {cache_key(**base)}
    for change in ({"model": "m2"}, {"messages": []}, {"tools": TOOLS}, {"tool_choice": "auto"}):
        keys.add(cache_key(**{**base, **change}))
    assert len(keys) == 5
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))


def test_samples_are_cached_per_index(tmp_path):
    def sampled(request):  # sample i of a set with seed s is asked with seed s + i
        return completion(f"\\boxed{{{request['seed'] - 5}}}")

    cache = ResponseCache(tmp_path / "r.sqlite")
    with ChatServer(sampled) as server:
        spec = CachedSpecialist(OpenAISpecialist(server.url, "m"), cache)
        params = SamplingParams(k=3, seed=5)
        first = spec.sample("q", params)
        again = spec.sample("q", params)
        other_seed = spec.sample("q", SamplingParams(k=3, seed=6))
    assert [r.answer for r in first.results] == ["0", "1", "2"]
    assert [r.answer for r in again.results] == ["0", "1", "2"]
    assert all(r.details["cached"] for r in again.results)
    assert again.usage.cached_calls == 3 and again.usage.calls == 3
    assert again.usage.spent().calls == 0 and again.usage.input_tokens == first.usage.input_tokens
    # The set's seconds as measured, once: not once per sample.
    assert first.usage.seconds > 0 and again.usage.seconds == pytest.approx(first.usage.seconds)
    assert [r.answer for r in other_seed.results] == ["1", "2", "3"]
    # Three requests a set; the second set came from the cache; seed 6's sample 0 is not
    # seed 5's sample 1 (the key holds both).
    assert len(server.requests) == 6 and not any("n" in r for r in server.requests)


def test_an_eval_rerun_into_a_fresh_folder_sends_nothing(tmp_path):
    args = ["eval", "--dataset", GSM8K, "--n", str(N), "--seed", str(SEED), "--method", "llm,router,slm,cascade",
            "--specialist-model", "qwen-math", "--no-progress", "--price", "qwen-math=0,0"]

    def run(orch, spec, out, *extra):
        result = CliRunner().invoke(cli, [*args, "--out", str(out), "--base-url", orch.url,
                                          "--specialist", spec.url, *extra],
                                    env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output

    def problem_requests(server):  # the test server keeps the checks before each run apart
        assert server.checks
        return server.requests

    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        run(orch, spec, tmp_path / "first")
        sent = len(problem_requests(orch)), len(problem_requests(spec))
        run(orch, spec, tmp_path / "again")
        # nothing about a problem is sent the second time
        assert (len(problem_requests(orch)), len(problem_requests(spec))) == sent
        run(orch, spec, tmp_path / "bypass", "--no-cache")
        assert len(problem_requests(orch)) > sent[0] and len(problem_requests(spec)) > sent[1]

    first = json.loads((tmp_path / "first" / "comparison.json").read_text())["methods"]
    again = json.loads((tmp_path / "again" / "comparison.json").read_text())["methods"]
    for method in ("llm", "router", "slm", "cascade"):
        # The method's own figures are the same, whatever the cache answered...
        for figure in ("accuracy", "input_tokens", "output_tokens", "total_cost_usd"):
            assert again[method][figure] == first[method][figure], (method, figure)
        # (model time as it was; the bookkeeping around it is this run's own, a few ms)
        assert again[method]["mean_seconds"] == pytest.approx(first[method]["mean_seconds"], rel=0.2,
                                                              abs=0.15)
        # ...and what the run spent is apart: nothing, every call from the cache.
        assert again[method]["spent"]["calls"] == 0 and again[method]["spent"]["cached_calls"] > 0
        assert again[method]["spent"]["input_tokens"] == 0
    assert first["llm"]["total_cost_usd"] > 0 and again["llm"]["spent"]["cost_usd"] == 0
    # In one run of llm,router,slm the router asked the specialist first, so every slm call was
    # a cache hit: the slm row still shows the specialist's own tokens and seconds.
    assert first["slm"]["spent"]["calls"] == 0 and first["slm"]["spent"]["cached_calls"] == N
    assert first["slm"]["specialist_output_tokens"] == 200 * N and first["slm"]["mean_seconds"] > 0
    assert first["llm"]["spent"]["cached_calls"] == 0
    for r in read_records(tmp_path / "again" / "results_router.jsonl"):
        # the one orchestrator turn after the router's own slm_help call, and that solve
        assert r["cached_calls"] == 2 and r["spent"]["cached_calls"] == 2


def test_the_cache_survives_a_kill(tmp_path):
    path = tmp_path / "r.sqlite"
    writer = ("import sys; sys.path.insert(0, %r)\n"
              "from math_router.engine.cache import ResponseCache\n"
              "c = ResponseCache(%r)\n"
              "i = 0\n"
              "while True:\n"
              "    c.put(str(i), 'chat', {'i': i, 'pad': 'x' * 2000}); i += 1\n") % (str(ROOT), str(path))
    proc = subprocess.Popen([sys.executable, "-c", writer])
    deadline = time.time() + 30
    while time.time() < deadline and not path.exists():
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    count = db.execute("SELECT count(*) FROM responses").fetchone()[0]
    db.close()
    assert count > 10
    cache = ResponseCache(path)
    assert cache.get("0") == {"i": 0, "pad": "x" * 2000}
    assert cache.get(str(count - 1))["i"] == count - 1


def test_a_turn_asked_at_another_temperature_is_not_the_cached_answer(tmp_path):
    from math_router.engine.turn_params import asking

    cache = ResponseCache(tmp_path / "r.sqlite")
    messages = [{"role": "user", "content": "What is 2+2?"}]
    with ChatServer(lambda r: completion("\\boxed{4}")) as server:
        chat = CachedChat(OpenAIChat("gpt-4o-mini", base_url=server.url, api_key="sk-test"), cache)
        chat.complete(messages, [])
        with asking(temperature=0.7, max_tokens=20):
            chat.complete(messages, [])
            assert chat.complete(messages, []).cached  # the same asked: from the cache
        assert chat.complete(messages, []).cached  # none asked: the first answer again
        sent = [(r.get("temperature"), r.get("max_tokens")) for r in server.requests]
    assert sent[1] == (0.7, 20) and len(sent) == 2
