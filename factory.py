"""Turn the user's model references into the objects the methods run on.

`--model` is an API model name (gpt-4o-mini) or a GGUF reference; `--specialist`
is an http(s) URL of an OpenAI-compatible server or a GGUF reference (path,
`hf:REPO/FILE`, alias). Only what the chosen method needs is built, so
`--method llm` never downloads a GGUF and `--method slm` never needs a key.
"""

from __future__ import annotations

import attrs

from engine.chat import ChatModel, OpenAIChat
from engine.pricing import Price
from evals.methods import NEEDS, Setup
from specialists import gguf
from specialists.base import Specialist
from specialists.qwen_math import MAX_TOKENS


@attrs.frozen
class ModelOptions:
    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    specialist: str = "qwen2.5-math-1.5b"
    specialist_model: str | None = None
    specialist_max_tokens: int = MAX_TOKENS
    gpu_layers: int | None = None
    max_turns: int = 6
    force_tool: bool = True
    timeout: float = 120.0
    prices: dict[str, Price] = attrs.field(factory=dict)


def build_setup(methods: list[str], options: ModelOptions) -> Setup:
    needs = set().union(*(NEEDS[m] for m in methods))
    return Setup(
        orchestrator=build_orchestrator(options) if "orchestrator" in needs else None,
        specialist=build_specialist(options) if "specialist" in needs else None,
        max_turns=options.max_turns, force_tool=options.force_tool, prices=options.prices)


def build_orchestrator(options: ModelOptions) -> ChatModel:
    return OpenAIChat(options.model, base_url=options.base_url, api_key=options.api_key,
                      timeout=options.timeout)


def build_specialist(options: ModelOptions) -> Specialist:
    ref = options.specialist
    if ref.startswith(("http://", "https://")):
        from specialists.openai_compat import OpenAISpecialist

        return OpenAISpecialist(ref, options.specialist_model,
                                max_tokens=options.specialist_max_tokens, timeout=options.timeout)
    from specialists.llama_cpp import shared_runtime
    from specialists.qwen_math import QwenMathSpecialist

    runtime = shared_runtime(gguf.resolve(ref), gpu_layers=options.gpu_layers)
    return QwenMathSpecialist(runtime, max_tokens=options.specialist_max_tokens)


def method_settings(method: str, options: ModelOptions) -> dict:
    """The flags that shape one method's results; a resumed run must match them."""
    settings: dict = {}
    needs = NEEDS[method]
    if "orchestrator" in needs:
        settings.update(model=options.model, base_url=options.base_url, max_turns=options.max_turns)
    if "specialist" in needs:
        settings.update(specialist=options.specialist, specialist_model=options.specialist_model,
                        specialist_max_tokens=options.specialist_max_tokens)
    if method == "router":
        settings["force_tool"] = options.force_tool
    return settings
