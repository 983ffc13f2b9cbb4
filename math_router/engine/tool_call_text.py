"""Tool calls written as text, as local models return them.

llama.cpp renders the tools into the prompt but returns the model's calls as
plain text. Qwen2.5 Instruct writes `<tool_call>{"name": ..., "arguments": ...}
</tool_call>` blocks; some models (Qwen2.5-Coder among them) write the same
object in a ```json fence instead. Both become OpenAI tool calls. A block whose
JSON does not parse stays part of the text; a fenced or bare object counts
only when it names one of the offered tools and has `arguments`.
"""

from __future__ import annotations

import json
import re
import uuid

from math_router.engine.trace import ToolRequest

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


def parse_tool_calls(text: str, tool_names: set[str] | None = None) -> tuple[str | None, list[ToolRequest]]:
    """Split model output into (the text left around the calls, the calls)."""
    content, requests = _extract(text, _TAGGED, lambda data: True)
    if not requests and tool_names:
        def offered(data: dict) -> bool:
            return data["name"] in tool_names and "arguments" in data

        content, requests = _extract(text, _FENCED, offered)
        if not requests and text.strip().startswith("{"):
            content, requests = _extract(text, re.compile(r"^\s*(\{.*\})\s*$", re.DOTALL), offered)
    return content, requests


def _extract(text: str, pattern: re.Pattern, accept) -> tuple[str | None, list[ToolRequest]]:
    requests: list[ToolRequest] = []
    kept: list[str] = []
    position = 0
    for match in pattern.finditer(text):
        data = _object(match.group(1))
        if data is None or not accept(data):
            continue  # not a call: leave it in the text
        kept.append(text[position:match.start()])
        position = match.end()
        arguments = data.get("arguments", data.get("parameters", {}))
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, ensure_ascii=False)
        requests.append(ToolRequest(id=f"call_{uuid.uuid4().hex[:24]}", name=data["name"],
                                    arguments=arguments))
    kept.append(text[position:])
    content = "".join(kept).strip()
    return (content or None), requests


def _object(body: str) -> dict | None:
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    return data
