"""Tool calls written as text by local models, parsed into OpenAI tool calls."""

from __future__ import annotations

import json

from math_router.llama.chat import template_messages
from math_router.engine.tool_call_text import parse_tool_calls

TOOLS = {"slm_help", "add"}

# Recorded from the stand-in Qwen2.5-Coder-1.5B-Instruct GGUF (llama.cpp, its own chat
# template with two tools offered): it writes calls as ```json fences, not <tool_call> tags.
RECORDED_FENCED = "```json\n{\n  \"name\": \"add\",\n  \"arguments\": {\n    \"a\": 2,\n    \"b\": 3\n  }\n}\n```"
RECORDED_FENCED_2 = ("```json\n{\n  \"name\": \"slm_help\",\n  \"arguments\": {\n    \"question\": "
                     "\"What is 12*12? Say first what you are going to do.\"\n  }\n}\n```")
# Qwen2.5 Instruct's own format, as its chat template asks for it.
QWEN_TWO_CALLS = ("I will compute both.\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}\n"
                  "</tool_call>\n<tool_call>\n{\"name\": \"slm_help\", \"arguments\": {\"question\": \"7*8?\"}}\n"
                  "</tool_call>")


def args(call) -> dict:
    return json.loads(call.arguments)


def test_one_tagged_call():
    content, calls = parse_tool_calls('<tool_call>\n{"name": "slm_help", "arguments": {"question": "2+2?"}}\n</tool_call>')
    assert content is None
    assert [(c.name, args(c)) for c in calls] == [("slm_help", {"question": "2+2?"})]
    assert calls[0].id.startswith("call_")


def test_several_calls_with_text_around():
    content, calls = parse_tool_calls(QWEN_TWO_CALLS + "\nThen I check.", TOOLS)
    assert content == "I will compute both.\n\n\nThen I check."
    assert [c.name for c in calls] == ["add", "slm_help"]
    assert args(calls[0]) == {"a": 2, "b": 3}
    assert len({c.id for c in calls}) == 2


def test_malformed_json_stays_text():
    text = 'Let me call <tool_call>\n{"name": "add", "arguments": {"a": 2,}\n</tool_call>'
    content, calls = parse_tool_calls(text, TOOLS)
    assert calls == [] and content == text


def test_an_unclosed_last_block_still_counts():
    content, calls = parse_tool_calls('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}')
    assert content is None and [c.name for c in calls] == ["add"]


def test_recorded_fenced_calls():
    for recorded, name in ((RECORDED_FENCED, "add"), (RECORDED_FENCED_2, "slm_help")):
        content, calls = parse_tool_calls(recorded, TOOLS)
        assert content is None and [c.name for c in calls] == [name]
    assert args(parse_tool_calls(RECORDED_FENCED_2, TOOLS)[1][0])["question"].startswith("What is 12*12?")


def test_json_that_is_not_a_call_of_an_offered_tool_stays_text():
    answer = '```json\n{"name": "Janet", "eggs": 16}\n```'
    assert parse_tool_calls(answer, TOOLS) == (answer, [])
    unknown = '{"name": "search", "arguments": {"q": "x"}}'
    assert parse_tool_calls(unknown, TOOLS) == (unknown, [])
    assert parse_tool_calls(RECORDED_FENCED, None) == (RECORDED_FENCED, [])  # no tools offered
    assert parse_tool_calls("The answer is \\boxed{18}.", TOOLS) == ("The answer is \\boxed{18}.", [])


def test_a_bare_object_naming_an_offered_tool_is_a_call():
    content, calls = parse_tool_calls('{"name": "add", "arguments": {"a": 1, "b": 1}}', TOOLS)
    assert content is None and args(calls[0]) == {"a": 1, "b": 1}


def test_history_goes_to_the_template_with_dict_arguments():
    messages = [{"role": "user", "content": "2+3?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}},
                    {"id": "c2", "type": "function", "function": {"name": "add", "arguments": '{"a": 2,'}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "5"}]
    converted = template_messages(messages)
    assert converted[1]["content"] == ""
    assert converted[1]["tool_calls"][0]["function"]["arguments"] == {"a": 2, "b": 3}
    assert converted[1]["tool_calls"][1]["function"]["arguments"] == '{"a": 2,'
    assert messages[1]["content"] is None  # the caller's history is untouched
    assert messages[1]["tool_calls"][0]["function"]["arguments"] == '{"a": 2, "b": 3}'
