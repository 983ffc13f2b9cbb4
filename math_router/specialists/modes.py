"""The specialist's answering modes, as Qwen publishes them, each one object.

chain-of-thought (`cot`, the default): reason in prose, answer in \\boxed{}.
tool-integrated reasoning (`tir`): write Python, read what it printed, go on
(specialists.tir). What differs between them (the system prompt, whether code
runs, where the answer is read) is said here once; the specialists, the vote
and run.json's prompt hashes ask the mode instead of comparing its name.
"""

from __future__ import annotations

import attrs

from math_router.engine.answers import extract_answer
from math_router.engine.errors import UserError
from math_router.specialists import tir

# From the Qwen2.5-Math model card: greedy decoding with this system message.
COT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."


@attrs.frozen
class Mode:
    name: str
    system: str
    runs_code: bool  # the model's programs run in the sandbox: it needs an executor

    def messages(self, question: str) -> list[dict]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": question}]

    def answer(self, text: str) -> str | None:
        """The answer a solution states: a program's output counts where code runs."""
        return tir.tir_answer(text) if self.runs_code else extract_answer(text)

    @property
    def identity(self) -> str:
        """What the response cache adds to a specialist's identity (nothing for the default; a
        prompt of the user's own, by its hash)."""
        if self is COT:
            return ""
        if self.name in MODES:
            return f":{self.name}"
        import hashlib

        return f":{self.name}:{hashlib.sha256(self.system.encode('utf-8')).hexdigest()[:12]}"


def prompt_mode(name: str, system: str) -> Mode:
    """A specialist tool's own mode: its system prompt, prose answers (a \\boxed{} one, if
    any, is its answer)."""
    return Mode(name, system, runs_code=False)


COT = Mode("cot", COT_SYSTEM_PROMPT, runs_code=False)
TIR = Mode("tir", tir.SYSTEM_PROMPT, runs_code=True)
MODES: dict[str, Mode] = {m.name: m for m in (COT, TIR)}
DEFAULT_MODE = COT.name


def mode_named(name: str) -> Mode:
    if name not in MODES:
        raise UserError(f"unknown specialist mode {name!r}; choose one of {', '.join(MODES)}")
    return MODES[name]


def specialist_mode(name: str | Mode, executor: object | None) -> Mode:
    """A specialist's mode (by name, or a Mode): one that runs code needs an `executor`."""
    mode = name if isinstance(name, Mode) else mode_named(name)
    if mode.runs_code and executor is None:
        raise ValueError("tool-integrated reasoning needs an executor")
    return mode
