"""Orchestrator input tokens of the router's and the cascade's prompts, change by change.

    python -m benchmarks.delegation_tokens --gguf STANDIN

Renders each request the orchestrator reads through the GGUF's own chat
template (tools included) and counts its tokens with the GGUF's tokenizer (the
weights are not loaded): the prompts before compact delegation (as of commit
debf8a3) and now, one change at a time. A GSM8K question and a worked solution
of the stand-in (280 tokens, the length measured in docs/benchmarks.md) stand
in for a problem.
"""

from __future__ import annotations

import argparse
import json

from math_router.evals import methods
from math_router.tools.base import Tool
from math_router.tools.slm import slm_help_tool

QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and "
            "bakes muffins for her friends every day with four. She sells the remainder at the "
            "farmers' market daily for $2 per fresh duck egg. How much in dollars does she make "
            "every day at the farmers' market?")
SOLUTION = ("To determine how much Janet makes every day at the farmers' market, we need to follow "
            "these steps:\n\n1. Calculate the total number of eggs laid by the ducks each day.\n"
            "2. Subtract the number of eggs Janet eats for breakfast and uses for baking muffins.\n"
            "3. Multiply the remaining number of eggs by the price per egg.\n\nStep 1: The ducks "
            "lay 16 eggs per day.\n\\[ 16 \\]\n\nStep 2: Janet eats 3 eggs for breakfast and uses 4 "
            "eggs for baking muffins. So, the total number of eggs used is:\n\\[ 3 + 4 = 7 \\]\n"
            "Subtract the eggs used from the total eggs laid:\n\\[ 16 - 7 = 9 \\]\n\nStep 3: Janet "
            "sells the remaining 9 eggs at $2 per egg. So, her daily earnings are:\n\\[ 9 \\times 2 "
            "= 18 \\]\n\nTherefore, Janet makes \\(\\boxed{18}\\) dollars every day at the "
            "farmers' market.")

OLD_ROUTER_SYSTEM = """You solve math problems by delegating the work to a math specialist.
1. Call slm_help with the complete problem, including every number it needs.
2. Check the specialist's reasoning and arithmetic against the problem.
3. If it is right, reply with its final answer. If it is wrong, call slm_help again \
with a clearer or smaller question, or correct the mistake yourself.
Reply briefly: at most one sentence, then the final answer in \\boxed{}."""
OLD_CASCADE_SYSTEM = """You decide the answer to a math problem. A math specialist sampled several \
solutions and their final answers disagree; you see each answer with how many samples gave it.
Work out which is right: reason briefly, and call slm_help with a clearer or smaller question \
if that helps. End with the final answer in \\boxed{}."""


def old_slm_help(question: str) -> str:
    """Ask a math specialist model to solve a math problem step by step.
    It returns its worked solution and its final answer; check them before you use them.

    Args:
        question: The complete problem, self-contained, with every number it needs.
    """
    return ""


def conversation(system: str, result: str | None) -> list[dict]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTION}]
    if result is not None:
        messages += [{"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "slm_help", "arguments": {"question": QUESTION}}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": result}]
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    args = parser.parse_args()
    import llama_cpp
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llama = llama_cpp.Llama(args.gguf, vocab_only=True, verbose=False)
    formatter = Jinja2ChatFormatter(template=llama.metadata["tokenizer.chat_template"],
                                    eos_token="<|im_end|>", bos_token="")

    def tokens(messages: list[dict], tools: list[dict]) -> int:
        prompt = formatter(messages=messages, tools=tools).prompt
        return len(llama.tokenize(prompt.encode(), add_bos=False, special=True))

    old_tool = [Tool.from_function(old_slm_help, name="slm_help").schema()]
    new_tool = [slm_help_tool(None).schema()]
    old_result = f"{SOLUTION}\n\nSpecialist's final answer: 18"
    steps = {
        "before: turn 1 (old system prompt, old tool)": tokens(conversation(OLD_ROUTER_SYSTEM, None), old_tool),
        "before: turn 2 (+ whole worked solution)": tokens(conversation(OLD_ROUTER_SYSTEM, old_result), old_tool),
        "new system prompt: turn 1": tokens(conversation(methods.ROUTER_SYSTEM, None), old_tool),
        "+ new tool description: turn 1": tokens(conversation(methods.ROUTER_SYSTEM, None), new_tool),
        "+ answer only: turn 2": tokens(conversation(methods.ROUTER_SYSTEM, "Answer: 18"), new_tool),
        "+ vote, agreed (--router-samples 4): turn 2": tokens(conversation(
            methods.ROUTER_SYSTEM, "Answer: 18 (4 of 4 samples agree)"), new_tool),
        "cascade escalation before": tokens(conversation(OLD_CASCADE_SYSTEM, None), old_tool),
        "cascade escalation now": tokens(conversation(methods.CASCADE_SYSTEM, None), new_tool),
    }
    before = steps["before: turn 1 (old system prompt, old tool)"] + steps["before: turn 2 (+ whole worked solution)"]
    after = steps["+ new tool description: turn 1"] + steps["+ answer only: turn 2"]
    steps["router, both turns: before"] = before
    steps["router, both turns: after"] = after
    steps["router, agreed vote ends it: after"] = steps["+ new tool description: turn 1"]
    print(json.dumps(steps, indent=2))


if __name__ == "__main__":
    main()
