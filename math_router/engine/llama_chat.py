"""A local chat model: a Qwen2.5 Instruct GGUF in process, behind the ChatModel protocol.

Converts at this edge: history goes to the GGUF's chat template with tool-call
arguments as dicts (Qwen's template applies `tojson`), and the model's
`<tool_call>` text comes back as OpenAI tool calls.
"""

from __future__ import annotations

from math_router.engine.tool_call_text import parse_tool_calls
from math_router.engine.trace import ToolRequest, Turn, parse_arguments, usage_of_response


class LlamaChat:
    """ChatModel over a `specialists.llama_cpp.LlamaRuntime`; greedy, no API cost."""

    local = True

    def __init__(self, runtime, *, max_tokens: int = 1024):
        self.runtime = runtime
        self.name = runtime.name
        self.max_tokens = max_tokens

    @property
    def identity(self) -> str:
        return f"{self.runtime.identity}:max{self.max_tokens}"

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        forced = tool_choice if isinstance(tool_choice, dict) and tools else None
        response = self.runtime.chat(template_messages(messages), max_tokens=self.max_tokens,
                                     temperature=0.0, tools=tools or None, tool_choice=forced)
        choice = response["choices"][0]
        message = choice["message"]
        if message.get("tool_calls"):  # a forced call, shaped by a grammar
            content = message.get("content")
            requests = [ToolRequest(id=c["id"], name=c["function"]["name"],
                                    arguments=c["function"]["arguments"])
                        for c in message["tool_calls"]]
        else:
            names = {t["function"]["name"] for t in tools}
            content, requests = parse_tool_calls(message.get("content") or "", names)
        seconds = sum(response["timings"].values())
        return Turn(content=content, tool_requests=requests,
                    usage=usage_of_response(response, seconds), seconds=seconds,
                    finish_reason="tool_calls" if requests else choice.get("finish_reason"))


def template_messages(messages: list[dict]) -> list[dict]:
    """OpenAI messages as the chat template wants them: arguments as dicts, no None content."""
    converted = []
    for message in messages:
        message = dict(message)
        if message.get("content") is None:
            message["content"] = ""
        if message.get("tool_calls"):
            message["tool_calls"] = [
                {**call, "function": {**call["function"],
                                      "arguments": parse_arguments(call["function"]["arguments"])}}
                for call in message["tool_calls"]]
        converted.append(message)
    return converted
