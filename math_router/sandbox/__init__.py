"""Running code a model wrote: a separate, fenced-off process per run. Imports nothing above it.

    executor.py  PythonExecutor, SandboxLimits, Execution: the caller's side, a pool of workers
    worker.py    the worker process (standard library only): namespaces, Landlock, limits
"""
