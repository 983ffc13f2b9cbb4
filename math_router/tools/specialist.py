"""Specialist models as tools: a second model (a code model beside the math one, say) that the
orchestrator may call, declared in a few lines and built like the math specialist.

    code_help = math_router.specialist_tool(
        "code_help", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        description="Ask a coding model to write or explain Python; it returns its reply.",
        system_prompt="You write short, correct Python. Answer with code and one line.")
    math_router.register_tool(code_help)     # offered to every later solve and eval

The model is a GGUF (a path, an alias, hf:REPO/FILE) run in this process on the shared
llama.cpp runtime and batched decoder, or an OpenAI-compatible URL (with `model_name`).
It is built when a setup is (factory.bind_specialist_tools): answered from the response
cache under its own identity (file, prompt, max tokens), its usage and cost recorded as a
component named by the tool, its model and prompt kept in run.json (a resume with another
is refused), and each call names the model that answered.
"""

from __future__ import annotations

import attrs

from math_router.engine.errors import ToolError, UserError
from math_router.engine.progress import say, say_solved
from math_router.engine.trace import ModelAnswer
from math_router.tools.base import Tool, ToolOutput

DEFAULT_SYSTEM = "You are a helpful specialist. Answer the question; be brief and exact."


@attrs.frozen
class SpecialistSpec:
    """What a specialist tool's model is: built by the factory, with the run's other models."""

    model: str  # a GGUF (path, alias, hf:REPO/FILE) or an http(s) URL
    system_prompt: str = DEFAULT_SYSTEM
    model_name: str | None = None  # the served model's name, for a URL
    max_tokens: int = 1024


@attrs.frozen
class SpecialistTool(Tool):
    """A Tool whose function is bound to its model when a setup is built; `specialist` is that
    model once bound."""

    spec: SpecialistSpec | None = None
    specialist: object = attrs.field(default=None, eq=False, repr=False)


def specialist_tool(name: str, model: str, *, description: str,
                    system_prompt: str | None = None, model_name: str | None = None,
                    max_tokens: int = 1024) -> SpecialistTool:
    """A tool `name` backed by the specialist model `model` (see the module's docstring)."""
    if not name.isidentifier():
        raise UserError(f"a tool's name is a word the model can call: {name!r} is not")
    if not description.strip():
        raise UserError(f"specialist tool {name}: give a description (the orchestrator reads it)")
    spec = SpecialistSpec(model, system_prompt or DEFAULT_SYSTEM, model_name, max_tokens)

    def unbound(question: str) -> str:
        raise ToolError(f"{name}: its model is built with the run's models (register the tool "
                        "before solve or evaluate)")

    return SpecialistTool(name, description, _SCHEMA, unbound, spec=spec)


_SCHEMA = {"type": "object", "properties": {"question": {
    "type": "string", "description": "The whole request, with everything it needs."}},
    "required": ["question"], "additionalProperties": False}


def bound(tool: SpecialistTool, specialist) -> SpecialistTool:
    """The tool answering through `specialist` (a Specialist, cached or not)."""

    def ask(question: str) -> ToolOutput:
        if not question.strip():
            raise ToolError("the question is empty; send the whole request")
        say(f"{tool.name} ({specialist.name}): answering...")
        result = specialist.solve(question)
        say_solved(result)
        return ToolOutput(content=result.text.strip() or "(no reply)",
                          usage={tool.name: result.usage},
                          details={"seconds": result.seconds, **result.details},
                          model=ModelAnswer(specialist.name, specialist.local, result.answer,
                                            result.device))

    return attrs.evolve(tool, fn=ask, specialist=specialist)
