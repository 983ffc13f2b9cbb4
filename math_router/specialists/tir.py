"""Tool-integrated reasoning (TIR), Qwen2.5-Math's second official mode: it writes Python, reads
what the program printed, and goes on.

As Qwen's own evaluation does it: the TIR system prompt; when a ```python
block closes (and no \\boxed{} answer has been given since the last output),
the block runs in the sandbox and "```output\\n<what it printed>\\n```" is
appended; at most 4 runs per solution. The answer is the last \\boxed{}, else
the last output. `Programs` is the decoder's interlude (llama.batched);
`continue_until_done` drives the same loop for back ends that complete text
(the plain llama.cpp path, an OpenAI-compatible server's /v1/completions).
"""

from __future__ import annotations

import re
import threading
from typing import Callable

from math_router.engine.answers import extract_answer, last_boxed
from math_router.sandbox.executor import PythonExecutor

SYSTEM_PROMPT = ("Please integrate natural language reasoning with programs to solve the problem "
                 "above, and put your final answer within \\boxed{}.")
MAX_EXECUTIONS = 4
OUTPUT_CHARS = 400  # Qwen's evaluation shows the model at most this much of an output
STOP = "```output"  # back ends that complete text stop here, as Qwen's evaluation does

_OPEN_BLOCK = "```python"
_CLOSED_BLOCK = re.compile(r"```python\n(.*?)```\s*$", re.DOTALL)
_OUTPUT = re.compile(r"```output\n(.*?)\n```", re.DOTALL)


def segment(text: str) -> str:
    """What the model wrote since the last program output."""
    return text.rsplit("\n```output\n", 1)[-1]


def executions_in(text: str) -> int:
    return text.count("\n```output\n")


def program_to_run(text: str) -> str | None:
    """The Python block that just closed at the end of `text`, if it should run now."""
    tail = segment(text)
    if "\\boxed" in tail or executions_in(text) >= MAX_EXECUTIONS:
        return None
    start = tail.rfind(_OPEN_BLOCK)
    if start < 0:
        return None
    match = _CLOSED_BLOCK.search(tail[start:])
    return match.group(1) if match else None


def shown(text: str) -> str:
    """An output as Qwen's evaluation shows it to the model: at most 400 characters, middle cut."""
    text = text.strip()
    if len(text) > OUTPUT_CHARS:
        half = OUTPUT_CHARS // 2
        text = text[:half] + "..." + text[-half:]
    return text


def appended(text: str, output: str, runs: int) -> str:
    """What follows `text` after a run: the output block (and the limit note after the last)."""
    # Qwen strips the model's text before the block; trailing newlines the model already
    # wrote count toward the one that opens the block.
    lead = "" if text.endswith("\n") else "\n"
    note = "\nReach max function call limit." if runs >= MAX_EXECUTIONS else ""
    return f"{lead}```output\n{output}\n```\n{note}"


def tir_answer(text: str) -> str | None:
    """The last \\boxed{} answer, else what the last program printed, else any stated answer."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    outputs = [o.strip() for o in _OUTPUT.findall(text) if o.strip()]
    if outputs and "Error" not in outputs[-1].splitlines()[-1]:
        return outputs[-1].splitlines()[-1].strip()
    return extract_answer(text)


class Programs:
    """Runs the programs of one request's samples and keeps what ran, in order."""

    def __init__(self, executor: PythonExecutor):
        self.executor = executor
        self.executions: list[dict] = []
        self._lock = threading.Lock()

    def pause(self, text: str) -> bool:
        return program_to_run(text) is not None

    def resume(self, text: str, sample: int = 0) -> str:
        code = program_to_run(text)
        run = self.executor.run(code or "")
        output = shown(run.stdout if run.stdout.strip() and not run.error else run.text) or "Done"
        with self._lock:
            self.executions.append({**run.as_dict(), "sample": sample, "shown": output})
        return appended(text, output, executions_in(text) + 1)

    def of_sample(self, sample: int) -> list[dict]:
        return [e for e in self.executions if e["sample"] == sample]


def continue_until_done(complete: Callable[[str], tuple[str, str, int]], programs: Programs,
                        sample: int = 0) -> tuple[str, int, int, str]:
    """Drive a text-completing back end through TIR.

    `complete(text_so_far)` continues the assistant's text, stopping at "```output",
    and returns (new text, finish reason, completion tokens). Returns the whole
    assistant text, completion tokens, tokens of appended outputs (approximate:
    characters / 4 where the back end cannot count them) and the finish reason.
    """
    text, generated, injected, reason = "", 0, 0, "stop"
    while True:
        more, reason, tokens = complete(text)
        generated += tokens
        text += more
        if reason != "stop" or program_to_run(text.rstrip() + "\n") is None:
            return text, generated, injected, reason
        text = text.rstrip()
        extra = programs.resume(text, sample)
        injected += max(1, len(extra) // 4)
        text += extra

