"""The ChatModel protocol and its OpenAI-compatible implementation.

Messages are OpenAI chat-completions dicts end to end; a backend that speaks
another protocol converts at its own edge.
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import Any, Protocol

from math_router.engine import http, openai_models, turn_params
from math_router.engine.model_card import ModelCard
from math_router.engine.errors import ParameterRefused, ToolsRefusedAtEffort, TransportError, UserError
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

    def card(self) -> ModelCard: ...


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get("OPENAI_API_KEY") or None


def resolve_base_url(base_url: str | None) -> str | None:
    return base_url or os.environ.get("OPENAI_BASE_URL") or None


class OpenAIChat:
    """A chat model behind any OpenAI-compatible endpoint, through the openai SDK."""

    local = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 120.0, max_retries: int = 2, temperature: float | None = 0.0,
                 max_tokens: int | None = None, reasoning_effort: str | None = None):
        base_url = resolve_base_url(base_url)
        key = resolve_api_key(api_key)
        if key is None and base_url is None:
            raise UserError("no OpenAI API key: set OPENAI_API_KEY, or pass --base-url "
                            "for a server that needs none")
        self.name = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.temperature = temperature
        self.max_tokens = max_tokens
        # None: not told. A turn that offers tools then goes at "none" to a model that reasons
        # by default (Chat Completions takes function tools from it at no other effort), and
        # every other turn at the API's own default.
        self.reasoning_effort = reasoning_effort
        # A model we did not know reasons refused tools at its default effort: tool turns
        # go at "none" from then on.
        self._tools_at_none = openai_models.reasons_by_default(model)
        self.served_model: str | None = None  # the model name the server reported
        # Parameters the server refused once (reasoning models refuse temperature, and
        # want max_completion_tokens): left out, or renamed, from then on.
        self.adjusted: dict[str, str | None] = {}
        # Local servers (vLLM, llama-server) accept any key; the SDK insists on one.
        self._key = key or "no-key"
        self._timeout = timeout
        self._client = http.client(api_key=self._key, base_url=base_url, timeout=timeout,
                                   max_retries=max_retries)

    def card(self) -> ModelCard:
        return ModelCard(self.name, local=False, base_url=self.base_url, served=self.served_model,
                         effort=self.effort)

    @property
    def identity(self) -> str:
        identity = f"openai:{self.base_url}:{self.name}:t{self.temperature}:max{self.max_tokens}"
        return identity if self.reasoning_effort is None else f"{identity}:effort-{self.reasoning_effort}"

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
        except (ToolsRefusedAtEffort, ParameterRefused) as e:
            notes.append(self._learn(e, request))  # once; what it changes holds from then on
            response = call_openai(self._client.chat.completions.create, self.base_url, self._key,
                                   **self.request(messages, tools, tool_choice))
        return self.turn(response, time.perf_counter() - start, tools, notes)

    def _learn(self, refused: TransportError, request: dict) -> str:
        """Change what later requests send after the server refused `request`, and say what
        changed; raise when there is nothing to change (the refusal stands)."""
        if isinstance(refused, ToolsRefusedAtEffort):
            if self.reasoning_effort is not None or self._tools_at_none:
                raise ToolsRefusedAtEffort(self._tools_fix(request.get("reasoning_effort"))) \
                    from None
            # We did not know this model reasons: its tool turns go at "none" from now on.
            self._tools_at_none = True
            return (f"{self.name} takes function tools only at reasoning_effort none: its tool "
                    f"turns are sent so from then on")
        if refused.parameter not in request or refused.parameter in self.adjusted:
            raise refused
        replacement = "max_completion_tokens" if refused.parameter == "max_tokens" else None
        self.adjusted[refused.parameter] = replacement
        return (f"{self.name} refused {refused.parameter}: sent "
                + (f"{replacement} instead" if replacement else "without it") + " from then on")

    def request(self, messages: list[dict], tools: list[dict],
                tool_choice: str | dict | None = None) -> dict[str, Any]:
        """The chat-completions request body for these messages (the Batch API sends it too)."""
        request: dict[str, Any] = {"model": self.name, "messages": sendable(messages)}
        if tools:
            request["tools"] = tools
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        effort = None if "reasoning_effort" in self.adjusted else self.effort(bool(tools))
        if effort is not None:
            request["reasoning_effort"] = effort
        # A model that thinks on this turn refuses temperature (and top_p, logprobs).
        thinking = effort not in (None, "none") or (
            effort is None and openai_models.reasons_by_default(self.name))
        wanted = turn_params.asked()  # a server's client may ask for its own
        temperature = wanted.get("temperature", self.temperature)
        if temperature is not None and not thinking:
            request["temperature"] = temperature
            if "top_p" in wanted:
                request["top_p"] = wanted["top_p"]
        max_tokens = wanted.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            # Reasoning models want max_completion_tokens (their output includes the thinking).
            request["max_completion_tokens" if openai_models.reasons_by_default(self.name)
                    else "max_tokens"] = max_tokens
        for name, replacement in self.adjusted.items():
            self._adjust(request, name, replacement)
        return request

    def effort(self, offers_tools: bool) -> str | None:
        """The reasoning_effort this turn sends, or None to send none (the API's default)."""
        if self.reasoning_effort is not None:
            return self.reasoning_effort
        return "none" if offers_tools and self._tools_at_none else None

    def _tools_fix(self, effort: str | None) -> str:
        """One line for a tool turn refused at the effort asked, with the fix."""
        return (f"{self.name} takes function tools in Chat Completions only at reasoning effort "
                f"none, and the router and the cascade offer tools: pass --reasoning-effort none "
                f"(or leave it out; asked: {effort or 'the default'}). "
                f"The llm baseline can think: --llm-reasoning-effort {effort or 'medium'}")

    def listed_models(self) -> list:
        """What the server lists at GET /v1/models (one quick try); TransportError when it
        cannot say."""
        client = self._client.with_options(max_retries=0, timeout=min(10.0, self._timeout))
        return list(sdk_call(client.models.list, self.base_url, self._key).data)

    def shutdown_notice(self, listed: list | None = None) -> str | None:
        """One line when the server lists a shutdown date for this model (OpenAI's
        GET /v1/models carries `shutdown_date`); None when it lists none or cannot say.
        `listed`: a listing already fetched (listed_models)."""
        if listed is None:
            import openai

            try:
                listed = self.listed_models()
            except (TransportError, openai.OpenAIError):
                return None  # a notice is a courtesy: a server that cannot list is not an error
        for entry in listed:
            if entry.id.lower() == self.name.lower():
                # A field of the SDK's Model in newer versions; an extra one in older.
                day = getattr(entry, "shutdown_date", None) \
                    or (entry.model_extra or {}).get("shutdown_date")
                return openai_models.shutdown_line(self.name, day) if day else None
        return None

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
        if e.status_code == 404 and _error_code(e) == "model_not_found":
            gone = openai_models.gone_line(str(request.get("model", "")))
            raise TransportError(f"{gone} ({message})" if gone else message, systemic=True) from None
        if e.status_code == 400 and _tools_refused_at_effort(e, request):
            raise ToolsRefusedAtEffort(message) from None
        refused = _refused_parameter(e, request) if e.status_code == 400 else None
        if refused:
            raise ParameterRefused(message, refused) from None
        raise TransportError(message) from None


# Parameters a model may refuse where the request would still make sense without them.
OPTIONAL_PARAMETERS = ("temperature", "top_p", "max_tokens", "seed", "reasoning_effort", "logprobs")


def _error_body(e: Any) -> dict:
    body = e.body if isinstance(e.body, dict) else {}
    return body.get("error", body) if isinstance(body.get("error", body), dict) else body


def _error_code(e: Any) -> str | None:
    return _error_body(e).get("code") or getattr(e, "code", None)


def _tools_refused_at_effort(e: Any, request: dict) -> bool:
    """A 400 saying function tools do not go with this reasoning effort (gpt-6-luna in Chat
    Completions at any effort but none)."""
    text = str(_error_body(e).get("message") or e.message).lower()
    return bool(request.get("tools")) and "function tools" in text and "reasoning_effort" in text


def _refused_parameter(e: Any, request: dict) -> str | None:
    """The optional parameter a 400 names (OpenAI puts it in `param`; others in the message)."""
    body = _error_body(e)
    named = body.get("param")
    if named in OPTIONAL_PARAMETERS and named in request:
        return named
    text = str(body.get("message") or e.message)
    unrecognized = re.search(r"argument supplied: (\w+)", text)  # OpenAI's older wording
    if unrecognized and unrecognized.group(1) in OPTIONAL_PARAMETERS \
            and unrecognized.group(1) in request:
        return unrecognized.group(1)
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
    thought = getattr(getattr(u, "completion_tokens_details", None), "reasoning_tokens", None) or 0
    output = token_count(u.completion_tokens if u else 0, "completion_tokens", source)
    reasoning = token_count(thought, "reasoning_tokens", source)
    if reasoning > output:  # OpenAI counts the reasoning inside completion_tokens
        raise TransportError(f"{source} reported reasoning_tokens = {reasoning} of "
                             f"completion_tokens = {output}: not a part of the output")
    return Usage.of_call(token_count(u.prompt_tokens if u else 0, "prompt_tokens", source), output,
                         seconds, prompt_cache_hit_tokens=token_count(hits, "cached_tokens", source),
                         reasoning_tokens=reasoning)


# More tokens than one call could ever hold (a million times the largest context today): a
# count past it is the server breaking the protocol, and would price into absurd dollars.
MAX_TOKEN_COUNT = 10 ** 12


def token_count(value, name: str, source: str) -> int:
    """A usage figure as the int it must be, or a TransportError naming the server."""
    if value is None:
        return 0
    whole = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)
                                       and value.is_integer())
    if isinstance(value, bool) or not whole or not 0 <= value <= MAX_TOKEN_COUNT:
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:20]}... ({len(repr(value))} digits)"
        raise TransportError(f"{source} reported {name} = {shown}, not a count of tokens")
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
