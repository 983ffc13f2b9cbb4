"""`solve --input` against `eval` on the same rows, against a shell loop of single `solve`s, and
its peak memory at 1,000 and 10,000 rows.

    python -m benchmarks.answering throughput [--rows 1000] [--loop 20]
    python -m benchmarks.answering memory [--small 1000] [--large 10000] [--max-tokens 16] [--method llm]

The orchestrator is the test chat server (in this process, on a thread: it answers at once);
the specialist is SmolLM2-135M in process, `--method cascade`, `--no-cache`, so every row is
decoded for real. Each command runs as a child process; its peak RSS is read from wait4.
GSM8K test questions, the gold removed for `solve --input` (kept for `eval`).
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

from math_router.testing import ChatServer, completion, smollm2_file

ROOT = Path(__file__).resolve().parents[1]


def orchestrator(request: dict):
    return completion("Weighing the candidates. \\boxed{42}", prompt_tokens=120, completion_tokens=30)


def gsm8k_rows(count: int) -> list[dict]:
    """`count` GSM8K questions (test, then train, then again), ids r-0, r-1, ..."""
    rows = []
    for name in ("test", "train"):
        with open(ROOT / "data" / "gsm8k" / f"{name}.jsonl") as f:
            rows += [json.loads(line) for line in f]
    return [{"id": f"r-{i}", "question": rows[i % len(rows)]["question"],
             "answer": rows[i % len(rows)]["answer"].split("####")[-1].strip()} for i in range(count)]


def write(path: Path, rows: list[dict], gold: bool) -> Path:
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps(r if gold else {"id": r["id"], "question": r["question"]}) + "\n")
    return path


def timed(args: list[str], env: dict) -> tuple[float, float, int]:
    """Seconds, peak RSS (MB) and exit status of a child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(proc.stderr.read().decode()[-600:], file=sys.stderr)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def model_flags(url: str, max_tokens: int | None, method: str = "cascade") -> list[str]:
    flags = ["--method", method, "--base-url", url, "--specialist", str(smollm2_file()),
             "--no-cache", "--no-progress"]
    return flags + (["--specialist-max-tokens", str(max_tokens)] if max_tokens else [])


def throughput(args) -> None:
    rows = gsm8k_rows(args.rows)
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    with tempfile.TemporaryDirectory() as tmp, ChatServer(orchestrator) as server:
        tmp = Path(tmp)
        flags = model_flags(server.url, args.max_tokens)
        unlabelled = write(tmp / "rows.jsonl", rows, gold=False)
        labelled = write(tmp / "gold.jsonl", rows, gold=True)
        solve = [sys.executable, "cli.py", "solve", "--input", str(unlabelled), "--out",
                 str(tmp / "answers"), "--concurrency", str(args.concurrency), *flags]
        evaluate = [sys.executable, "cli.py", "eval", "--dataset", str(labelled), "--n", "all",
                    "--out", str(tmp / "eval"), "--concurrency", str(args.concurrency), *flags]
        s_solve, rss_solve, code = timed(solve, env)
        s_eval, rss_eval, code_eval = timed(evaluate, env)
        loop_seconds = 0.0
        for r in rows[:args.loop]:
            s, _, _ = timed([sys.executable, "cli.py", "solve", r["question"], "--json", *flags], env)
            loop_seconds += s
        summary = json.loads((tmp / "answers" / "summary.json").read_text())
    per_min = {"solve --input": args.rows / s_solve * 60, "eval": args.rows / s_eval * 60,
               "shell loop of solve": args.loop / loop_seconds * 60}
    print(f"{args.rows} rows, cascade, SmolLM2 specialist, concurrency {args.concurrency}, "
          f"max tokens {args.max_tokens or 'default'}")
    print(f"solve --input: {s_solve:.0f} s, {per_min['solve --input']:.1f} problems/min, "
          f"peak RSS {rss_solve:.0f} MB (exit {code}); escalated {summary.get('escalation_rate', 0):.1%}")
    print(f"eval:          {s_eval:.0f} s, {per_min['eval']:.1f} problems/min, "
          f"peak RSS {rss_eval:.0f} MB (exit {code_eval})")
    print(f"shell loop:    {loop_seconds:.0f} s for {args.loop} rows, "
          f"{per_min['shell loop of solve']:.1f} problems/min")
    print(f"solve --input / eval: {per_min['solve --input'] / per_min['eval']:.2f}x; "
          f"/ shell loop: {per_min['solve --input'] / per_min['shell loop of solve']:.1f}x")


def memory(args) -> None:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp, ChatServer(orchestrator) as server:
        tmp = Path(tmp)
        for count in (args.small, args.large):
            data = write(tmp / f"rows{count}.jsonl", gsm8k_rows(count), gold=False)
            seconds, rss, code = timed([sys.executable, "cli.py", "solve", "--input", str(data),
                                        "--out", str(tmp / f"a{count}"), "--concurrency",
                                        str(args.concurrency),
                                        *model_flags(server.url, args.max_tokens, args.method)],
                                       env)
            if code != 0:
                raise SystemExit(f"{count} rows: solve --input exited {code}")
            size = (tmp / f"a{count}" / "answers.jsonl").stat().st_size / 1e6
            results[count] = rss
            print(f"{count} rows: {seconds:.0f} s, peak RSS {rss:.0f} MB, answers.jsonl "
                  f"{size:.0f} MB (exit {code})", flush=True)
    print(f"peak RSS {args.large} / {args.small} rows: {results[args.large] / results[args.small]:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--rows", type=int, default=1000)
    t.add_argument("--loop", type=int, default=20)
    t.add_argument("--concurrency", type=int, default=4)
    t.add_argument("--max-tokens", type=int, default=None)
    m = sub.add_parser("memory")
    m.add_argument("--small", type=int, default=1000)
    m.add_argument("--large", type=int, default=10000)
    m.add_argument("--concurrency", type=int, default=4)
    m.add_argument("--max-tokens", type=int, default=16)
    # llm: the runner, folders and records alone (the test server answers at once), so 10,000
    # rows take minutes; the GGUF's own memory does not grow with rows.
    m.add_argument("--method", default="cascade", choices=["cascade", "llm", "slm"])
    args = parser.parse_args()
    throughput(args) if args.what == "throughput" else memory(args)


if __name__ == "__main__":
    main()
