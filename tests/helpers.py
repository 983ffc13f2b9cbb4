"""Scripted model behaviours for the test chat server."""

from __future__ import annotations

from tests.chat_server import Reply, completion, tool_call


def has_tool_result(request: dict) -> bool:
    return any(m.get("role") == "tool" for m in request["messages"])


def router_orchestrator(answer_from_tool: bool = True, final: str = "393"):
    """Calls slm_help with the user's question, then answers with the specialist's answer."""

    def respond(request: dict) -> Reply:
        if not has_tool_result(request):
            question = request["messages"][-1]["content"]
            return completion(tool_calls=[tool_call("slm_help", {"question": question})],
                              prompt_tokens=120, completion_tokens=20, model="gpt-4o-mini")
        result = [m for m in request["messages"] if m.get("role") == "tool"][-1]["content"]
        answer = result.rsplit(":", 1)[-1].strip() if answer_from_tool else final
        return completion(f"The specialist is right. \\boxed{{{answer}}}",
                          prompt_tokens=400, completion_tokens=12, model="gpt-4o-mini")

    return respond


def specialist_answering(answer: str = "393", tokens: int = 80):
    def respond(request: dict) -> Reply:
        return completion(f"27*14 = 378 and 378 + 15 = {answer}.\n\\boxed{{{answer}}}",
                          prompt_tokens=40, completion_tokens=tokens, model="qwen-math")

    return respond
