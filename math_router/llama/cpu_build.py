"""llama.cpp build flags that fit the CPU this runs on.

A native llama.cpp build asks the compiler for every instruction the CPU
advertises, and some virtual machines advertise instructions they forbid (AMX
on some Xeon VMs): the build then dies with "Illegal instruction". With
`GGML_NATIVE=OFF`, ggml turns AVX, AVX2, BMI2, FMA and F16C on by default
whatever the CPU, so every flag is named here, ON or OFF, from the flags
`/proc/cpuinfo` lists. AMX stays off: it is the one that is advertised and
forbidden.

Standard library only: `.ci/run` and the README's install recipe run this file
as a script before anything else is installed:

    CMAKE_ARGS="$(python math_router/llama/cpu_build.py)" pip install llama-cpp-python
"""

from __future__ import annotations

import sys

# ggml option -> the /proc/cpuinfo flags it needs (all of them).
GGML_OPTIONS = (
    ("GGML_SSE42", ("sse4_2",)),
    ("GGML_AVX", ("avx",)),
    ("GGML_AVX_VNNI", ("avx_vnni",)),
    ("GGML_AVX2", ("avx2",)),
    ("GGML_BMI2", ("bmi2",)),
    ("GGML_FMA", ("fma",)),
    ("GGML_F16C", ("f16c",)),
    # ggml's AVX512 compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw.
    ("GGML_AVX512", ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")),
    ("GGML_AVX512_VBMI", ("avx512f", "avx512vbmi")),
    ("GGML_AVX512_VNNI", ("avx512f", "avx512_vnni")),
    ("GGML_AVX512_BF16", ("avx512f", "avx512_bf16")),
)
ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The instruction flags of the first CPU in /proc/cpuinfo (empty when there is none)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cmake_args(flags: set[str]) -> str:
    """CMAKE_ARGS for a CPU-only llama.cpp build that uses what `flags` offer and nothing else."""
    args = ["-DGGML_NATIVE=OFF"]
    for option, needs in GGML_OPTIONS:
        args.append(f"-D{option}={'ON' if all(f in flags for f in needs) else 'OFF'}")
    args += [f"-D{option}=OFF" for option in ALWAYS_OFF]
    return " ".join(args)


def install_command(flags: set[str] | None = None) -> str:
    """The pip command that rebuilds llama-cpp-python for this CPU, as one line to copy."""
    args = cmake_args(cpu_flags() if flags is None else flags)
    return (f'CMAKE_ARGS="{args}" pip install --force-reinstall --no-cache-dir '
            "llama-cpp-python")


if __name__ == "__main__":
    flags = cpu_flags()
    if not flags:
        # Not Linux on x86: let llama.cpp's own build decide.
        print("", end="")
        sys.exit(0)
    print(cmake_args(flags))
