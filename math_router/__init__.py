"""math-router: a large orchestrator model delegates math word problems to a small specialist.

    import math_router

    math_router.solve("What is 27*14+15?").answer                  # the router, default models
    for answer in math_router.solve_many("mine.jsonl", out="answers"): ...  # a file of your own
    math_router.evaluate(["llm", "router"], "gsm8k", n=50).comparison
    math_router.calibrate("gsm8k-train", math_router.parse_target("escalate:0.2"))

    @math_router.tool
    def percent_of(part: float, whole: float) -> str: ...
    math_router.register_tool(percent_of)                           # offered to later solves
    math_router.register_tool(math_router.specialist_tool(          # a second model as a tool
        "code_help", "coder.gguf", description="Ask a coding model to write Python."))

The names below are loaded on first use, so `import math_router` is instant and
`python -m math_router.llama.build_probe` runs before the dependencies
are installed.
"""

from importlib import import_module

_EXPORTS = {
    "solve": "math_router.api", "solve_many": "math_router.api", "Solver": "math_router.api",
    "evaluate": "math_router.api", "Result": "math_router.api",
    "Evaluation": "math_router.api", "ModelOptions": "math_router.options",
    "calibrate": "math_router.api", "parse_target": "math_router.evals.calibrate",
    "tool": "math_router.tools.base", "Tool": "math_router.tools.base",
    "ToolOutput": "math_router.tools.base", "register_tool": "math_router.tools.extra",
    "specialist_tool": "math_router.tools.specialist",
    "PythonExecutor": "math_router.sandbox.executor", "SandboxLimits": "math_router.sandbox.executor",
    "Trace": "math_router.engine.trace", "UserError": "math_router.engine.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'math_router' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
