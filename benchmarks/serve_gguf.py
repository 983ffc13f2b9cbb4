"""Serve a GGUF as an OpenAI-compatible chat-completions endpoint, tool calls included.

    python -m benchmarks.serve_gguf --gguf PATH --port 8090 [--name NAME] [--latency 0]

For end-to-end runs and benchmarks on machines without an API: the real openai
client talks HTTP to it, and it answers through the project's own local chat
model (llama.chat.LlamaChat), so `<tool_call>` text comes back as
structured `tool_calls` and a named `tool_choice` is honoured. One request at
a time (the model has one context); `--latency` adds a delay per request.
Beside an eval on the same cores, set OMP_WAIT_POLICY=PASSIVE for both
(docs/benchmarks.md: spinning threads of two processes halve each other).
"""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path


from math_router.llama.chat import LlamaChat
from math_router.llama.runtime import LlamaRuntime
from math_router.testing import ChatServer, completion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--name", default=None, help="model name to report (default: file name)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads (split the cores with another llama.cpp process)")
    args = parser.parse_args()

    chat = LlamaChat(LlamaRuntime(args.gguf, n_threads=args.threads))
    name = args.name or Path(args.gguf).name
    lock = threading.Lock()

    def respond(request: dict):
        with lock:
            chat.max_tokens = request.get("max_tokens") or 1024
            turn = chat.complete(request["messages"], request.get("tools") or [],
                                 request.get("tool_choice"))
        calls = [{"id": r.id, "type": "function",
                  "function": {"name": r.name, "arguments": r.arguments}} for r in turn.tool_requests]
        return completion(turn.content, calls or None, prompt_tokens=turn.usage.input_tokens,
                          completion_tokens=turn.usage.output_tokens, model=name)

    server = ChatServer(respond, delay=args.latency, port=args.port)
    with server:
        print(f"serving {name} at {server.url}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
