"""`cli.py check`: is this machine ready to solve and evaluate? One line per item."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from typing import Callable, Iterator

import attrs

REQUIRED_PACKAGES = ("openai", "llama-cpp-python", "huggingface-hub", "datasets", "attrs",
                     "click", "tabulate", "jsonschema", "math-verify", "tqdm", "numpy", "sympy")


@attrs.frozen
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    needed: bool = True  # needed by the default `solve`; a failure makes `check` exit non-zero


def run_checks(dataset_loader: Callable[[str], int] | None = None, model: str | None = None,
               base_url: str | None = None, api_key: str | None = None) -> Iterator[Check]:
    yield _python()
    yield from _packages()
    yield from _llama_cpp()
    yield _sandbox()
    yield _api_key()
    yield from _api_model(model, base_url, api_key)
    yield from _models(local_orchestrator=model is None and not (
        os.environ.get("OPENAI_API_KEY") or api_key or base_url))
    yield from _datasets(dataset_loader)


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("Python", sys.version_info >= (3, 10), version, "install Python 3.10 or newer")


def _packages() -> Iterator[Check]:
    for name in REQUIRED_PACKAGES:
        try:
            yield Check(name, True, importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            yield Check(name, False, "not installed", "pip install -e .")
    try:
        yield Check("matplotlib (plots, optional)", True, importlib.metadata.version("matplotlib"),
                    needed=False)
    except importlib.metadata.PackageNotFoundError:
        yield Check("matplotlib (plots, optional)", False, "not installed",
                    "pip install -e '.[plot]' for report plots", needed=False)


def _llama_cpp() -> Iterator[Check]:
    from math_router.llama.runtime import import_llama_cpp

    try:
        llama_cpp = import_llama_cpp()
    except Exception as e:  # an ImportError, or a library built for another CPU
        yield Check("llama.cpp", False, f"cannot import llama_cpp ({type(e).__name__})",
                    "pip install llama-cpp-python")
        return
    from math_router.llama.runtime import gpu_backend, physical_cores

    yield Check("llama.cpp", True, f"llama-cpp-python {llama_cpp.__version__}, "
                f"{physical_cores()} physical cores for CPU threads")
    yield _build_runs_here()
    backend = gpu_backend()
    if backend:
        yield Check("GPU offload", True, f"{backend}: all layers go to the GPU by default",
                    needed=False)
    else:
        yield Check("GPU offload", False, "this llama.cpp build is CPU-only; models run on the CPU",
                    'for CUDA: CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall '
                    "--no-cache-dir llama-cpp-python", needed=False)


def _build_runs_here() -> Check:
    """Try the build in a child process: a build for the wrong CPU dies there, not here."""
    from math_router.llama import gguf
    from math_router.llama.build_probe import installed_smollm2, probe

    model = gguf.cached_path(gguf.DEFAULT_SPECIALIST) or installed_smollm2()
    result = probe(model)
    return Check("llama.cpp on this CPU", result.ok, result.detail, result.fix)


def _sandbox() -> Check:
    """Which of the Python sandbox's guards hold on this machine (TIR and --tools python)."""
    from math_router.sandbox.executor import PythonExecutor

    executor = PythonExecutor(pool_size=1)
    try:
        isolation = executor.isolation()
        works = executor.run("print(6 * 7)").text == "42"
    except Exception as e:
        return Check("Python sandbox", False, f"cannot start ({type(e).__name__}: {e})",
                     "see README: the Python sandbox", needed=False)
    finally:
        executor.close()
    fenced = bool(isolation.get("netns") or isolation.get("landlock", 0) >= 4)
    dropped = not isolation.get("root") or bool(isolation.get("private_root"))
    fix = ("code runs with limits only: no network namespace or Landlock here" if not fenced else
           "as root the kernel would not build the private root (mount namespaces): run as a "
           "user, or where they are allowed")
    return Check("Python sandbox", works and fenced and dropped, describe_isolation(isolation),
                 fix + " (see README: the Python sandbox)", needed=False)


def describe_isolation(isolation: dict) -> str:
    network = "no network (namespace)" if isolation.get("netns") else (
        "no TCP (Landlock)" if isolation.get("landlock", 0) >= 4 else "network NOT blocked")
    files = f"writes only in its folder (Landlock ABI {isolation['landlock']})" \
        if isolation.get("landlock") else "files NOT fenced (no Landlock)"
    processes = {"cgroup": "process limit (cgroup)", "rlimit": "process limit"}.get(
        isolation.get("process_limit"), "processes NOT limited")
    cleanup = "all its processes killed at the end (PID namespace)" if isolation.get("pidns") \
        else "its process group killed at the end"
    parts = [network, files, processes, cleanup]
    if isolation.get("root"):
        parts.append("as root: a private root (mount, UTS, IPC namespaces; host paths hidden; "
                     "folder size capped), no capabilities, uid nobody"
                     if isolation.get("private_root") else
                     "as root: uid nobody, but host paths NOT hidden" if isolation.get("drop_uid")
                     else "as root: the code runs as ROOT (no private root here)")
        parts.append("memory cap for the whole run (cgroup)" if isolation.get("memory_cgroup")
                     else "NO memory cap for the whole run")
    return ", ".join(parts + ["time, memory and output limits, empty environment"])


def _api_key() -> Check:
    if os.environ.get("OPENAI_API_KEY"):
        return Check("OPENAI_API_KEY", True, "set (not shown)", needed=False)
    return Check("OPENAI_API_KEY", False,
                 "not set: solve runs the local orchestrator GGUF instead of gpt-6-luna",
                 "export OPENAI_API_KEY=... for OpenAI models (or pass --base-url)", needed=False)


def _api_model(model: str | None, base_url: str | None, api_key: str | None) -> Iterator[Check]:
    """The API orchestrator `solve` would call: served, and not retiring (or said when)."""
    from math_router.engine.chat import OpenAIChat, resolve_api_key, resolve_base_url
    from math_router.engine.errors import TransportError
    from math_router.engine.openai_models import gone_line
    from math_router.options import DEFAULT_API_MODEL

    if not (resolve_api_key(api_key) or resolve_base_url(base_url)):
        return
    chat = OpenAIChat(model or DEFAULT_API_MODEL, base_url=base_url, api_key=api_key, timeout=15)
    name = f"orchestrator {chat.name}"
    try:
        listed = chat.listed_models()
    except TransportError as e:
        yield Check(name, False, str(e), "check --base-url and the key")
        return
    if chat.name not in {entry.id for entry in listed}:
        yield Check(name, False, gone_line(chat.name) or f"{chat.base_url} does not list it",
                    "pass --model with a model the server lists")
        return
    notice = chat.shutdown_notice(listed)
    yield Check(name, notice is None, notice or f"served by {chat.base_url}", needed=False)


def _models(local_orchestrator: bool = True) -> Iterator[Check]:
    """The GGUFs the default `solve` runs: the specialist always, the orchestrator without a
    key. One not cached is a failure only when the Hub cannot be reached to download it."""
    from math_router.engine.hub import reachable
    from math_router.llama import gguf

    hub_answers: bool | None = None
    for alias, role, needed in ((gguf.DEFAULT_SPECIALIST, "default specialist", True),
                                ("qwen2.5-1.5b-instruct", "local orchestrator",
                                 local_orchestrator)):
        hub = gguf.hub_file(alias)
        path = gguf.cached_path(alias)
        if path is not None:
            yield Check(f"{role} GGUF", True, f"{alias} cached at {path}")
            continue
        if hub_answers is None:
            hub_answers = reachable()
        if hub_answers:
            yield Check(f"{role} GGUF", False, f"{alias} not in the Hugging Face cache",
                        f"it downloads on first use; or fetch {hub.url}", needed=False)
        else:
            yield Check(f"{role} GGUF", False, f"{alias} not cached and the Hugging Face Hub "
                        "cannot be reached" + (": the default solve cannot run" if needed else ""),
                        f"fetch {hub.url} on a machine that can, or pass --specialist / --model "
                        f"PATH to a local GGUF", needed=needed)


def _datasets(loader: Callable[[str, Callable[[str], None]], int] | None) -> Iterator[Check]:
    if loader is None:
        return
    for name in ("gsm8k", "math500"):
        notes: list[str] = []
        try:
            rows = loader(name, notes.append)
        except Exception as e:
            yield Check(f"data set {name}", False, str(e).splitlines()[0], needed=False)
            continue
        where = "the offline copy in data/ (the Hub cannot be reached)" if notes else "the Hub"
        yield Check(f"data set {name}", True, f"{rows} problems, from {where}", needed=False)
