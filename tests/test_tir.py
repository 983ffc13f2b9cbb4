"""Tool-integrated reasoning: programs run in the real sandbox, their output goes back into the
solution, on the batched decoder (a sequence waits, the others go on) and over HTTP."""

from __future__ import annotations

import json
import threading
import time

import pytest
from click.testing import CliRunner

from math_router.cli import cli
from math_router.sandbox.executor import PythonExecutor, SandboxLimits
from math_router.specialists import tir
from math_router.specialists.base import GREEDY, SamplingParams
from math_router.llama.batched import BatchedDecoder
from math_router.llama.runtime import LlamaRuntime
from math_router.specialists.openai_compat import OpenAISpecialist
from math_router.specialists.modes import COT
from math_router.specialists.qwen_math import QwenMathSpecialist
from math_router.testing import ChatServer, completion, text_completion

BLOCK = "Let me compute.\n```python\nprint(48 + 48 // 2)\n```"


@pytest.fixture(scope="module")
def executor():
    ex = PythonExecutor(SandboxLimits(timeout=3.0, cpu_seconds=3), pool_size=2)
    yield ex
    ex.close()


def test_a_closed_block_runs_once_and_not_after_an_answer():
    assert tir.program_to_run(BLOCK) == "print(48 + 48 // 2)\n"
    assert tir.program_to_run(BLOCK + "\n") == "print(48 + 48 // 2)\n"
    assert tir.program_to_run("```python\nprint(1)") is None  # still open
    assert tir.program_to_run("The answer is \\boxed{72}.\n```python\nprint(1)\n```") is None
    ran = BLOCK + tir.appended(BLOCK, "72", 1)
    assert ran.endswith("```\n```output\n72\n```\n") and tir.program_to_run(ran) is None
    again = ran + "Check:\n```python\nprint(72)\n```"
    assert tir.program_to_run(again) == "print(72)\n"


def test_at_most_four_runs_then_the_limit_is_said():
    text = ""
    for runs in range(1, 5):
        text += "```python\nprint(1)\n```"
        text += tir.appended(text, "1", runs)
    assert tir.executions_in(text) == 4 and text.endswith("Reach max function call limit.")
    assert tir.program_to_run(text + "```python\nprint(2)\n```") is None


def test_the_answer_is_the_last_box_else_the_last_output():
    assert tir.tir_answer(BLOCK + tir.appended(BLOCK, "72", 1) + "So \\boxed{72}.") == "72"
    assert tir.tir_answer(BLOCK + tir.appended(BLOCK, "72", 1)) == "72"
    long_output = "x" * 900
    assert len(tir.shown(long_output)) == tir.OUTPUT_CHARS + 3 and "..." in tir.shown(long_output)


def test_continue_until_done_runs_the_program_and_goes_on(executor):
    turns = iter([(BLOCK + "\n", "stop", 20), ("The total is \\boxed{72}.", "stop", 8)])
    seen = []

    def complete(text):
        seen.append(text)
        return next(turns)

    programs = tir.Programs(executor)
    text, generated, injected, reason = tir.continue_until_done(complete, programs)
    assert seen[1].endswith("```\n```output\n72\n```\n")
    assert text.endswith("\\boxed{72}.") and generated == 28 and injected > 0 and reason == "stop"
    assert programs.executions[0]["output"] == "72" and programs.executions[0]["killed"] is None


def test_tir_over_http_uses_text_completions_and_the_sandbox(executor):
    prompts = []

    def server(request):
        prompts.append(request.get("prompt", ""))
        if "```output" not in request["prompt"]:
            return text_completion("I will compute.\n```python\nimport sympy\nprint(sympy.factorial(5))\n```\n",
                                   completion_tokens=30)
        return text_completion("So the answer is \\boxed{120}.", completion_tokens=9)

    with ChatServer(server) as spec:
        specialist = OpenAISpecialist(spec.url, "qwen-math", mode="tir", executor=executor)
        result = specialist.solve("What is 5 factorial?")
        samples = specialist.sample("What is 5 factorial?", SamplingParams(k=2, seed=4))
    assert result.answer == "120"
    assert prompts[0].startswith("<|im_start|>system\n" + tir.SYSTEM_PROMPT)
    assert prompts[0].endswith("<|im_start|>assistant\n")
    assert "```output\n120\n```" in prompts[1]
    assert result.details["executions"][0]["output"] == "120"
    assert [r.answer for r in samples.results] == ["120", "120"]
    assert spec.requests[-1]["stop"] == [tir.STOP]


def test_solve_with_tir_over_http_shows_each_run_in_the_trace():
    def server(request):
        if "prompt" not in request:  # the check
            return completion("OK")
        if "```output" not in request["prompt"]:
            return text_completion("```python\nwhile True:\n    pass\n```\n")
        return text_completion("It timed out; by hand: \\boxed{4}.")

    with ChatServer(server) as spec:
        result = CliRunner().invoke(cli, [
            "solve", "What is 2+2?", "--method", "slm", "--specialist", spec.url,
            "--specialist-model", "qwen-math", "--specialist-mode", "tir", "--code-timeout", "1",
            "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "4"
    run = data["details"]["executions"][0]
    assert run["killed"] == "timeout" and "while True" in run["code"] and run["seconds"] >= 1


class SlowAfter:
    """An interlude that pauses a sequence after `after` tokens' worth of text, waits, injects."""

    def __init__(self, after_chars: int, wait: float, text: str):
        self.after_chars, self.wait, self.text, self.calls = after_chars, wait, text, []

    def pause(self, text: str) -> bool:
        return len(text) >= self.after_chars and not self.calls

    def resume(self, text: str, sample: int) -> str:
        self.calls.append(time.monotonic())
        time.sleep(self.wait)
        return self.text


@pytest.fixture(scope="module")
def runtime(smollm2):
    return LlamaRuntime(smollm2, n_ctx=2048)


def test_a_paused_sequence_waits_while_the_others_decode(runtime, monkeypatch):
    decoder = BatchedDecoder(runtime, n_seq_max=4, ctx_per_seq=512)
    # Pause at any token: SmolLM2 writes no backticks, so ask on every token.
    monkeypatch.setattr(decoder, "piece", lambda token: "`")
    interlude = SlowAfter(after_chars=40, wait=1.5, text=" The waves are")
    prompt = runtime.prompt_tokens(COT.messages("Write three sentences about the sea."))
    finished = {}

    def paused_one():
        out = decoder.generate(prompt, n=1, max_tokens=80, interlude=interlude)
        finished["paused"] = (time.monotonic(), out)

    def other():
        out = decoder.generate(prompt, n=1, max_tokens=12, sampling=GREEDY)
        finished["other"] = (time.monotonic(), out)

    first = threading.Thread(target=paused_one)
    first.start()
    while not interlude.calls:
        time.sleep(0.01)
    second = threading.Thread(target=other)
    second.start()
    first.join()
    second.join()
    paused_at = interlude.calls[0]
    assert finished["other"][0] < paused_at + 1.5  # decoded while the first one waited
    out = finished["paused"][1].generations[0]
    assert " The waves are" in out.text
    after = out.text.split(" The waves are", 1)[1]
    assert len(after.split()) >= 3  # generation went on from the injected text
    assert out.injected_tokens > 0 and out.completion_tokens + out.injected_tokens <= 80


def test_the_gguf_specialist_in_tir_mode_runs_its_programs(runtime, executor, monkeypatch):
    decoder = BatchedDecoder(runtime, n_seq_max=4, ctx_per_seq=512)
    specialist = QwenMathSpecialist(runtime, max_tokens=40, decoder=decoder, mode="tir",
                                    executor=executor)
    # SmolLM2 does not write Python; make its first pause point a program, as Qwen would write.
    real_pause = tir.Programs.pause
    monkeypatch.setattr(decoder, "piece", lambda token: "`")
    monkeypatch.setattr(tir.Programs, "pause", lambda self, text: not self.executions)
    monkeypatch.setattr(tir, "program_to_run", lambda text: "print(6 * 7)")
    result = specialist.solve("What is 6 times 7?")
    monkeypatch.setattr(tir.Programs, "pause", real_pause)
    assert "```output\n42\n```" in result.text
    assert result.details["executions"][0]["output"] == "42"
    assert result.details["mode"] == "tir" and specialist.identity.endswith(":tir")


def test_a_mixed_cascade_votes_across_both_modes_and_says_which_gave_what(tmp_path):
    from math_router.evals.records import read_records

    def specialist(request):
        if "prompt" in request:  # tir, through text completions
            if "```output" not in request["prompt"]:
                return text_completion("```python\nprint(2 + 2)\n```\n")
            return text_completion("\\boxed{4}")
        return completion(f"\\boxed{{{3 + request.get('seed', 0)}}}")

    data = tmp_path / "one.jsonl"
    data.write_text('{"question": "What is 2+2?", "answer": "4"}\n')
    out = tmp_path / "run"
    with ChatServer(lambda r: completion("\\boxed{4}")) as orch, ChatServer(specialist) as spec:
        result = CliRunner().invoke(cli, [
            "eval", "--method", "cascade", "--dataset", str(data), "--n", "all", "--out", str(out),
            "--base-url", orch.url, "--specialist", spec.url, "--specialist-model", "qwen-math",
            "--samples-mix", "cot:2,tir:2", "--price", "qwen-math=0,0", "--no-progress"],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    record = read_records(out / "results_cascade.jsonl")[0]
    assert record["sample_modes"] == ["cot", "cot", "tir", "tir"]
    assert record["sample_answers"] == ["3", "4", "4", "4"]
    assert record["candidates"][0] == {"answer": "4", "count": 3, "by_mode": {"cot": 1, "tir": 2}}
    assert record["agreement"] == 0.75 and not record["escalated"] and record["correct"]
    settings = json.loads((out / "run.json").read_text())["methods"]["cascade"]["settings"]
    assert settings["samples_mix"] == [["cot", 2], ["tir", 2]]
    assert {"specialist_system_cot", "specialist_system_tir"} <= set(settings["prompts"])


def test_the_orchestrator_can_run_python_too():
    from math_router.testing import has_tool_result, tool_call, user_question

    def orchestrator(request):
        names = {t["function"]["name"] for t in request.get("tools", [])}
        results = [m for m in request["messages"] if m.get("role") == "tool"]
        if not has_tool_result(request):
            assert names == {"slm_help", "python"}
            return completion(tool_calls=[tool_call("slm_help", {"question": user_question(request)})])
        if len(results) == 1:
            return completion(tool_calls=[tool_call("python", {"code": "27 * 14 + 15"})])
        return completion(f"Checked with Python: \\boxed{{{results[-1]['content']}}}")

    with ChatServer(orchestrator) as orch, ChatServer(lambda r: completion("\\boxed{393}")) as spec:
        result = CliRunner().invoke(cli, [
            "solve", "27*14+15", "--base-url", orch.url, "--specialist", spec.url,
            "--specialist-model", "qwen-math", "--tools", "python", "--json"],
            env={"OPENAI_API_KEY": "sk-test"}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"] == "393"
    assert [c["name"] for c in data["tool_calls"]] == ["slm_help", "python"]
    assert data["usage"]["python"]["calls"] == 1 and "python" in data["local"]
