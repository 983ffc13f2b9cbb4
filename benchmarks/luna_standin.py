"""The modern comparison against a server that behaves like gpt-6-luna: the llm thinking at
medium effort alone, the router at effort none with the specialist, and the cascade; the
orchestrator's tokens per problem (input, output, of which reasoning) and cost against the llm,
at gpt-6-luna's list prices.

    python -m benchmarks.luna_standin [--n 30] [--specialist GGUF]

THE SERVER IS A STAND-IN, not gpt-6-luna: math_router.testing.ChatServer with the reasoning
rules OpenAI documents (tools only at effort none, temperature refused while thinking,
max_completion_tokens, reasoning tokens inside completion_tokens). Its input tokens are counted
from the request it is really sent (characters / 4, messages and tool schemas), its visible
output from the text it returns; its reasoning tokens are the stand-in's fixed count per effort
(ReasoningRules: medium 192), not what gpt-6-luna would think. It answers the gold answer, or a
wrong one on every fifth problem alone (the router's orchestrator repeats the specialist's
answer). The specialist is a test server right on all but every seventh problem, or a GGUF.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from click.testing import CliRunner

from math_router.cli import cli
from math_router.evals.datasets import load_problems
from math_router.testing import (ChatServer, ReasoningRules, completion, has_tool_result,
                                 tool_call, user_question)

ROOT = Path(__file__).resolve().parents[1]
GSM8K = str(ROOT / "data" / "gsm8k" / "test.jsonl")
SEED = 123


def tokens(data) -> int:
    """A rough token count (about four characters a token in English and JSON)."""
    return max(1, len(json.dumps(data, ensure_ascii=False)) // 4)


def orchestrator(gold: dict[str, str]):
    def respond(request: dict):
        question = user_question(request)
        prompt = tokens(request["messages"]) + tokens(request.get("tools") or [])
        if "tools" in request and not has_tool_result(request):
            call = tool_call("slm_help", {"question": question})
            return completion(tool_calls=[call], prompt_tokens=prompt,
                              completion_tokens=tokens(call["function"]))
        if "tools" in request:  # repeat what the tool said
            said = [m for m in request["messages"] if m.get("role") == "tool"][-1]["content"]
            found = re.search(r"answer[^:\n]*:\s*([^\s(]+)", said, re.IGNORECASE)
            text = f"The specialist is right. \\boxed{{{found.group(1) if found else '0'}}}"
        else:
            key = next((q for q in gold if q in question), None)
            answer = gold.get(key, "0")
            if key is not None and sum(map(ord, key)) % 5 == 0:
                answer = str(int(float(answer)) + 1)
            text = f"Working through the quantities step by step. \\boxed{{{answer}}}"
        return completion(text, prompt_tokens=prompt, completion_tokens=tokens(text))

    return respond


def specialist(gold: dict[str, str]):
    def respond(request: dict):
        question = user_question(request)
        key = next((q for q in gold if q in question), None)
        answer = gold.get(key, "0")
        if key is not None and sum(map(ord, key)) % 7 == 0:
            answer = str(int(float(answer)) + request.get("seed", 0) % 2 + 1)
        text = f"Reasoning.\n\\boxed{{{answer}}}"
        return completion(text, prompt_tokens=tokens(request["messages"]), completion_tokens=120)

    return respond


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--specialist", help="a GGUF specialist instead of the test server")
    args = parser.parse_args()
    gold = {p.question: p.gold for p in load_problems(GSM8K, args.n, SEED)}
    rules = ReasoningRules()
    with tempfile.TemporaryDirectory() as tmp, \
            ChatServer(orchestrator(gold), models=("gpt-6-luna",), reasoning=rules) as orch, \
            ChatServer(specialist(gold)) as spec:
        flags = ["--specialist", args.specialist] if args.specialist else \
            ["--specialist", spec.url, "--specialist-model", "qwen-math", "--price", "qwen-math=0,0"]
        out = Path(tmp) / "run"
        result = CliRunner().invoke(cli, [
            "eval", "--method", "llm,router,cascade", "--dataset", GSM8K, "--n", str(args.n),
            "--seed", str(SEED), "--out", str(out), "--base-url", orch.url, "--no-cache",
            "--no-progress", "--llm-reasoning-effort", "medium", *flags],
            env={"OPENAI_API_KEY": "sk-bench"}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        methods = json.loads((out / "comparison.json").read_text())["methods"]
        efforts = {r.get("reasoning_effort", "default") for r in orch.requests}
    print(f"stand-in gpt-6-luna, {args.n} GSM8K test problems (seed {SEED}), efforts sent: "
          f"{sorted(efforts)}")
    print("| method | effort | accuracy | orchestrator tokens per problem: in / out (of which "
          "reasoning) | cost per problem | cost vs llm |")
    print("|---|---|---|---|---|---|")
    for name, m in methods.items():
        n = m["n"]
        effort = (m.get("settings") or {}).get("reasoning_effort", "-")
        print(f"| {name} | {effort} | {m['accuracy']:.1%} | {m['orchestrator_input_tokens'] / n:,.0f} / "
              f"{m['orchestrator_output_tokens'] / n:,.0f} ({m['orchestrator_reasoning_tokens'] / n:,.0f}) | "
              f"${m['cost_per_problem_usd']:.7f} | "
              + ("-" if m.get("cost_vs_llm") is None else f"{m['cost_vs_llm']:.2f}x") + " |")


if __name__ == "__main__":
    main()
