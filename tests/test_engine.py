"""The loop and OpenAIChat against a real HTTP server speaking chat-completions."""

from __future__ import annotations

import json

import pytest

from math_router.engine import loop
from math_router.engine.chat import OpenAIChat
from math_router.engine.errors import TransportError, UserError
from math_router.engine.trace import Trace
from math_router.evals import methods
from math_router.options import ModelOptions
from math_router.specialists.openai_compat import OpenAISpecialist
from math_router.testing import ChatServer, completion, error, tool_call, router_orchestrator, specialist_answering
from math_router.tools.base import ToolRegistry, tool


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def chat(server: ChatServer, **kw) -> OpenAIChat:
    return OpenAIChat("gpt-4o-mini", base_url=server.url, api_key="sk-test-secret-123",
                      **{"max_retries": 1, "timeout": 10, **kw})


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_router_calls_the_specialist_then_answers():
    with ChatServer(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch),
                              specialist=OpenAISpecialist(spec.url, "qwen-math"))
        trace = methods.router(setup, "What is 27*14+15?")

    assert trace.stopped == "answer"
    assert "\\boxed{393}" in trace.final_text
    assert [c.name for c in trace.tool_calls] == ["slm_help"]
    assert json.loads(trace.tool_calls[0].arguments) == {"question": "What is 27*14+15?"}
    # The forced first call is the router's own: the orchestrator's first turn is not paid for.
    assert trace.tool_calls[0].called_by == "router"
    assert len(orch.requests) == 1
    sent = orch.requests[0]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool"]
    assert sent[2]["tool_calls"][0]["function"]["name"] == "slm_help" and sent[2]["content"] == ""
    # Compact delegation: the answer, not the worked solution (the orchestrator pays for every token).
    assert sent[3]["content"] == trace.tool_calls[0].result == "Answer: 393"
    assert "tool_choice" not in orch.requests[0]
    assert trace.ended == "orchestrator"
    # The specialist got Qwen2.5-Math's official prompt, greedy.
    assert spec.requests[0]["messages"][0]["content"].startswith("Please reason step by step")
    assert spec.requests[0]["temperature"] == 0.0
    # Usage per component, and cost from the price table (gpt-4o-mini: $0.15/$0.60 per 1M).
    assert trace.usage["orchestrator"].input_tokens == 400
    assert trace.usage["orchestrator"].output_tokens == 12
    assert trace.usage["specialist"].output_tokens == 80
    assert trace.component_cost_usd["orchestrator"] == pytest.approx((400 * 0.15 + 12 * 0.60) / 1e6)
    # The self-hosted specialist has no known price: the total is unknown, not free.
    assert trace.component_cost_usd["specialist"] is None
    assert trace.cost_usd is None


def test_the_orchestrator_can_still_write_the_forced_first_call():
    with ChatServer(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch),
                              specialist=OpenAISpecialist(spec.url, "qwen-math"),
                              options=ModelOptions(direct_first_call=False))
        trace = methods.router(setup, "What is 27*14+15?")
    # The first turn is forced to call slm_help; the second is free to answer.
    assert orch.requests[0]["tool_choice"] == {"type": "function", "function": {"name": "slm_help"}}
    assert "tool_choice" not in orch.requests[1]
    assert orch.requests[1]["messages"][-1]["role"] == "tool"
    assert trace.usage["orchestrator"].input_tokens == 520 and "\\boxed{393}" in trace.final_text


def test_a_price_for_the_specialist_makes_the_total_known():
    from math_router.engine.pricing import Price

    with ChatServer(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch),
                              specialist=OpenAISpecialist(spec.url, "qwen-math"),
                              options=ModelOptions(prices={"qwen-math": Price(0.0, 0.0)}))
        trace = methods.router(setup, "What is 27*14+15?")
    assert trace.cost_usd == pytest.approx((400 * 0.15 + 12 * 0.60) / 1e6)


def test_arguments_that_are_not_json_go_back_to_the_model():
    script = [completion(tool_calls=[tool_call("add", '{"a": 1, "b": ')]),
              completion("sorry, the answer is 3")]
    with ChatServer(script) as server:
        trace = loop.run(chat(server), ToolRegistry([add]), user("1+2?"))
    assert trace.stopped == "answer"
    call = trace.tool_calls[0]
    assert call.is_error and call.result.startswith("Error: arguments are not valid JSON")
    sent_back = server.requests[1]["messages"][-1]
    assert sent_back["role"] == "tool" and sent_back["content"] == call.result


def test_an_unknown_tool_is_answered_with_the_valid_names():
    script = [completion(tool_calls=[tool_call("multiply", {"a": 1, "b": 2})]),
              completion(tool_calls=[tool_call("add", {"a": 1, "b": 2})]),
              completion("3")]
    with ChatServer(script) as server:
        trace = loop.run(chat(server), ToolRegistry([add]), user("1+2?"))
    assert trace.tool_calls[0].result == "Error: unknown tool 'multiply'; available tools: add"
    assert trace.tool_calls[1].result == "3" and not trace.tool_calls[1].is_error
    assert trace.final_text == "3"


def test_a_500_is_retried_by_the_sdk():
    with ChatServer([error(500), completion("\\boxed{7}")]) as server:
        trace = loop.run(chat(server), ToolRegistry(), user("3+4?"))
    assert trace.final_text == "\\boxed{7}"
    assert len(server.requests) == 2


def test_persistent_failure_raises_a_transport_error_without_the_key():
    with ChatServer(lambda _: error(503, "overloaded; key sk-test-secret-123")) as server:
        with pytest.raises(TransportError) as caught:
            loop.run(chat(server), ToolRegistry(), user("3+4?"))
    assert "HTTP 503" in str(caught.value)
    assert "sk-test-secret-123" not in str(caught.value)


def test_a_refused_key_is_one_clear_error():
    with ChatServer(lambda _: error(401, "Incorrect API key provided: sk-test-secret-123")) as server:
        with pytest.raises(TransportError, match="refused the API key"):
            loop.run(chat(server), ToolRegistry(), user("3+4?"))


def test_a_model_that_never_stops_calling_tools_hits_max_turns():
    endless = lambda _: completion(tool_calls=[tool_call("add", {"a": 1, "b": 1})])  # noqa: E731
    with ChatServer(endless) as server:
        trace = loop.run(chat(server), ToolRegistry([add]), user("loop"), max_turns=3)
    assert trace.stopped == "max_turns"
    assert len(trace.turns) == 3 and len(trace.tool_calls) == 3
    assert len(server.requests) == 3


def test_no_key_and_no_url_is_a_user_error():
    with pytest.raises(UserError, match="OPENAI_API_KEY"):
        OpenAIChat("gpt-4o-mini")


def test_a_server_without_keys_needs_none():
    with ChatServer([completion("\\boxed{1}")]) as server:
        trace = loop.run(OpenAIChat("m", base_url=server.url), ToolRegistry(), user("?"))
    assert trace.final_text == "\\boxed{1}"
    # An unknown model's cost is unknown, never 0.
    assert trace.cost_usd is None and trace.component_cost_usd == {"orchestrator": None}


def test_the_trace_round_trips_through_json():
    with ChatServer(router_orchestrator()) as orch, ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch),
                              specialist=OpenAISpecialist(spec.url, "qwen-math"))
        trace = methods.router(setup, "What is 27*14+15?")
    again = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert again == trace


def test_show_work_returns_the_worked_solution():
    from math_router.tools.slm import slm_help_tool

    with ChatServer(specialist_answering()) as spec:
        help_tool = slm_help_tool(OpenAISpecialist(spec.url, "qwen-math"))
        plain = help_tool.fn(question="What is 27*14+15?")
        shown = help_tool.fn(question="What is 27*14+15?", show_work=True)
    assert plain.content == "Answer: 393" and plain.final is None
    assert shown.content.startswith("Answer: 393\n\nWorked solution:\n27*14 = 378")
    assert help_tool.parameters["properties"]["show_work"] == {
        "type": "boolean", "description": "Also return its worked solution.", "default": False}


def sampled_specialist(answers: list[str]):
    """Sample i (seed i) answers answers[i], one request each."""
    def respond(request):
        answer = answers[request.get("seed", 0) % len(answers)]
        return completion(f"Work.\n\\boxed{{{answer}}}", prompt_tokens=40, completion_tokens=50)
    return respond


def test_an_agreed_vote_ends_the_router_without_a_second_turn():
    with ChatServer(router_orchestrator()) as orch, \
            ChatServer(sampled_specialist(["393", "393", "393", "390"])) as spec:
        setup = methods.Setup(orchestrator=chat(orch), specialist=OpenAISpecialist(spec.url, "q"),
                              options=ModelOptions(router_samples=4, threshold=0.75))
        trace = methods.router(setup, "What is 27*14+15?")
    assert len(orch.requests) == 0  # the router's own call, agreed: no orchestrator turn at all
    assert trace.tool_calls[0].result.startswith("Answer: 393 (3 of 4 samples agree)")
    assert "Worked solution" in trace.tool_calls[0].result  # they did not all agree
    assert trace.ended == "specialist_vote" and "\\boxed{393}" in trace.final_text
    assert "orchestrator" not in trace.usage and trace.cost_usd is None  # q's price is unknown


def test_a_split_vote_goes_back_to_the_orchestrator():
    with ChatServer(router_orchestrator(answer_from_tool=False, final="393")) as orch, \
            ChatServer(sampled_specialist(["393", "393", "390", "391"])) as spec:
        setup = methods.Setup(orchestrator=chat(orch), specialist=OpenAISpecialist(spec.url, "q"),
                              options=ModelOptions(router_samples=4, threshold=0.75))
        trace = methods.router(setup, "What is 27*14+15?")
    assert len(orch.requests) == 1 and trace.ended == "orchestrator"
    result = trace.tool_calls[0].result
    assert result.startswith("Answer: 393 (2 of 4 samples agree)")
    assert "Other samples' answers: 390, 391" in result


def test_without_agree_stop_an_agreed_vote_still_gets_a_second_turn():
    with ChatServer(router_orchestrator()) as orch, \
            ChatServer(sampled_specialist(["393"] * 4)) as spec:
        setup = methods.Setup(orchestrator=chat(orch), specialist=OpenAISpecialist(spec.url, "q"),
                              options=ModelOptions(router_samples=4, agree_stop=False))
        trace = methods.router(setup, "What is 27*14+15?")
    assert len(orch.requests) == 1 and trace.ended == "orchestrator"
    assert trace.tool_calls[0].result == "Answer: 393 (4 of 4 samples agree)"


def test_a_reply_that_states_no_answer_leaves_the_specialists_standing():
    # The stand-in orchestrator often confirms without restating: "The answer is correct."
    with ChatServer(lambda request: completion("The answer is correct.")) as orch, \
            ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch), specialist=OpenAISpecialist(spec.url, "q"))
        trace = methods.router(setup, "What is 27*14+15?")
    assert trace.turns[-1].content == "The answer is correct."  # what the model said, kept
    assert trace.final_text.startswith("The answer is correct.")
    assert "\\boxed{393}" in trace.final_text and trace.ended == "specialist_stands"


def test_a_reply_with_its_own_answer_overrules_the_specialist():
    with ChatServer(lambda request: completion("No: the answer is 390.")) as orch, \
            ChatServer(specialist_answering()) as spec:
        setup = methods.Setup(orchestrator=chat(orch), specialist=OpenAISpecialist(spec.url, "q"))
        trace = methods.router(setup, "What is 27*14+15?")
    assert trace.final_text == "No: the answer is 390." and trace.ended == "orchestrator"
