"""The local orchestrator in process, end to end on the real SmolLM2 GGUF.

SmolLM2-135M is far too small to be right, so these tests assert the shape:
a forced slm_help call happened, the specialist ran, a final text came back.
The question is "What is 2+2?": on harder ones SmolLM2's greedy argument
rambles past any token budget, which is a fact about SmolLM2, not the router.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.llama.chat import LlamaChat
from math_router.evals import methods
from math_router.factory import build_setup
from math_router.options import ModelOptions
from math_router.llama import gguf
from math_router.llama.runtime import shared_runtime
from math_router.specialists.qwen_math import QwenMathSpecialist
from math_router.testing import fill_hub_cache


@pytest.fixture(scope="module")
def runtime(smollm2):
    return shared_runtime(smollm2)


def test_router_on_a_local_gguf_with_a_forced_tool_call(runtime):
    # The orchestrator writes the forced first call itself (by default the router makes it).
    setup = methods.Setup(orchestrator=LlamaChat(runtime, max_tokens=256),
                          specialist=QwenMathSpecialist(runtime, max_tokens=32),
                          options=ModelOptions(max_turns=3, direct_first_call=False))
    trace = methods.router(setup, "What is 2+2?")
    assert trace.tool_calls and trace.tool_calls[0].name == "slm_help"
    assert not trace.tool_calls[0].is_error
    assert json.loads(trace.tool_calls[0].arguments)["question"]  # the grammar gave the schema's shape
    assert trace.usage["specialist"].calls >= 1 and trace.usage["specialist"].output_tokens > 0
    assert trace.usage["orchestrator"].calls == len(trace.turns) >= 2
    assert trace.turns[0].finish_reason == "tool_calls"
    assert trace.cost_usd == 0 and trace.local == ["orchestrator", "specialist"]
    assert trace.stopped == "answer" and trace.final_text


def test_the_same_gguf_is_loaded_once_for_both_roles(smollm2):
    options = ModelOptions(model=str(smollm2), specialist=str(smollm2), cache=False)
    setup = build_setup(["router"], options)
    assert setup.orchestrator.runtime is setup.specialist.runtime


def test_solve_without_a_key_runs_locally(smollm2):
    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "--model", str(smollm2),
                                      "--specialist", str(smollm2), "--orchestrator-max-tokens", "256",
                                      "--specialist-max-tokens", "32", "--max-turns", "3", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["tool_calls"][0]["name"] == "slm_help"
    assert data["usage"]["specialist"]["calls"] >= 1
    assert data["cost_usd"] == 0 and set(data["local"]) == {"orchestrator", "specialist"}


def test_without_a_key_the_default_is_the_local_model(tmp_path, smollm2, monkeypatch):
    import huggingface_hub.constants as hub_constants

    # Offline and not cached: one line that names the file and --model PATH.
    result = CliRunner().invoke(cli, ["solve", "2+2", "--specialist", str(smollm2)])
    assert result.exit_code == 1
    assert "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf is not in the Hugging Face cache" in result.output
    assert "--model PATH" in result.output

    # Cached (here a small stand-in under the default's name): it runs, and says why.
    hub = gguf.hub_file("qwen2.5-1.5b-instruct")
    fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    result = CliRunner().invoke(cli, ["solve", "2+2", "--specialist", str(smollm2),
                                      "--orchestrator-max-tokens", "256", "--specialist-max-tokens", "16",
                                      "--max-turns", "2", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "no OPENAI_API_KEY and no --base-url: the orchestrator is the local GGUF qwen2.5-1.5b-instruct" in result.stderr
    data = json.loads(result.stdout)
    assert data["models"]["orchestrator"] == "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"


def test_an_explicit_api_model_without_a_key_is_an_error():
    result = CliRunner().invoke(cli, ["solve", "2+2", "--model", "gpt-4o", "--method", "llm"])
    assert result.exit_code == 1 and "no OpenAI API key" in result.output


TOOLS = [{"type": "function", "function": {
    "name": "slm_help", "description": "Ask a math specialist.",
    "parameters": {"type": "object", "properties": {"question": {"type": "string"}},
                   "required": ["question"]}}}]
FORCE = {"type": "function", "function": {"name": "slm_help"}}


def test_the_batched_prompt_is_the_chat_handlers_token_for_token(runtime, monkeypatch):
    messages = [{"role": "system", "content": "Solve it."}, {"role": "user", "content": "2+2?"}]
    seen = []
    llama = runtime.llama
    real = llama.create_completion

    def spy(*args, **kwargs):
        seen.append(list(kwargs.get("prompt", args[0] if args else [])))
        return real(*args, **kwargs)

    monkeypatch.setattr(llama, "create_completion", spy)
    for tools, choice in ((None, None), (TOOLS, None), (TOOLS, FORCE)):
        seen.clear()
        runtime.chat(messages, max_tokens=2, tools=tools, tool_choice=choice)
        assert seen[0] == runtime.prompt_tokens(messages, tools=tools, tool_choice=choice)


def test_batched_turns_agree_with_the_plain_path(runtime):
    from math_router.llama.batched import BatchedDecoder

    # The plain path's attention kernel (flash attention off), so that only the choice of the
    # next token differs: numpy's argmax, and llama.cpp's sampler under the tool's grammar.
    decoder = BatchedDecoder(runtime, n_seq_max=4, ctx_per_seq=768, flash_attn=False)
    plain = LlamaChat(runtime, max_tokens=64)
    batched = LlamaChat(runtime, max_tokens=64, decoder=decoder)
    messages = [{"role": "system", "content": "Answer briefly."},
                {"role": "user", "content": "Name a primary colour."}]
    assert batched.complete(messages, []).content == plain.complete(messages, []).content
    forced_plain = plain.complete(messages, TOOLS, FORCE)
    forced_batched = batched.complete(messages, TOOLS, FORCE)
    assert forced_batched.tool_requests[0].name == "slm_help"
    # The same grammar, the same greedy choices: the same arguments, character for character.
    assert forced_batched.tool_requests[0].arguments == forced_plain.tool_requests[0].arguments
    assert forced_batched.tool_requests[0].arguments.lstrip().startswith('{ "question"')


def test_orchestrator_turns_share_decode_steps_and_their_prefix(runtime):
    import threading

    from math_router.llama.batched import BatchedDecoder

    decoder = BatchedDecoder(runtime, n_seq_max=4, ctx_per_seq=768)
    chat = LlamaChat(runtime, max_tokens=24, decoder=decoder)
    system = {"role": "system", "content": "You solve math problems with the slm_help tool."}
    turns = {}

    def ask(i):
        turns[i] = chat.complete([system, {"role": "user", "content": f"What is {i} + {i}?"}], TOOLS)

    first = threading.Thread(target=ask, args=(1,))
    second = threading.Thread(target=ask, args=(2,))
    first.start()
    second.start()
    first.join()
    second.join()
    assert decoder.max_active >= 2  # two problems' turns in one decode step
    ask(3)
    # The system prompt and tool schema came from kept cells, not evaluated again.
    assert turns[3].usage.prompt_cache_hit_tokens > 20
    assert turns[3].usage.input_tokens > turns[3].usage.prompt_cache_hit_tokens
