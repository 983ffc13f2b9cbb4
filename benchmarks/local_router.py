"""The embedded default (no key, both models in process): solve time and router throughput.

    python -m benchmarks.local_router --gguf STANDIN [--root OTHER_CHECKOUT] [--n 8] [--seed 11]
        [--methods router,slm] [--no-solve]

For the checkout at --root (this one by default): `solve "What is 27*14+15?"`
(wall time, model load included) and `eval --method M` (router by default) on the same
n GSM8K problems at --concurrency 4 and 1, each with a fresh cache; problems per
minute, accuracy, and the orchestrator's prompt tokens per problem, read and
evaluated (a prefix taken from kept KV cells is read but not evaluated).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(root: Path, args: list[str], cache: str) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": cache, "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    start = time.perf_counter()
    subprocess.run([sys.executable, "cli.py", *args], cwd=root, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def orchestrator_tokens(records: list[dict]) -> tuple[float, float]:
    """Mean orchestrator prompt tokens per problem: read, and evaluated (read less reused)."""
    read = [r["usage"]["orchestrator"]["input_tokens"] for r in records]
    reused = [r["usage"]["orchestrator"].get("prompt_cache_hit_tokens", 0) for r in records]
    return sum(read) / len(read), (sum(read) - sum(reused)) / len(read)


def solve_once(args, models: list[str], tmp: str) -> dict:
    """`solve` once from a cold process: wall seconds, model load included."""
    out = Path(tmp) / "solve.json"
    start = time.perf_counter()
    env = {**os.environ, "XDG_CACHE_HOME": str(Path(tmp) / "cache-solve"), "HF_HUB_OFFLINE": "1"}
    env.pop("OPENAI_API_KEY", None)
    with out.open("w") as f:
        subprocess.run([sys.executable, "cli.py", "solve", "What is 27*14+15?", "--json", *models],
                       cwd=args.root, env=env, check=True, stdout=f, stderr=subprocess.DEVNULL)
    data = json.loads(out.read_text())
    orchestrator = data["usage"]["orchestrator"]
    return {"seconds": round(time.perf_counter() - start, 1), "answer": data["answer"],
            "orchestrator_prompt_tokens": orchestrator["input_tokens"],
            "orchestrator_prompt_evaluated": orchestrator["input_tokens"]
            - orchestrator.get("prompt_cache_hit_tokens", 0),
            "orchestrator_calls": orchestrator["calls"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--methods", default="router")
    parser.add_argument("--no-solve", action="store_true")
    args = parser.parse_args()
    models = ["--model", args.gguf, "--specialist", args.gguf]
    report = {"root": str(args.root)}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_solve:
            report["solve"] = solve_once(args, models, tmp)
        for method in args.methods.split(","):
            for concurrency in (4, 1):
                folder = Path(tmp) / f"{method}-c{concurrency}"
                seconds = run(args.root, ["eval", "--method", method, "--dataset",
                                          str(ROOT / "data" / "gsm8k" / "test.jsonl"), "--n",
                                          str(args.n), "--seed", str(args.seed), "--concurrency",
                                          str(concurrency), "--no-progress", "--out", str(folder),
                                          *models],
                              str(Path(tmp) / f"cache-{method}-c{concurrency}"))
                records = [json.loads(line) for line in
                           (folder / f"results_{method}.jsonl").read_text().splitlines()]
                entry = {"seconds": round(seconds, 1),
                         "problems_per_minute": round(args.n / seconds * 60, 2),
                         "accuracy": sum(bool(r["correct"]) for r in records) / len(records)}
                if method == "router":
                    read, evaluated = orchestrator_tokens(records)
                    entry.update(orchestrator_prompt_tokens_per_problem=round(read, 1),
                                 orchestrator_prompt_evaluated_per_problem=round(evaluated, 1))
                report[f"{method}_c{concurrency}"] = entry
            report[f"{method}_speedup_c4_over_c1"] = round(
                report[f"{method}_c1"]["seconds"] / report[f"{method}_c4"]["seconds"], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
