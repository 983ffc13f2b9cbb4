"""The tool-calling loop: ask the model, run the tools it calls, repeat until it answers."""

from __future__ import annotations

import time

import attrs

from math_router.engine import cancel, pricing
from math_router.engine.chat import ChatModel
from math_router.engine.progress import say, short
from math_router.engine.trace import (Ended, ToolCall, ToolRequest, Trace, Turn, Usage, add_usage,
                                     measured_seconds)
from math_router.engine.toolbox import Toolbox, ToolResult


# Most orchestrator calls per question; reaching it is recorded, not raised.
DEFAULT_MAX_TURNS = 6


@attrs.frozen
class ToolLimits:
    """Most tool calls run per orchestrator turn and per question: a reply asking for a
    thousand calls runs `per_turn`; each call past a bound is answered `Error: ...`."""

    per_turn: int = 8
    per_problem: int = 24


def run(chat: ChatModel, tools: Toolbox, messages: list[dict], max_turns: int = DEFAULT_MAX_TURNS,
        first_tool_choice: str | dict | None = None, method: str = "loop",
        prices: dict[str, pricing.Price] | None = None, limits: ToolLimits = ToolLimits(),
        first_call: tuple[str, str] | None = None) -> Trace:
    """Run the conversation in `messages` to an answer, or to `max_turns` model calls.

    `first_tool_choice` applies to the first call only (forcing it every turn
    would never let the model answer). Hitting `max_turns` is recorded in
    `Trace.stopped`, not raised.
    """
    if max_turns < 1:
        raise ValueError("max_turns must be at least 1")
    messages = list(messages)
    schemas = tools.schemas()
    turns: list[Turn] = []
    calls: list[ToolCall] = []
    start = time.perf_counter()
    final_text = None
    stopped = "max_turns"
    ended: Ended = "orchestrator"
    if first_call is not None:
        name, arguments = first_call
        result = call_tool(tools, name, arguments)
        calls.append(tool_call_of(name, arguments, result, called_by="router"))
        if result.final is not None:
            final_text, stopped, ended = agreed_text(result.final), "answer", "specialist_vote"
            max_turns = 0
        else:
            request = ToolRequest(id="call_router_0", name=name, arguments=arguments)
            messages += [assistant_message(Turn(content=None, tool_requests=[request])),
                         {"role": "tool", "tool_call_id": request.id, "content": result.content}]
    for index in range(max_turns):
        cancel.check()
        say(f"orchestrator {chat.name}: turn {index + 1}...")
        turn = chat.complete(messages, schemas, first_tool_choice if index == 0 else None)
        say(f"orchestrator: {turn.usage.input_tokens:,} tokens in, {turn.usage.output_tokens:,} out, "
            f"{turn.seconds:.1f} s" + ("; calls " + ", ".join(r.name for r in turn.tool_requests)
                                      if turn.tool_requests else "; answered")
            + (" (from the cache)" if turn.cached else ""))
        turns.append(turn)
        messages.append(assistant_message(turn))
        if turn.content:
            final_text = turn.content
        if not turn.tool_requests:
            stopped = "answer"
            break
        finals = []
        for number, request in enumerate(turn.tool_requests):
            cancel.check()
            over = over_limit(limits, number, len(calls))
            result = ToolResult(f"Error: {over}; this call was not run", is_error=True) if over \
                else call_tool(tools, request.name, request.arguments)
            calls.append(tool_call_of(request.name, request.arguments, result))
            messages.append({"role": "tool", "tool_call_id": request.id,
                             "content": result.content})
            finals.append(result.final)
        if len(finals) == 1 and finals[0] is not None:
            # The one tool called has an answer it stands by (the specialist's samples agree):
            # the run ends on it, without another orchestrator turn.
            final_text = agreed_text(finals[0])
            stopped = "answer"
            ended = "specialist_vote"
            break
    trace = Trace(method=method, final_text=final_text, turns=turns, tool_calls=calls,
                  spent_seconds=time.perf_counter() - start, stopped=stopped,
                  ended=ended if schemas else None)
    return summarize(trace, chat, prices)


def tool_call_of(name: str, arguments: str, result: ToolResult, called_by: str | None = None) -> ToolCall:
    """A tool call as the trace keeps it; `called_by` when the model did not make it."""
    return ToolCall(name=name, arguments=arguments, result=result.content,
                    seconds=measured_seconds(result.seconds, result.usage.values()),
                    is_error=result.is_error, usage=result.usage, details=result.details,
                    model=result.model, called_by=called_by)


def over_limit(limits: ToolLimits, in_turn: int, in_problem: int) -> str | None:
    """Why one more tool call may not run, if it may not."""
    if in_turn >= limits.per_turn:
        return f"at most {limits.per_turn} tool calls per turn"
    if in_problem >= limits.per_problem:
        return f"at most {limits.per_problem} tool calls per question"
    return None


def agreed_text(answer: str) -> str:
    """The final text of a run that ends on a tool's agreed answer, without another turn."""
    return f"The specialist's samples agree: \\boxed{{{answer}}}"


def call_tool(tools: Toolbox, name: str, arguments: str):
    """`tools.call`, said as it happens."""
    say(f"tool {name}: running...")
    result = tools.call(name, arguments)
    say(f"tool {name}: {result.seconds:.1f} s -> {short(result.content)}")
    return result


def assistant_message(turn: Turn) -> dict:
    """The assistant's turn as a chat-completions message for the history."""
    message: dict = {"role": "assistant", "content": turn.content}
    if turn.tool_requests:
        message["tool_calls"] = [
            {"id": r.id, "type": "function", "function": {"name": r.name, "arguments": r.arguments}}
            for r in turn.tool_requests]
    return message


def summarize(trace: Trace, chat: ChatModel | None,
              prices: dict[str, pricing.Price] | None = None) -> Trace:
    """Fill usage, seconds, models and cost per component from the turns and tool calls.

    `trace.usage` may hold components the caller measured itself (the cascade's
    samples); the turns and tool calls are added to it. `trace.spent_seconds`
    is this run's wall time; `seconds` becomes the time as measured.
    """
    usage = dict(trace.usage)
    models = dict(trace.models)
    local = set(trace.local)
    if chat is not None and trace.turns:
        usage = add_usage(usage, {"orchestrator": sum((t.usage for t in trace.turns), Usage())})
        models["orchestrator"] = chat.name
        if chat.local:
            local.add("orchestrator")
    for call in trace.tool_calls:
        # A tool that reports usage names its component ("specialist"); else it is its own.
        usage = add_usage(usage, call.usage or {call.name: Usage(calls=1, seconds=call.seconds)})
        component = next(iter(call.usage), call.name)
        if call.model is not None:
            models[component] = call.model.name
        if call.model.local if call.model is not None else not call.usage:
            local.add(component)  # a tool without a model (or usage) runs here
    # Orchestrator turns answered through the Batch API cost its tier's price.
    batched = {"orchestrator": sum((t.usage for t in trace.turns if t.batch), Usage())}
    costs = {c: pricing.tiered_cost(models.get(c, c), u, batched.get(c), local=c in local,
                                    extra=prices) for c, u in usage.items()}
    spent = {c: pricing.tiered_cost(models.get(c, c), u.spent(),
                                    batched[c].spent() if c in batched else None,
                                    local=c in local, extra=prices) for c, u in usage.items()}
    # Where the specialist ran: the method's own samples, else the first call that says.
    device = trace.device or next((c.model.device for c in trace.tool_calls
                                   if c.model is not None and c.model.device), None)
    return attrs.evolve(trace, usage=usage, models=models, local=sorted(local), device=device,
                        component_seconds={c: u.seconds for c, u in usage.items()},
                        seconds=measured_seconds(trace.spent_seconds, usage.values()),
                        component_cost_usd=costs, cost_usd=_total(costs.values()),
                        spent_cost_usd=_total(spent.values()))


def _total(costs) -> float | None:
    costs = list(costs)
    return None if None in costs else sum(costs)
