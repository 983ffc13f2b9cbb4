"""`math-router serve` in a second process, called with the real openai client: answers, streams,
the bad-request cases, auth, limits, an upstream failure, the log."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from math_router.testing import (ChatServer, completion, error, free_port, has_tool_result,
                                 tool_call, user_question, wait_until_serving)

ROOT = Path(__file__).resolve().parents[1]
ORCHESTRATOR_KEY = "sk-orchestrator-secret-123"


def orchestrator(request: dict):
    question = user_question(request)
    if "fail upstream" in question:
        return error(500, f"upstream broke; your key was {ORCHESTRATOR_KEY}")
    if "tools" in request and not has_tool_result(request):
        return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                          prompt_tokens=100, completion_tokens=20)
    numbers = [int(x) for x in re.findall(r"\d+", question)]
    return completion(f"Adding up, it is {sum(numbers)}.", prompt_tokens=50, completion_tokens=20)


def specialist(request: dict):
    numbers = [int(x) for x in re.findall(r"\d+", user_question(request))]
    answers = [str(sum(numbers))] * request.get("n", 1)
    return completion(choices=[{"index": i, "message": {"role": "assistant",
                                                        "content": f"So \\boxed{{{a}}}"},
                                "finish_reason": "stop"} for i, a in enumerate(answers)],
                      prompt_tokens=30, completion_tokens=40)


class Served:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path, output: Path):
        self.url, self.proc, self.log, self.output = url, proc, log, output

    def client(self, key: str = "-", retries: int = 0) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=retries, timeout=30)


def start(tmp: Path, orch: ChatServer, spec: ChatServer, *extra: str) -> Served:
    port = free_port()
    log, output = tmp / "requests.jsonl", tmp / "server.out"
    sink = output.open("w")
    proc = subprocess.Popen(
        [sys.executable, "cli.py", "serve", "--port", str(port), "--base-url", orch.url,
         "--specialist", spec.url, "--specialist-model", "qwen-math", "--price", "qwen-math=0,0",
         "--no-cache", "--log", str(log), *extra],
        cwd=ROOT, env={**os.environ, "OPENAI_API_KEY": ORCHESTRATOR_KEY}, stdout=sink,
        stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(proc, url + "/health", output, seconds=60)
    except RuntimeError as e:
        pytest.fail(f"serve: {e}")
    return Served(url + "/v1", proc, log, output)


@pytest.fixture(scope="module")
def upstream():
    with ChatServer(orchestrator) as orch, ChatServer(specialist) as spec:
        yield orch, spec


@pytest.fixture(scope="module")
def server(upstream, tmp_path_factory):
    served = start(tmp_path_factory.mktemp("serve"), *upstream)
    yield served
    served.proc.terminate()
    served.proc.wait(timeout=30)


def ask(client, model="cascade", question="What is 20 plus 22?", **kw):
    return client.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": question}], **kw)


def test_a_method_answers_like_any_openai_model(server):
    reply = ask(server.client(), "router")
    assert reply.model == "router" and reply.object == "chat.completion"
    # The orchestrator stated the answer without \boxed: the server boxes it.
    assert reply.choices[0].message.content.endswith("\\boxed{42}")
    assert reply.choices[0].finish_reason == "stop"
    # Usage sums every model call: the specialist's 30 + 40 and the orchestrator's 50 + 20.
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (80, 60)
    extra = reply.math_router
    assert extra["answer"] == "42" and extra["ended"] == "orchestrator"
    assert extra["models"] == {"orchestrator": "gpt-4o-mini", "specialist": "qwen-math"}
    assert [c["name"] for c in extra["tool_calls"]] == ["slm_help"]
    assert extra["cost_usd"] == pytest.approx((50 * 0.15 + 20 * 0.60) / 1e6)
    cascade = ask(server.client(), "cascade").math_router
    assert cascade["answer"] == "42" and cascade["vote"]["escalated"] is False
    assert cascade["cost_usd"] == 0.0  # the samples agreed: no orchestrator call


def test_models_health_and_a_stream(server):
    assert [m.id for m in server.client().models.list()] == ["llm", "router", "slm", "cascade"]
    with urllib.request.urlopen(server.url.removesuffix("/v1") + "/health") as r:
        assert json.load(r)["status"] == "ok"
    chunks = list(ask(server.client(), "slm", question="What is 1 plus 2?", stream=True,
                      stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "So \\boxed{3}"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage.total_tokens == 70


def status_of(call) -> tuple[int, dict]:
    try:
        call()
    except openai.APIStatusError as e:
        return e.status_code, e.body
    return 200, {}


def raw(server: Served, body: bytes, path: str = "/chat/completions", method: str = "POST"):
    request = urllib.request.Request(server.url + path, data=body if method == "POST" else None,
                                     method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_bad_requests_get_openai_shaped_errors(server):
    client = server.client()
    cases = [
        (lambda: client.chat.completions.create(model="gpt-5", messages=[
            {"role": "user", "content": "1+1"}]), 404, "model_not_found"),
        (lambda: client.chat.completions.create(model="llm", messages=[]), 400, None),
        (lambda: client.chat.completions.create(model="llm", messages=[
            {"role": "system", "content": "hi"}]), 400, None),
        (lambda: ask(client, "llm", question="   "), 400, None),
        (lambda: ask(client, "llm", question="x" * 20_001), 400, "string_above_max_length"),
        (lambda: ask(client, "llm", n=2), 400, None),
    ]
    for call, status, code in cases:
        got, body = status_of(call)
        assert got == status and body["code"] == code and body["message"], body
    for body, status, param in [(b"not json", 400, None), (b"[1, 2]", 400, None),
                                (json.dumps({"model": 3, "messages": []}).encode(), 400, "model"),
                                (json.dumps({"model": "llm", "messages": "hi"}).encode(), 400,
                                 "messages"),
                                (json.dumps({"model": "llm", "stream": "yes", "messages": [
                                    {"role": "user", "content": "1"}]}).encode(), 400, "stream"),
                                (json.dumps({"model": "llm", "messages": [
                                    {"role": "user", "content": {"a": 1}}]}).encode(), 400,
                                 "messages"),
                                (b"x" * (1 << 20 + 1), 413, None)]:
        got, reply = raw(server, body)
        assert got == status, (body[:60], reply)
        assert set(reply["error"]) == {"message", "type", "param", "code"}
        assert reply["error"]["param"] == param
    assert raw(server, b"", "/nowhere", "GET")[0] == 404
    assert raw(server, b"", "/chat/completions", "GET")[0] == 405


def test_a_failing_upstream_is_a_502_without_the_key_and_the_server_goes_on(server):
    got, body = status_of(lambda: ask(server.client(), "llm", question="please fail upstream"))
    assert got == 502 and body["type"] == "upstream_error" and "HTTP 500" in body["message"]
    assert ORCHESTRATOR_KEY not in json.dumps(body)
    assert ask(server.client(), "llm").math_router["answer"] == "42"
    log = server.log.read_text()
    assert ORCHESTRATOR_KEY not in log and ORCHESTRATOR_KEY not in server.output.read_text()
    entries = [json.loads(line) for line in log.splitlines()]
    assert {"time", "model", "question_sha256", "answer", "cost_usd", "seconds"} <= set(entries[0])
    assert all("question" not in e for e in entries)  # a hash unless --log-questions
    assert any(e["status"] == 502 for e in entries)


def test_a_key_is_required_when_set_and_compared(upstream, tmp_path):
    served = start(tmp_path, *upstream, "--server-api-key", "client-key-1", "--log-questions")
    try:
        assert status_of(lambda: ask(served.client("wrong"), "llm"))[0] == 401
        assert status_of(lambda: served.client("wrong").models.list())[0] == 401
        assert ask(served.client("client-key-1"), "llm").math_router["answer"] == "42"
        assert json.loads(served.log.read_text().splitlines()[-1])["question"] == "What is 20 plus 22?"
    finally:
        served.proc.terminate()
        served.proc.wait(timeout=30)


def test_another_host_without_a_key_refuses_to_start(upstream):
    orch, spec = upstream
    proc = subprocess.run([sys.executable, "cli.py", "serve", "--host", "0.0.0.0", "--base-url",
                           orch.url], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OPENAI_API_KEY": ORCHESTRATOR_KEY})
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "needs --server-api-key" in proc.stderr


def test_past_the_queue_limit_it_answers_429_with_retry_after_never_a_hang(tmp_path):
    slow = threading.Event()

    def waiting(request):
        slow.wait(10)
        return orchestrator(request)

    with ChatServer(waiting) as orch, ChatServer(specialist) as spec:
        served = start(tmp_path, orch, spec, "--max-concurrency", "1", "--max-queue", "1")
        try:
            client = served.client()
            with ThreadPoolExecutor(3) as pool:
                first = [pool.submit(ask, client, "llm", question=f"What is {i} plus 1?")
                         for i in range(2)]
                time.sleep(1.0)  # one answering, one waiting: the next is refused at once
                start_refused = time.perf_counter()
                try:
                    ask(client, "llm")
                    pytest.fail("a third request past the limit was answered")
                except openai.RateLimitError as e:
                    assert e.response.headers["retry-after"] == "2"
                    assert e.body["type"] == "rate_limit_error"
                assert time.perf_counter() - start_refused < 2
                slow.set()
                assert [f.result().math_router["answer"] for f in first] == ["1", "2"]
        finally:
            served.proc.terminate()
            served.proc.wait(timeout=30)


def test_many_concurrent_clients_lose_nothing(server):
    questions = [f"What is {i} plus {i}?" for i in range(60)]
    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(lambda q: ask(server.client(retries=0), "cascade", question=q),
                                questions))
    assert [r.math_router["answer"] for r in replies] == [str(2 * i) for i in range(60)]


def test_metrics_one_model_and_the_access_log(upstream, tmp_path):
    served = start(tmp_path, *upstream, "--access-log")
    try:
        client = served.client()
        assert ask(client, "llm").math_router["answer"] == "42"
        assert ask(client, "slm").math_router["answer"] == "42"
        got, _ = status_of(lambda: ask(client, "gpt-5"))
        assert got == 404
        assert client.models.retrieve("cascade").id == "cascade"
        missing, body = status_of(lambda: client.models.retrieve("gpt-5"))
        assert missing == 404 and body["code"] == "model_not_found"
        with urllib.request.urlopen(served.url.removesuffix("/v1") + "/metrics") as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            text = r.read().decode()
    finally:
        served.proc.terminate()
        served.proc.wait(timeout=30)
    assert 'math_router_requests_total{method="llm",status="200"} 1.0' in text
    # A model it does not serve is counted under "-": a client's made-up names never become labels.
    assert 'math_router_requests_total{method="-",status="404"} 1.0' in text
    assert 'math_router_request_seconds_count{method="slm"} 1.0' in text
    # The orchestrator test server bills 100 in / 20 out... whatever it says, tokens are counted.
    assert 'math_router_tokens_total{component="orchestrator",direction="input",method="llm"}' in text
    assert "math_router_cost_usd_total" in text and "math_router_requests_in_flight 0.0" in text
    lines = served.output.read_text().splitlines()
    assert any('"POST /v1/chat/completions" 200 ' in line for line in lines)
    assert any('"GET /v1/models/cascade" 200 ' in line for line in lines)
    assert not any(ORCHESTRATOR_KEY in line for line in lines)


# -- a drop-in chat model: the conversation, the parameters, a stream that shows the steps --


CHAT = [{"role": "system", "content": "You tutor a class."},
        {"role": "user", "content": "A class of 30 students shares 90 pencils. How many each?"},
        {"role": "assistant", "content": "Each gets \\boxed{3}."},
        {"role": "user", "content": "And with 45 students?"}]


def test_the_conversation_reaches_the_orchestrator_whole(server, upstream):
    orch, spec = upstream
    client = server.client()
    reply = client.chat.completions.create(model="llm", messages=CHAT)
    sent = orch.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "system", "user", "assistant", "user"]
    assert sent[1]["content"] == "You tutor a class." and sent[-1]["content"] == "And with 45 students?"
    assert reply.math_router["conversation"] == "the orchestrator read the whole conversation"

    before = len(orch.requests)
    routed = client.chat.completions.create(model="router", messages=CHAT)
    first = orch.requests[before]
    # After earlier turns the orchestrator writes the specialist's problem (no direct call).
    assert first["tools"] and [m["role"] for m in first["messages"]][-3:] == ["user", "assistant", "user"]
    assert routed.math_router["tool_calls"][0]["name"] == "slm_help"

    alone = client.chat.completions.create(model="slm", messages=CHAT)
    assert "answers the last user message alone" in alone.math_router["conversation"]
    assert user_question(spec.requests[-1]) == "And with 45 students?"


def test_seed_and_stop_are_honoured_and_the_unhonourable_refused(server, upstream):
    orch, spec = upstream
    client = server.client()
    before = len(spec.requests)
    ask(client, "cascade", question="What is 2 plus 5?", seed=100)
    seeds = sorted(r.get("seed") for r in spec.requests[before:])
    assert seeds[:2] == [100, 101]  # the samples are seeded from the request's seed
    cut = ask(client, "llm", stop=["it is"])
    assert cut.choices[0].message.content == "Adding up, "
    for extra, param in (({"response_format": {"type": "json_object"}}, "response_format"),
                         ({"logprobs": True}, "logprobs"), ({"logit_bias": {"1": 2}}, "logit_bias"),
                         ({"frequency_penalty": 0.5}, "frequency_penalty")):
        got, body = status_of(lambda: ask(client, "llm", **extra))
        assert got == 400 and body["param"] == param and body["code"] == "unsupported_parameter"
    assert ask(client, "llm", response_format={"type": "text"}).math_router["answer"] == "42"


def test_a_stream_shows_each_step_as_it_happens_then_the_answer(server):
    chunks = list(ask(server.client(), "router", question="What is 19 plus 23?", stream=True,
                      stream_options={"include_usage": True}))
    steps = [c.choices[0].delta.model_extra.get("reasoning_content") for c in chunks
             if c.choices and c.choices[0].delta.model_extra.get("reasoning_content")]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert any("slm_help" in s for s in steps), steps  # the tool call, before the answer
    first_text = next(i for i, c in enumerate(chunks) if c.choices and c.choices[0].delta.content)
    last_step = max(i for i, c in enumerate(chunks)
                    if c.choices and c.choices[0].delta.model_extra.get("reasoning_content"))
    assert last_step < first_text
    assert text.endswith("\\boxed{42}") and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1
