"""The three ways to answer a question, each question -> Trace.

| method | who answers |
| llm    | the orchestrator alone, no tools |
| router | the orchestrator, delegating through `slm_help` |
| slm    | the specialist alone |
"""

from __future__ import annotations

from typing import Callable

import attrs

from engine import loop
from engine.chat import ChatModel
from engine.errors import UserError
from engine.pricing import Price
from engine.trace import Trace
from specialists.base import Specialist
from tools.base import ToolRegistry
from tools.slm import slm_help_tool

LLM_SYSTEM = ("Solve the math problem. Reason step by step, then give the final answer "
              "in \\boxed{}.")

ROUTER_SYSTEM = """You solve math problems by delegating the work to a math specialist.
1. Call slm_help with the complete problem, including every number it needs.
2. Check the specialist's reasoning and arithmetic against the problem.
3. If it is right, reply with its final answer. If it is wrong, call slm_help again \
with a clearer or smaller question, or correct the mistake yourself.
Reply briefly: at most one sentence, then the final answer in \\boxed{}."""

FORCE_SLM_HELP = {"type": "function", "function": {"name": "slm_help"}}


@attrs.frozen
class Setup:
    """What the methods run on. A method that needs a missing part says so."""

    orchestrator: ChatModel | None = None
    specialist: Specialist | None = None
    max_turns: int = 6
    force_tool: bool = True  # the router's first turn must call slm_help
    prices: dict[str, Price] | None = None


def llm(setup: Setup, question: str) -> Trace:
    chat = _need(setup.orchestrator, "llm", "an orchestrator model")
    messages = [{"role": "system", "content": LLM_SYSTEM},
                {"role": "user", "content": _question(question)}]
    return loop.run(chat, ToolRegistry(), messages, max_turns=1, method="llm",
                    prices=setup.prices)


def router(setup: Setup, question: str) -> Trace:
    chat = _need(setup.orchestrator, "router", "an orchestrator model")
    specialist = _need(setup.specialist, "router", "a specialist")
    messages = [{"role": "system", "content": ROUTER_SYSTEM},
                {"role": "user", "content": _question(question)}]
    return loop.run(chat, ToolRegistry([slm_help_tool(specialist)]), messages,
                    max_turns=setup.max_turns, method="router",
                    first_tool_choice=FORCE_SLM_HELP if setup.force_tool else None,
                    prices=setup.prices)


def slm(setup: Setup, question: str) -> Trace:
    specialist = _need(setup.specialist, "slm", "a specialist")
    result = specialist.solve(_question(question))
    trace = Trace(method="slm", final_text=result.text, usage={"specialist": result.usage},
                  seconds=result.seconds, component_seconds={"specialist": result.seconds},
                  models={"specialist": specialist.name},
                  local=["specialist"] if specialist.local else [], details=result.details)
    return loop.summarize(trace, None, setup.prices)


METHODS: dict[str, Callable[[Setup, str], Trace]] = {"llm": llm, "router": router, "slm": slm}

# Which parts each method needs, so nothing else is built (or downloaded).
NEEDS = {"llm": {"orchestrator"}, "router": {"orchestrator", "specialist"}, "slm": {"specialist"}}


def _question(question: str) -> str:
    if not question or not question.strip():
        raise UserError("the question is empty")
    return question.strip()


def _need(part, method: str, what: str):
    if part is None:
        raise UserError(f"method {method} needs {what}")
    return part
