"""One llama.cpp runtime per GGUF file: offload, threads, a lock, generation.

A `Llama` is not thread-safe, so every use goes through `lock`. Runtimes are
shared per file (`shared_runtime`), so an orchestrator and a specialist that
name the same GGUF load it once.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from math_router.engine.errors import InputTooLong, UserError

INSTALL_HINT = ("llama-cpp-python is not installed: pip install llama-cpp-python "
                "(for CUDA: CMAKE_ARGS=\"-DGGML_CUDA=on\" pip install llama-cpp-python)")

DEFAULT_N_CTX = 8192


def import_llama_cpp():
    # llama.cpp's OpenMP threads spin while they wait: fastest alone (PASSIVE cost a third
    # of the tokens/s alone, docs/benchmarks.md), slow beside another llama.cpp process,
    # where OMP_WAIT_POLICY=PASSIVE (the README says when) is the user's to set.
    try:
        import llama_cpp
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return llama_cpp


def ensure_build_runs(gguf: Path) -> None:
    """Refuse, with the fix, a llama.cpp build that would die with "Illegal instruction".

    Tried once per (build, CPU) in a child process; later loads only read a marker file.
    """
    from math_router.engine.cache import cache_dir
    from math_router.llama.build_probe import probe_once

    result = probe_once(gguf, cache_dir())
    if not result.ok:
        raise UserError(result.detail + (f" (fix: {result.fix})" if result.fix else ""))


def gpu_offload_supported() -> bool:
    return bool(import_llama_cpp().llama_supports_gpu_offload())


def gpu_backend() -> str | None:
    """Which GPU backend this llama.cpp build has ("cuda", "metal", ...), if any."""
    llama_cpp = import_llama_cpp()
    if not llama_cpp.llama_supports_gpu_offload():
        return None
    libs = " ".join(p.name.lower() for p in (Path(llama_cpp.__file__).parent / "lib").glob("*"))
    for name in ("cuda", "metal", "vulkan", "hip", "sycl", "opencl"):
        if f"ggml-{name}" in libs:
            return name
    return "gpu"


def physical_cores(cpuinfo: str | None = None, allowed: int | None = None) -> int:
    """Physical cores this process may use; llama.cpp decodes no faster on hyper-threads."""
    if allowed is None:
        allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        if cpuinfo is None:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        cores, physical = set(), None
        for line in cpuinfo.splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "physical id":
                physical = value.strip()
            elif key == "core id":
                cores.add((physical, value.strip()))
        if cores:
            return max(1, min(len(cores), allowed or len(cores)))
    except OSError:
        pass
    return max(1, allowed or 1)


class LlamaRuntime:
    """A GGUF loaded on first use, once, and the lock that guards it."""

    def __init__(self, path: str | os.PathLike, *, gpu_layers: int | None = None,
                 n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None):
        self.path = Path(path)
        self.requested_gpu_layers = gpu_layers
        self.n_ctx = n_ctx
        self.n_threads = n_threads or physical_cores()
        self.lock = threading.RLock()
        self.load_seconds: float | None = None
        self._llama = None
        self._chat_formatter = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def identity(self) -> str:
        """The file, as the response cache and the records know it."""
        return f"gguf:{self.path.name}:{self.path.stat().st_size}"

    @property
    def gpu_layers(self) -> int:
        """-1 (all) when this build can offload, else 0; `--gpu-layers` overrides."""
        if self.requested_gpu_layers is not None:
            return self.requested_gpu_layers
        return -1 if gpu_offload_supported() else 0

    @property
    def device(self) -> str:
        if self.gpu_layers == 0 or not gpu_offload_supported():
            return "cpu"
        return gpu_backend() or "gpu"

    @property
    def llama(self):
        """The loaded `Llama`; loads it on first use."""
        with self.lock:
            if self._llama is None:
                start = time.perf_counter()
                llama_cpp = import_llama_cpp()
                ensure_build_runs(self.path)
                try:
                    self._llama = llama_cpp.Llama(
                        model_path=str(self.path), n_gpu_layers=self.gpu_layers, n_ctx=self.n_ctx,
                        n_threads=self.n_threads, n_threads_batch=self.n_threads,
                        verbose=False)
                except ValueError as e:  # llama-cpp-python's way of saying "cannot load"
                    raise UserError(f"llama.cpp cannot load {self.path}: {e}") from None
                self.load_seconds = time.perf_counter() - start
            return self._llama

    def chat(self, messages: list[dict], *, max_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, top_k: int = 0, seed: int | None = None,
             tools: list[dict] | None = None, tool_choice: Any = None) -> dict:
        """A chat completion through the GGUF's own chat template; plain sampling, no penalties.

        The response gets a `timings` entry: seconds waiting for the lock,
        loading the model (first call only) and generating.
        """
        asked = time.perf_counter()
        with self.lock:
            locked = time.perf_counter()
            loaded_before = self._llama is not None
            llama = self.llama
            start = time.perf_counter()
            try:
                response = llama.create_chat_completion(
                    messages=messages, tools=tools or None, tool_choice=tool_choice,
                    max_tokens=max_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
                    min_p=0.0, repeat_penalty=1.0, seed=seed)
            except ValueError as e:  # llama-cpp-python: "Requested tokens (N) exceed context window"
                if "context window" not in str(e):
                    raise
                raise InputTooLong(f"{e} ({self.name})") from None
            done = time.perf_counter()
        response["timings"] = {"wait_seconds": locked - asked,
                               "load_seconds": 0.0 if loaded_before else start - locked,
                               "generate_seconds": done - start}
        return response

    def prompt_text(self, messages: list[dict]) -> str:
        """`messages` through the GGUF's chat template, ready for the assistant's reply."""
        return self._formatter()(messages=messages).prompt

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 0.0,
                 top_p: float = 1.0, top_k: int = 0, seed: int | None = None,
                 stop: list[str] | None = None) -> dict:
        """Continue a raw prompt (a rendered chat and the assistant's text so far)."""
        with self.lock:
            llama = self.llama
            try:
                return llama.create_completion(
                    prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                    top_k=top_k, min_p=0.0, repeat_penalty=1.0, seed=seed, stop=stop or [])
            except ValueError as e:
                if "context window" not in str(e):
                    raise
                raise InputTooLong(f"{e} ({self.name})") from None

    def prompt_tokens(self, messages: list[dict], tools: list[dict] | None = None,
                      tool_choice: Any = None) -> list[int]:
        """`messages` (and `tools`) through the GGUF's chat template, tokenized as `chat`
        (llama-cpp-python's chat handler) does it: the same tokens, byte for byte."""
        llama = self.llama
        result = self._formatter()(messages=messages, tools=tools, tool_choice=tool_choice)
        return llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special,
                              special=True)

    def _formatter(self):
        """The GGUF's chat template, compiled once."""
        with self.lock:
            if self._chat_formatter is None:
                from llama_cpp.llama_chat_format import Jinja2ChatFormatter

                llama = self.llama
                template = llama.metadata.get("tokenizer.chat_template")
                if not template:
                    raise UserError(f"{self.path.name} has no chat template")
                model = llama._model
                eos, bos = llama.token_eos(), llama.token_bos()
                self._chat_formatter = Jinja2ChatFormatter(
                    template=template, eos_token=model.token_get_text(eos) if eos != -1 else "",
                    bos_token=model.token_get_text(bos) if bos != -1 else "")
            return self._chat_formatter


_runtimes: dict[tuple, LlamaRuntime] = {}
_runtimes_lock = threading.Lock()


def shared_runtime(path: str | os.PathLike, *, gpu_layers: int | None = None,
                   n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None) -> LlamaRuntime:
    """The one runtime for this file in this process (created, not loaded)."""
    key = (str(Path(path).resolve()), gpu_layers, n_ctx, n_threads)
    with _runtimes_lock:
        if key not in _runtimes:
            # An absolute path: the runtime outlives the working directory it was named from.
            _runtimes[key] = LlamaRuntime(Path(path).absolute(), gpu_layers=gpu_layers,
                                          n_ctx=n_ctx, n_threads=n_threads)
        return _runtimes[key]
