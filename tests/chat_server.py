"""A real HTTP server on 127.0.0.1 that speaks chat-completions, with scripted replies.

Tests and benchmarks point the real openai client at it, so the whole HTTP
path runs. A reply is chosen by a function of the request (or popped from a
script) and may be a completion, an HTTP error, or a delay.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
                 port: int = 0):
        self.requests: list[dict] = []
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

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                if not self.path.endswith("/chat/completions"):
                    reply = error(404, f"no route {self.path}")
                else:
                    try:
                        reply = server._respond(body)
                    except Exception as e:  # a broken script shows up as a 500, not a hang
                        reply = error(500, f"test server: {type(e).__name__}: {e}")
                time.sleep(server.delay + reply.delay)
                data = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output quiet
                pass

        return Handler
