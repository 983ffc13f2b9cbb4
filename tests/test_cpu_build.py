"""llama.cpp build flags derived from the CPU, and the child-process probe of the build."""

from __future__ import annotations

import signal

from math_router.llama.build_probe import compiled_features, missing_instructions, probe, probe_once
from math_router.llama.cpu_build import cmake_args, cpu_flags

EPYC_AVX2 = "processor : 0\nflags : fpu sse4_2 avx avx2 bmi2 fma f16c\n"
XEON_AMX = ("flags : fpu sse4_2 avx avx2 bmi2 fma f16c avx512f avx512cd avx512vl avx512dq "
            "avx512bw avx512vbmi avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16\n")


def options(args: str) -> dict[str, str]:
    return dict(a[2:].split("=") for a in args.split())


def test_an_avx2_cpu_gets_no_avx512():
    got = options(cmake_args(cpu_flags(EPYC_AVX2)))
    assert got["GGML_NATIVE"] == "OFF"
    assert got["GGML_AVX2"] == got["GGML_FMA"] == got["GGML_F16C"] == "ON"
    assert got["GGML_AVX512"] == got["GGML_AVX512_VNNI"] == "OFF"
    assert got["GGML_AMX_INT8"] == "OFF"


def test_an_amx_cpu_gets_avx512_but_never_amx():
    got = options(cmake_args(cpu_flags(XEON_AMX)))
    assert got["GGML_AVX512"] == got["GGML_AVX512_BF16"] == "ON"
    assert {got[k] for k in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")} == {"OFF"}


def test_a_cpu_without_avx_gets_every_vector_flag_off():
    # ggml turns AVX, AVX2, FMA and F16C on by default once NATIVE is off: each must be named.
    got = options(cmake_args(cpu_flags("flags : fpu sse4_2\n")))
    assert got["GGML_SSE42"] == "ON"
    assert {got[k] for k in ("GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2")} == {"OFF"}


def test_compiled_features_are_compared_with_the_cpu():
    info = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 0 | OPENMP = 1 |"
    features = compiled_features(info)
    assert {"AVX", "AVX2", "AVX512", "OPENMP"} <= features and "AVX512_BF16" not in features
    assert missing_instructions(features, cpu_flags(EPYC_AVX2)) == ["AVX512"]
    assert missing_instructions(features, cpu_flags(XEON_AMX)) == []


def test_the_installed_build_generates_a_token_here(smollm2):
    result = probe(smollm2)
    assert result.ok, result.detail
    assert result.detail == "generated one token"


def test_a_child_killed_by_sigill_is_named_with_the_fix():
    result = probe(None, child=f"import os; os.kill(os.getpid(), {int(signal.SIGILL)})")
    assert not result.ok
    assert result.detail.startswith("Illegal instruction")
    assert "CMAKE_ARGS=" in result.fix and "-DGGML_NATIVE=OFF" in result.fix


def test_the_probe_runs_once_per_build(tmp_path, smollm2):
    assert probe_once(smollm2, tmp_path).detail == "generated one token"
    assert list(tmp_path.glob("llama-build-ok-*"))
    assert probe_once(smollm2, tmp_path).detail == "passed before"
