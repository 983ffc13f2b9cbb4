"""`math-router serve`: the methods as OpenAI-compatible chat models, over HTTP.

An edge like the command line: it parses a request, calls the same API (an
`api.Solver`, built once at start and shared by every request, so concurrent
requests share the batched decoder, the response cache and the price table) and
shapes the reply. Point any OpenAI client at it and ask for a method as the model:

    OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="...").chat.completions.create(
        model="cascade", messages=[{"role": "user", "content": "What is 27*14+15?"}])

    POST /v1/chat/completions   the last user message is the problem; the reply's content is
                                the final text with the answer in \\boxed{}, usage sums every
                                model call, and `math_router` carries answer, cost, models,
                                how it ended and the tool calls; `stream: true` gets SSE
    GET  /v1/models             the methods served (router, cascade, llm, slm)
    GET  /v1/models/{model}     one of them, or OpenAI's 404 model_not_found
    GET  /health                liveness, and the requests in flight and waiting
    GET  /metrics               Prometheus: requests, latency, tokens and cost by method,
                                in flight (server_metrics)

With `access_log`, one line per request on stderr: client, method, path, status, seconds.

Bad requests get OpenAI-shaped errors (`{"error": {"message", "type", "param",
"code"}}`) with 400, 401, 404, 413 or 429, never a traceback; a failing upstream API
is a 502 with its reason, and the server goes on serving.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import queue
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import attrs

from math_router.engine.errors import (InputTooLong, TransportError, UnusableText, UserError,
                                       check_text)
from math_router.evals.methods import question_text

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DRAIN_FACTOR = 8  # an oversized body is read and dropped up to this many times the limit


@attrs.frozen
class ServerSettings:
    max_concurrency: int = 8  # requests being answered at once (threads over the shared models)
    max_queue: int = 64  # requests waiting for a turn; past that, 429 with Retry-After
    max_body_bytes: int = 1 << 20
    max_question_chars: int = 20_000
    api_key: str | None = None  # clients must send `Authorization: Bearer <key>`
    log: Path | None = None  # one JSON line per request: time, model, question hash, answer, cost
    log_questions: bool = False  # the question's text in the log instead of its hash
    retry_after: int = 2  # seconds a 429 asks the client to wait
    access_log: bool = False  # one line per request on stderr
    # Connections: a request (headers and body) is read within this many seconds of its first
    # byte, or the connection is closed; one client (by address) holds at most
    # `max_connections_per_client`; past `max_connections` in all, uvicorn answers 503. Both
    # stay under the usual limit of 1,024 open files.
    read_seconds: float = 30.0
    max_connections_per_client: int = 256
    max_connections: int = 512


class RequestError(Exception):
    """A request the server refuses, as OpenAI would: status, message, type, param, code."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.type, self.param, self.code = status, type_, param, code
        self.headers = headers or {}

    def response(self):
        from starlette.responses import JSONResponse

        return JSONResponse({"error": {"message": str(self), "type": self.type,
                                       "param": self.param, "code": self.code}},
                            status_code=self.status, headers=self.headers)


def check_host(host: str, api_key: str | None) -> None:
    """Serving beyond this machine needs a key: without one, anyone who reaches the port spends
    the operator's API budget."""
    if host not in LOCAL_HOSTS and not api_key:
        raise UserError(f"--host {host} serves other machines: it needs --server-api-key KEY (or "
                        "MATH_ROUTER_API_KEY), which clients then send as their API key")


def _json(data: dict, status_code: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(data, status_code=status_code)


class ChatService:
    """The server's handlers over one `solver` (api.Solver), each a method: requests are read,
    admitted (a turn, or a place in the queue), answered, logged and counted here; create_app
    routes to them."""

    def __init__(self, solver, settings: ServerSettings):
        import anyio

        from math_router.server_metrics import ServerMetrics

        self.solver, self.settings = solver, settings
        self.limiter = anyio.CapacityLimiter(settings.max_concurrency)
        self.admitted = 0  # in flight and waiting; the event loop is one thread
        self.metrics = ServerMetrics()
        self.metrics.in_flight.set_function(lambda: self.admitted)  # read, never kept twice
        self.log_lock = threading.Lock()
        self.created = int(time.time())

    def authorize(self, request) -> None:
        if self.settings.api_key is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), self.settings.api_key.encode()):
            raise RequestError(401, "Incorrect API key provided: send Authorization: Bearer "
                                    "<the server's key>", code="invalid_api_key")

    async def read_body(self, request) -> dict:
        data = bytearray()
        seen = 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen <= self.settings.max_body_bytes:
                data += chunk
            elif seen > DRAIN_FACTOR * self.settings.max_body_bytes:
                break  # past this, the connection is cut rather than read
        if seen > self.settings.max_body_bytes:
            # Read (and dropped) up to a bound before answering: a client still sending its
            # body when the server closes sees a reset, not the 413.
            raise _too_large(self.settings)
        try:
            body = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting too: not a request
            raise RequestError(400, "the body is not JSON: send a chat completions request "
                                    "as a JSON object") from None
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        return body

    def write_log(self, entry: dict) -> None:
        if self.settings.log is None:
            return
        with self.log_lock, self.settings.log.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def admit(self) -> None:
        """A turn, or a 429 when every turn and every place in the queue is taken."""
        if self.admitted >= self.settings.max_concurrency + self.settings.max_queue:
            raise RequestError(429, f"the server is answering {self.settings.max_concurrency} "
                                    f"requests and {self.settings.max_queue} wait; try again shortly",
                               "rate_limit_error", code="rate_limit_exceeded",
                               headers={"Retry-After": str(self.settings.retry_after)})
        self.admitted += 1

    def release(self) -> None:
        self.admitted -= 1

    def failed(self, e: RequestError, asked: ChatRequest | None, start: float) -> None:
        model = asked.model if asked else None
        if model is not None or e.status >= 500:
            self.write_log(log_entry(self.settings, model, asked.question if asked else "",
                                     None, start, e.status, str(e)))
        self.metrics.answered(model, e.status, time.perf_counter() - start)

    def answered(self, result, asked: ChatRequest, ignored: list[str], start: float) -> dict:
        reply = completion_body(result, asked)
        reply["math_router"]["ignored_fields"] = ignored  # checked, and without effect here
        self.write_log(log_entry(self.settings, asked.model, asked.question, result, start, 200))
        self.metrics.answered(asked.model, 200, time.perf_counter() - start, result.trace)
        return reply

    async def chat_completions(self, request):
        start = time.perf_counter()
        asked = None
        try:
            self.authorize(request)
            body = await self.read_body(request)
            asked = parse_request(body, self.solver.methods, self.settings)
            self.admit()
        except RequestError as e:
            self.failed(e, asked, start)
            return e.response()
        ignored = sorted(k for k in body if k not in READ_FIELDS)
        if asked.stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            from starlette.responses import StreamingResponse

            return StreamingResponse(self.streamed(request, asked, ignored, include_usage, start),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        try:
            result = await solve_while_connected(request, self.solver, asked, self.limiter)
        except RequestError as e:
            self.failed(e, asked, start)
            return e.response()
        finally:
            self.release()
        return _json(self.answered(result, asked, ignored, start))

    async def streamed(self, request, asked: ChatRequest, ignored: list[str], include_usage: bool,
                       start: float):
        """Server-sent events as the answer is made: the role at once, each step the method
        takes (a tool call, the specialist's vote: as `reasoning_content`, which chat UIs show
        as the model's thinking) as it happens, then the answer's text, the finish reason and
        the usage when asked. A failure after the first event is an error event, as OpenAI
        streams one."""
        import asyncio

        steps: queue.Queue = queue.Queue()
        head = chunk_head(asked.model)
        work = asyncio.ensure_future(solve_while_connected(request, self.solver, asked, self.limiter,
                                                           progress=steps.put))
        try:
            yield sse_event({**head, "choices": [{"index": 0, "delta": {
                "role": "assistant", "content": ""}, "finish_reason": None}]})
            while True:
                while not steps.empty():
                    line = steps.get()
                    yield sse_event({**head, "choices": [{"index": 0, "delta": {
                        "reasoning_content": line + "\n"}, "finish_reason": None}],
                        "math_router": {"progress": line}})
                if work.done():
                    break
                await asyncio.sleep(0.1)
            try:
                result = work.result()
            except RequestError as e:
                self.failed(e, asked, start)
                yield sse_event({"error": {"message": str(e), "type": e.type, "param": e.param,
                                           "code": e.code}})
                yield b"data: [DONE]\n\n"
                return
            reply = self.answered(result, asked, ignored, start)
            for event in sse_chunks({**reply, "id": head["id"], "created": head["created"]},
                                    include_usage, with_role=False):
                yield event
        finally:
            self.release()
            if not work.done():
                work.cancel()

    async def models(self, request):
        try:
            self.authorize(request)
        except RequestError as e:
            return e.response()
        return _json({"object": "list", "data": [
            {"id": m, "object": "model", "created": self.created, "owned_by": "math-router"}
            for m in self.solver.methods]})

    async def one_model(self, request):
        try:
            self.authorize(request)
            model = request.path_params["model"]
            if model not in self.solver.methods:
                raise RequestError(404, f"The model '{model}' does not exist; this server serves "
                                        + ", ".join(self.solver.methods), param="model",
                                   code="model_not_found")
        except RequestError as e:
            return e.response()
        return _json({"id": model, "object": "model", "created": self.created,
                             "owned_by": "math-router"})

    async def metrics_text(self, request):
        try:
            self.authorize(request)
        except RequestError as e:
            return e.response()
        from starlette.responses import Response

        body, content_type = self.metrics.exposition()
        return Response(body, media_type=content_type)

    async def health(self, request):
        return _json({"status": "ok", "models": self.solver.methods,
                             "in_flight_and_waiting": self.admitted,
                             "max_concurrency": self.settings.max_concurrency,
                             "max_queue": self.settings.max_queue})

    async def http_error(self, request, exc):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return RequestError(exc.status_code, f"{request.method} {request.url.path}: "
                                             f"{exc.detail}", code=code).response()

    async def unexpected(self, request, exc: Exception):  # a bug of ours: a line, never a traceback out
        print(f"math-router serve: {type(exc).__name__}: {exc}", file=sys.stderr)
        return RequestError(500, f"internal error ({type(exc).__name__})", "server_error").response()


def create_app(solver, settings: ServerSettings = ServerSettings()):
    """The ASGI app: Starlette routes to a ChatService's handlers."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.routing import Route

    service = ChatService(solver, settings)
    app = Starlette(routes=[
        Route("/v1/chat/completions", service.chat_completions, methods=["POST"]),
        Route("/v1/models", service.models, methods=["GET"]),
        Route("/v1/models/{model:path}", service.one_model, methods=["GET"]),
        Route("/health", service.health, methods=["GET"]),
        Route("/metrics", service.metrics_text, methods=["GET"]),
    ], exception_handlers={HTTPException: service.http_error, Exception: service.unexpected})
    return AccessLog(app) if settings.access_log else app


class AccessLog:
    """One line per request on stderr, as web servers write them: client, method, path, status,
    seconds (never a header: a key travels in one). ASGI middleware around the app."""

    def __init__(self, app, write=lambda line: print(line, file=sys.stderr, flush=True)):
        self.app, self.write = app, write

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = [0]

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("-", 0)
            self.write(f'{client[0]} "{scope["method"]} {scope["path"]}" {status[0] or "-"} '
                       f'{time.perf_counter() - start:.3f}s')


def _too_large(settings: ServerSettings) -> RequestError:
    return RequestError(413, f"the body is over {settings.max_body_bytes:,} bytes",
                        code="request_too_large")


# The fields a request may carry: what this server reads, and what it checks as OpenAI does but
# does not use (a method's own models choose their sampling; the reply says which it ignored).
READ_FIELDS = {"model", "messages", "stream", "stream_options", "n", "seed", "stop",
               "temperature", "top_p", "max_tokens", "max_completion_tokens"}

# Fields with a value no method can honour: refused with a 400 naming them, never ignored.
def _refused(body: dict) -> tuple[str, str] | None:
    format_ = body.get("response_format")
    if isinstance(format_, dict) and format_.get("type") not in (None, "text"):
        return "response_format", ("the methods answer in text, with the answer in \\boxed{}; "
                                   "send response_format {\"type\": \"text\"} or none")
    if body.get("logprobs") or body.get("top_logprobs"):
        return ("logprobs" if body.get("logprobs") else "top_logprobs",
                "an answer is composed from several models' calls: it has no token "
                "log-probabilities")
    if body.get("logit_bias"):
        return "logit_bias", "the methods' models are several: no one vocabulary to bias"
    for name in ("presence_penalty", "frequency_penalty"):
        if body.get(name):
            return name, "the methods' models sample with their own settings; send 0 or none"
    return None


def _number(low: float, high: float):
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high


def _integer(low: int, high: int = 2 ** 53):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _stop(v) -> bool:
    return isinstance(v, str) or (isinstance(v, list) and len(v) <= 4
                                  and all(isinstance(s, str) for s in v))


CHECKED_FIELDS: dict[str, tuple[Any, str]] = {
    "temperature": (_number(0, 2), "a number from 0 to 2"),
    "top_p": (_number(0, 1), "a number from 0 to 1"),
    "max_tokens": (_integer(1), "an integer of at least 1"),
    "max_completion_tokens": (_integer(1), "an integer of at least 1"),
    "seed": (_integer(-2 ** 63, 2 ** 63 - 1), "an integer"),
    "stop": (_stop, "a string or a list of up to 4 strings"),
    "presence_penalty": (_number(-2, 2), "a number from -2 to 2"),
    "frequency_penalty": (_number(-2, 2), "a number from -2 to 2"),
    "logprobs": (lambda v: isinstance(v, bool), "true or false"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "response_format": (lambda v: isinstance(v, dict) and isinstance(v.get("type"), str),
                        "an object with a type"),
    "reasoning_effort": (lambda v: isinstance(v, str), "a string"),
    "metadata": (lambda v: isinstance(v, dict), "an object"),
    "store": (lambda v: isinstance(v, bool), "true or false"),
    "parallel_tool_calls": (lambda v: isinstance(v, bool), "true or false"),
    "logit_bias": (lambda v: isinstance(v, dict), "an object of token ids to biases"),
    "top_logprobs": (_integer(0, 20), "an integer from 0 to 20"),
    "service_tier": (lambda v: isinstance(v, str), "a string"),
    "modalities": (lambda v: isinstance(v, list), "a list"),
    "prompt_cache_key": (lambda v: isinstance(v, str), "a string"),
    "safety_identifier": (lambda v: isinstance(v, str), "a string"),
    "verbosity": (lambda v: isinstance(v, str), "a string"),
}


def check_fields(body: dict) -> None:
    """Every field a request carries, checked as OpenAI checks it: an OpenAI-shaped 400 that
    names the first that is wrong or unknown; tools are refused (a method brings its own)."""
    for name in ("tools", "tool_choice", "functions", "function_call"):
        if name in body:
            raise RequestError(400, f"{name}: this server's methods bring their own tools; "
                                    f"send the problem as the user message", param=name)
    for name, value in body.items():
        if name in READ_FIELDS:
            continue
        if name not in CHECKED_FIELDS:
            raise RequestError(400, f"Unrecognized request argument supplied: {name}", param=name)
        valid, wanted = CHECKED_FIELDS[name]
        if value is not None and not valid(value):
            raise RequestError(400, f"{name} must be {wanted}, got {json.dumps(value)[:60]}",
                               param=name, code="invalid_type")
    options = body.get("stream_options")
    if options is not None and (not isinstance(options, dict) or not isinstance(
            options.get("include_usage", False), bool)):
        raise RequestError(400, "stream_options must be an object like {\"include_usage\": true}",
                           param="stream_options", code="invalid_type")
    for name in ("seed", "stop", "temperature", "top_p", "max_tokens", "max_completion_tokens"):
        # read, so checked here as the others are
        valid, wanted = CHECKED_FIELDS[name]
        if body.get(name) is not None and not valid(body[name]):
            raise RequestError(400, f"{name} must be {wanted}, got {json.dumps(body[name])[:60]}",
                               param=name, code="invalid_type")
    refused = _refused(body)
    if refused is not None:
        raise RequestError(400, f"{refused[0]}: {refused[1]}", param=refused[0],
                           code="unsupported_parameter")


@attrs.frozen
class ChatRequest:
    """What a chat completions request asks, as the server reads it."""

    model: str  # the method
    question: str  # the last user message
    history: tuple[dict, ...]  # the turns before it: system prompts, earlier messages
    stream: bool = False
    seed: int | None = None  # seeds the samples of this question
    stop: tuple[str, ...] = ()  # the reply's text ends before the first of these
    # The orchestrator's turns, for this request (engine.turn_params): temperature, top_p,
    # max_tokens (max_completion_tokens by its newer name).
    turn: dict = attrs.field(factory=dict)


# Roles a conversation may hold; a developer message is a system prompt by OpenAI's newer name.
ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


def parse_request(body: dict, methods: list[str], settings: ServerSettings) -> ChatRequest:
    """The request, read (or the RequestError it earns): the last user message is the problem,
    the turns before it its conversation."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError(400, "model is required: one of " + ", ".join(methods), param="model")
    if model not in methods:
        raise RequestError(404, f"The model '{model}' does not exist; this server serves "
                                + ", ".join(methods), param="model", code="model_not_found")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(400, "messages must be a non-empty list of messages", param="messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise RequestError(400, "each message must be an object with a role", param="messages")
    last = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last is None:
        raise RequestError(400, "no user message: the last user message is the problem",
                           param="messages")
    question = text_of(messages[last].get("content"))
    if question is None:
        raise RequestError(400, "the user message's content must be text (a string or text parts)",
                           param="messages")
    try:
        question = question_text(question)
    except (UserError, UnusableText) as e:
        raise RequestError(400, str(e), param="messages") from None
    if len(question) > settings.max_question_chars:
        raise RequestError(400, f"the question is {len(question):,} characters; this server takes "
                                f"at most {settings.max_question_chars:,}", param="messages",
                           code="string_above_max_length")
    history = conversation_before(messages[:last], settings)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(400, "stream must be true or false", param="stream")
    n = body.get("n", 1)
    if not _integer(1, 1)(n):
        raise RequestError(400, "n must be 1: a method gives one answer per request", param="n")
    check_fields(body)
    stop = body.get("stop")
    turn = {"temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "max_tokens": body.get("max_completion_tokens", body.get("max_tokens"))}
    return ChatRequest(model, question, history, stream, seed=body.get("seed"),
                       stop=(stop,) if isinstance(stop, str) else tuple(stop or ()),
                       turn={k: v for k, v in turn.items() if v is not None})


def conversation_before(messages: list[dict], settings: ServerSettings) -> tuple[dict, ...]:
    """The turns before the question, as the orchestrator reads them; tool turns are refused
    (a method brings its own tools), and the whole is held to the question's length limit."""
    turns = []
    for m in messages:
        role = ROLES.get(m["role"])
        if role is None or m.get("tool_calls") or m.get("function_call"):
            raise RequestError(400, f"a {m['role']} message: this server's methods bring their own "
                                    "tools; a conversation holds system, user and assistant "
                                    "messages", param="messages")
        text = text_of(m.get("content"))
        if text is None:
            raise RequestError(400, f"a {m['role']} message's content must be text",
                               param="messages")
        try:
            check_text(text, f"a {m['role']} message")
        except UnusableText as e:
            raise RequestError(400, str(e), param="messages") from None
        turns.append({"role": role, "content": text})
    if sum(len(t["content"]) for t in turns) > settings.max_question_chars:
        raise RequestError(400, f"the conversation before the question is over "
                                f"{settings.max_question_chars:,} characters", param="messages",
                           code="string_above_max_length")
    return tuple(turns)


def text_of(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list; None for anything else."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [p.get("text") for p in content if p.get("type") == "text"]
        if texts and all(isinstance(t, str) for t in texts):
            return "\n".join(texts)
    return None


async def solve_while_connected(request, solver, asked: ChatRequest, limiter, progress=None):
    """`solve` on a worker thread, stopped at its next model call if the client disconnects
    (nothing more is paid for an answer nobody will read; the log says 499, not 200).
    `progress` receives each step's line as it happens (a streamed reply shows them)."""
    import anyio

    from math_router.engine.cancel import cancellable
    from math_router.engine.progress import reporting
    from math_router.engine.turn_params import asking

    gone = threading.Event()

    def work():
        steps = reporting(progress) if progress is not None else contextlib.nullcontext()
        with cancellable(gone), steps, asking(**asked.turn):
            return solve(solver, asked)

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.25)
        gone.set()

    outcome: dict = {}
    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        try:
            outcome["result"] = await anyio.to_thread.run_sync(work, limiter=limiter)
        except Exception as e:  # raised below, outside the group (which would wrap it)
            outcome["error"] = e
        finally:
            group.cancel_scope.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def solve(solver, asked: ChatRequest):
    """The method's answer, with failures turned into what the client should see."""
    from math_router.engine.cancel import Cancelled

    try:
        return solver.solve(asked.question, asked.model, history=asked.history, seed=asked.seed)
    except Cancelled as e:  # nginx's "client closed request": nobody reads it, the log does
        raise RequestError(499, str(e), "client_closed_request") from None
    except TransportError as e:  # the orchestrator's or the specialist's API failed
        raise RequestError(502, f"upstream: {e}", "upstream_error", code="upstream_failed") from None
    except InputTooLong as e:
        raise RequestError(400, str(e), param="messages", code="context_length_exceeded") from None
    except UserError as e:  # the server's own setup: the operator's to fix, not the client's
        raise RequestError(500, str(e), "server_error") from None


def final_content(result, stop: tuple[str, ...] = ()) -> str:
    """The final text, with the answer in \\boxed{} even when the model stated it otherwise,
    ended before the first `stop` string as a model's reply would be."""
    from math_router.engine.answers import last_boxed

    text = (result.trace.final_text or "").strip()
    if result.answer is not None and last_boxed(text) is None:
        text = (text + "\n\n" if text else "") + f"\\boxed{{{result.answer}}}"
    cuts = [text.find(s) for s in stop if s and s in text]
    return text[:min(cuts)] if cuts else text


def completion_body(result, asked: ChatRequest) -> dict:
    """A chat.completion for `result`: usage sums every model call; `math_router` says the rest
    (with how the method read the conversation, when there was one)."""
    from math_router.evals.methods import DECLARED
    from math_router.evals.records import summary

    model = asked.model

    trace = result.trace
    prompt = sum(u.input_tokens for u in trace.usage.values())
    completion = sum(u.output_tokens for u in trace.usage.values())
    said = summary(trace)
    vote = said["vote"]
    extra = {"answer": result.answer, "cost_usd": said["cost_usd"],
             "component_cost_usd": said["component_cost_usd"], "ended": trace.ended,
             "stopped": trace.stopped, "models": said["models"], "local": said["local"],
             "tool_calls": said["tool_calls"], "seconds": said["seconds"], "usage": said["usage"],
             "vote": None if vote is None else {k: vote.get(k) for k in (
                 "agreement", "escalated", "threshold", "majority", "candidates")}}
    if asked.turn and not trace.turns:  # no orchestrator turn took them
        extra["unused_parameters"] = sorted(asked.turn)
    if asked.history:
        extra["conversation"] = (
            "the orchestrator read the whole conversation" if DECLARED[model].reads_conversation
            else f"{model} answers the last user message alone (its models read no conversation); "
                 "ask llm or router to answer in context")
    return {"id": f"chatcmpl-mr-{uuid.uuid4().hex[:24]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": final_content(result, asked.stop)},
                         "logprobs": None,
                         "finish_reason": "stop" if trace.stopped == "answer" else "length"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion,
                      # Of the completion, the hidden reasoning, where a model reasoned.
                      "completion_tokens_details": {"reasoning_tokens": sum(
                          u.reasoning_tokens for u in trace.usage.values())}},
            "math_router": extra}


def chunk_head(model: str) -> dict:
    return {"id": f"chatcmpl-mr-{uuid.uuid4().hex[:24]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}


def sse_event(data: dict) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def sse_chunks(reply: dict, include_usage: bool, piece: int = 64, with_role: bool = True):
    """The finished reply as chat.completion.chunk events: the role, the text in pieces, the
    finish reason (with `math_router`), the usage when asked, then [DONE]."""
    base = {"id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"],
            "model": reply["model"]}
    choice = reply["choices"][0]
    text = choice["message"]["content"]
    if with_role:
        yield sse_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                      "content": ""},
                                              "finish_reason": None}]})
    for start in range(0, len(text), piece):
        yield sse_event({**base, "choices": [{"index": 0, "delta": {
            "content": text[start:start + piece]}, "finish_reason": None}]})
    yield sse_event({**base, "choices": [{"index": 0, "delta": {},
                                          "finish_reason": choice["finish_reason"]}],
                     "math_router": reply["math_router"]})
    if include_usage:
        yield sse_event({**base, "choices": [], "usage": reply["usage"]})
    yield b"data: [DONE]\n\n"


def log_entry(settings: ServerSettings, model: str | None, question: str, result, start: float,
              status: int, error: str | None = None) -> dict:
    """What the operator's log keeps of a request: never a key, the question only if asked."""
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "model": model, "status": status,
             "seconds": round(time.perf_counter() - start, 4)}
    if settings.log_questions:
        entry["question"] = question
    else:
        entry["question_sha256"] = hashlib.sha256(question.encode("utf-8")).hexdigest()[:16]
    if result is not None:
        entry.update(answer=result.answer, cost_usd=result.trace.cost_usd,
                     ended=result.trace.ended)
    if error is not None:
        entry["error"] = error
    return entry


def serve(solver, host: str, port: int, settings: ServerSettings,
          notify=lambda line: print(line, file=sys.stderr)) -> None:
    """Serve until interrupted (uvicorn)."""
    try:
        import uvicorn
    except ImportError:
        raise UserError("math-router serve needs starlette and uvicorn: pip install "
                        "'math-router[serve]'") from None
    check_host(host, settings.api_key)
    app = create_app(solver, settings)
    notify(f"serving {', '.join(solver.methods)} on http://{host}:{port}/v1"
           + (" (clients send the server's key)" if settings.api_key else ""))
    from math_router.server_connections import limited_protocol

    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                server_header=False, limit_concurrency=settings.max_connections,
                http=limited_protocol(settings.read_seconds, settings.max_connections_per_client))
