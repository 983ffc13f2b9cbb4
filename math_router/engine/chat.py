"""The ChatModel protocol and its OpenAI-compatible implementation.

Messages are OpenAI chat-completions dicts end to end; a backend that speaks
another protocol converts at its own edge.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Protocol

from math_router.engine import http
from math_router.engine.errors import ParameterRefused, TransportError, UserError
from math_router.engine.tool_call_text import parse_tool_calls
from math_router.engine.trace import ToolRequest, Turn, Usage


# What the one small request before an eval asks (see evals.methods.preflight).
CHECK_PROMPT = "Reply with the word OK."


class ChatModel(Protocol):
    name: str
    identity: str  # what the response cache keys on: model, server, sampling settings
    local: bool  # runs in this process: no API cost

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn: ...


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get("OPENAI_API_KEY") or None


def resolve_base_url(base_url: str | None) -> str | None:
    return base_url or os.environ.get("OPENAI_BASE_URL") or None


class OpenAIChat:
    """A chat model behind any OpenAI-compatible endpoint, through the openai SDK."""

    local = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, max_retries: int = 2, temperature: float | None = 0.0,
                 max_tokens: int | None = None):
        base_url = resolve_base_url(base_url)
        key = resolve_api_key(api_key)
        if key is None and base_url is None:
            raise UserError("no OpenAI API key: set OPENAI_API_KEY, or pass --base-url "
                            "for a server that needs none")
        self.name = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.served_model: str | None = None  # the model name the server reported
        # Parameters the server refused once (reasoning models refuse temperature, and
        # want max_completion_tokens): left out, or renamed, from then on.
        self.adjusted: dict[str, str | None] = {}
        # Local servers (vLLM, llama-server) accept any key; the SDK insists on one.
        self._key = key or "no-key"
        self._client = http.client(api_key=self._key, base_url=base_url, timeout=timeout,
                                   max_retries=max_retries)

    @property
    def identity(self) -> str:
        return f"openai:{self.base_url}:{self.name}:t{self.temperature}:max{self.max_tokens}"

    def check(self, tools: list[dict] | None = None, tool_choice: str | dict | None = None) -> None:
        """One small request shaped like the real ones; raises TransportError when refused."""
        self.complete([{"role": "user", "content": CHECK_PROMPT}], tools or [], tool_choice)

    def complete(self, messages: list[dict], tools: list[dict],
                 tool_choice: str | dict | None = None) -> Turn:
        request = self.request(messages, tools, tool_choice)
        notes = []
        start = time.perf_counter()
        try:
            response = call_openai(self._client.chat.completions.create, self.base_url, self._key,
                                   **request)
        except ParameterRefused as e:
            if e.parameter not in request or e.parameter in self.adjusted:
                raise
            replacement = "max_completion_tokens" if e.parameter == "max_tokens" else None
            self.adjusted[e.parameter] = replacement
            self._adjust(request, e.parameter, replacement)
            notes.append(f"{self.name} refused {e.parameter}: sent "
                         + (f"{replacement} instead" if replacement else "without it") + " from then on")
            response = call_openai(self._client.chat.completions.create, self.base_url, self._key,
                                   **request)
        return self.turn(response, time.perf_counter() - start, tools, notes)

    def request(self, messages: list[dict], tools: list[dict],
                tool_choice: str | dict | None = None) -> dict[str, Any]:
        """The chat-completions request body for these messages (the Batch API sends it too)."""
        request: dict[str, Any] = {"model": self.name, "messages": sendable(messages)}
        if tools:
            request["tools"] = tools
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        if self.temperature is not None:
            request["temperature"] = self.temperature
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        for name, replacement in self.adjusted.items():
            self._adjust(request, name, replacement)
        return request

    def turn(self, response, seconds: float, tools: list[dict], notes: list[str] = (),
             batch: bool = False) -> Turn:
        """A chat completion (the SDK's object) as the loop's Turn."""
        self.served_model = getattr(response, "model", None) or self.served_model
        choice = response.choices[0]
        message = choice.message
        requests = [ToolRequest(id=c.id, name=c.function.name, arguments=c.function.arguments or "")
                    for c in (message.tool_calls or []) if c.type == "function"]
        content = message.content
        if not requests and tools and content:
            # Servers without a tool-call parser for the model (llama-server on some
            # templates, vLLM without --tool-call-parser) return the call as text.
            content, requests = parse_tool_calls(content, {t["function"]["name"] for t in tools})
        return Turn(content=content, tool_requests=requests,
                    usage=response_usage(response, seconds, self.base_url),
                    seconds=seconds, finish_reason=choice.finish_reason, notes=list(notes),
                    batch=batch)

    def api(self, route: str, *args, **kwargs):
        """Another endpoint of this model's API ("files.create", "batches.retrieve"), with the
        same key and the same one-line TransportErrors."""
        call = self._client
        for part in route.split("."):
            call = getattr(call, part)
        return sdk_call(call, self.base_url, self._key, *args, **kwargs)

    @staticmethod
    def _adjust(request: dict, name: str, replacement: str | None) -> None:
        if name in request:
            value = request.pop(name)
            if replacement:
                request[replacement] = value


def served_models(base_url: str, api_key: str | None = None, timeout: float = 30.0) -> list[str]:
    """The model names an OpenAI-compatible server lists at /v1/models."""
    key = resolve_api_key(api_key) or "no-key"
    client = http.client(api_key=key, base_url=base_url, timeout=timeout, max_retries=1)
    page = sdk_call(client.models.list, base_url, key)
    return sorted(m.id for m in page.data)


def call_openai(create, base_url: str, key: str, **request):
    """A chat or text completion; no choices is a TransportError too."""
    response = sdk_call(create, base_url, key, **request)
    if not response.choices:
        raise TransportError(f"{base_url} answered with no choices")
    return response


def sdk_call(create, base_url: str, key: str, *args, **request):
    """Call the SDK; its failures (after its own retries) become one-line TransportErrors."""
    import openai

    try:
        return create(*args, **request)
    except (ValueError, openai.APIResponseValidationError):  # a 200 whose body is not the API's
        raise TransportError(f"{base_url} answered with a body that is not the API's JSON") from None
    except openai.AuthenticationError:
        raise TransportError(f"{base_url} refused the API key (HTTP 401)", systemic=True) from None
    except openai.APITimeoutError:
        raise TransportError(f"{base_url} did not answer in time") from None
    except openai.APIConnectionError:
        raise TransportError(f"cannot reach {base_url}", systemic=True) from None
    except openai.APIStatusError as e:
        detail = _scrub(_error_message(e), key)
        message = f"{base_url} answered HTTP {e.status_code}: {detail}"
        refused = _refused_parameter(e, request) if e.status_code == 400 else None
        if refused:
            raise ParameterRefused(message, refused) from None
        raise TransportError(message) from None


# Parameters a model may refuse where the request would still make sense without them.
OPTIONAL_PARAMETERS = ("temperature", "top_p", "max_tokens", "seed")


def _refused_parameter(e: Any, request: dict) -> str | None:
    """The optional parameter a 400 names (OpenAI puts it in `param`; others in the message)."""
    body = e.body if isinstance(e.body, dict) else {}
    body = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    named = body.get("param")
    if named in OPTIONAL_PARAMETERS and named in request:
        return named
    text = str(body.get("message") or e.message)
    for name in OPTIONAL_PARAMETERS:
        if name in request and (f"'{name}'" in text or f"`{name}`" in text or f'"{name}"' in text):
            return name
    return None


def sendable(messages: list[dict]) -> list[dict]:
    """Messages as every server takes them: an assistant turn that only calls tools gets
    content "" rather than null (the spec allows null; llama-cpp-python's server refuses it)."""
    return [dict(m, content="") if m.get("role") == "assistant" and m.get("content") is None
            and m.get("tool_calls") else m for m in messages]


def response_usage(response, seconds: float = 0.0, source: str = "the server") -> Usage:
    """Tokens of a completion, with the input the API served from its prompt cache (OpenAI
    bills those at a lower rate); servers that report none count 0. Usage that is not a
    count (negative, NaN, not a number) is the server breaking the protocol: never priced."""
    u = response.usage
    details = getattr(u, "prompt_tokens_details", None) if u else None
    hits = getattr(details, "cached_tokens", None) or 0
    return Usage.of_call(token_count(u.prompt_tokens if u else 0, "prompt_tokens", source),
                         token_count(u.completion_tokens if u else 0, "completion_tokens", source),
                         seconds, prompt_cache_hit_tokens=token_count(hits, "cached_tokens", source))


def token_count(value, name: str, source: str) -> int:
    """A usage figure as the int it must be, or a TransportError naming the server."""
    if value is None:
        return 0
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)
                                       and value.is_integer())
    if isinstance(value, bool) or not whole or value < 0:
        raise TransportError(f"{source} reported {name} = {value!r}, not a count of tokens")
    return int(value)


def _error_message(e: Any) -> str:
    body = e.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
        if isinstance(body, dict):
            body = body.get("message") or body
    text = " ".join(str(body or e.message).split())
    return text[:300]


def _scrub(text: str, key: str) -> str:
    """Never echo the API key, even when a server quotes it back."""
    return text.replace(key, "***") if key and len(key) > 3 else text
