"""A local chat model: a Qwen2.5 Instruct GGUF in process, behind the ChatModel protocol.

Converts at this edge: history goes to the GGUF's chat template with tool-call
arguments as dicts (Qwen's template applies `tojson`), and the model's
`<tool_call>` text comes back as OpenAI tool calls.
"""

from __future__ import annotations

import json
import time
import uuid

import attrs

from math_router.engine import turn_params
from math_router.engine.sampling import GREEDY
from math_router.engine.tool_call_text import parse_tool_calls
from math_router.engine.trace import ToolRequest, Turn, Usage, parse_arguments, usage_of_response
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime


class LlamaChat:
    """ChatModel over a `LlamaRuntime`; greedy, no API cost.

    With a `decoder` (a `BatchedDecoder`), turns are decoded with
    every other sequence in flight (concurrent problems, the specialist's), and
    start from the longest prefix of kept cells: the system prompt and tool schema
    are evaluated once, a conversation's next turn continues from its last. The
    prompt is the chat handler's, token for token; reused tokens are counted as
    prompt-cache hits.
    """

    local = True

    def __init__(self, runtime: LlamaRuntime, *, max_tokens: int = 1024,
                 decoder: BatchedDecoder | None = None):
        self.runtime = runtime
        self.name = runtime.name
        self.max_tokens = max_tokens
        self.decoder = decoder
        self._grammars: dict[str, object] = {}

    def card(self):
        from math_router.engine.model_card import ModelCard

        return ModelCard(self.name, local=True, runtime=self.runtime)

    @property
    def identity(self) -> str:
        return f"{self.runtime.identity}:max{self.max_tokens}"

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        forced = tool_choice if isinstance(tool_choice, dict) and tools else None
        if self.decoder is not None:
            return self._batched(messages, tools, forced)
        wanted = turn_params.asked()
        response = self.runtime.chat(template_messages(messages),
                                     max_tokens=wanted.get("max_tokens", self.max_tokens),
                                     temperature=wanted.get("temperature", 0.0),
                                     top_p=wanted.get("top_p", 1.0), tools=tools or None,
                                     tool_choice=forced)
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


    def _batched(self, messages: list[dict], tools: list[dict], forced: dict | None) -> Turn:
        start = time.perf_counter()
        prompt = self.runtime.prompt_tokens(template_messages(messages), tools=tools or None,
                                            tool_choice=forced)
        grammar = self._grammar(forced, tools) if forced else None
        wanted = turn_params.asked()  # a server's client may ask for its own; else greedy
        sampling = GREEDY if not wanted.get("temperature") else attrs.evolve(
            GREEDY, temperature=wanted["temperature"], top_p=wanted.get("top_p", 1.0))
        out = self.decoder.generate(prompt, n=1, max_tokens=wanted.get("max_tokens", self.max_tokens),
                                    grammar=grammar, sampling=sampling)
        seconds = time.perf_counter() - start
        generation = out.generations[0]
        if forced:  # the grammar wrote the arguments of the forced tool
            requests = [ToolRequest(id=f"call_{uuid.uuid4().hex[:24]}",
                                    name=forced["function"]["name"], arguments=generation.text)]
            content = None
        else:
            content, requests = parse_tool_calls(generation.text,
                                                 {t["function"]["name"] for t in tools})
        usage = Usage.of_call(len(prompt), generation.completion_tokens, seconds,
                              prompt_cache_hit_tokens=out.prompt_reused)
        return Turn(content=content, tool_requests=requests, usage=usage, seconds=seconds,
                    finish_reason="tool_calls" if requests else generation.finish_reason)

    def _grammar(self, forced: dict, tools: list[dict]):
        """The forced tool's argument schema as a grammar, as llama-cpp-python builds it."""
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        name = forced["function"]["name"]
        schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == name)
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            try:
                self._grammars[key] = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            except Exception:  # a schema the converter cannot take: any JSON object
                self._grammars[key] = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        return self._grammars[key]


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
