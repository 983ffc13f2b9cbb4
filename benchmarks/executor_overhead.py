"""Milliseconds per call of the Python sandbox, warm worker vs a fresh interpreter per call.

    python -m benchmarks.executor_overhead --runs 30

"warm" forks a child of a worker that has imported numpy and sympy already;
"cold" starts a new worker (a fresh interpreter that imports them) per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from math_router.sandbox.executor import PythonExecutor

PROGRAMS = {
    "print": "print(27 * 14 + 15)",
    "sympy": "import sympy\nx = sympy.symbols('x')\nprint(sympy.solve(x**2 - 5*x + 6, x))",
}


def measure(executor: PythonExecutor, code: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = executor.run(code)
        times.append((time.perf_counter() - start) * 1000)
        assert result.error is None, result.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    report = {}
    warm = PythonExecutor(pool_size=1)
    start = time.perf_counter()
    isolation = warm.isolation()  # starts the worker
    report["warm_worker_start_ms"] = round((time.perf_counter() - start) * 1000, 1)
    report["isolation"] = isolation
    for name, code in PROGRAMS.items():
        measure(warm, code, 2)  # the first calls settle caches
        report[f"warm_{name}_median_ms"] = round(statistics.median(measure(warm, code, args.runs)), 1)
    warm.close()
    cold = PythonExecutor(pool_size=1, warm=False)
    for name, code in PROGRAMS.items():
        report[f"cold_{name}_median_ms"] = round(
            statistics.median(measure(cold, code, max(3, args.runs // 5))), 1)
    cold.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
