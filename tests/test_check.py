"""`cli.py check` tells the truth, one line per item, and never prints the key."""

from __future__ import annotations

from click.testing import CliRunner

from math_router.cli import cli
from math_router.llama import gguf
from math_router.llama.runtime import gpu_offload_supported
from math_router.testing import fill_hub_cache


def check(env=None):
    return CliRunner().invoke(cli, ["check", "--no-data"], env=env, catch_exceptions=False)


def line(output: str, name: str) -> str:
    return next(row for row in output.splitlines() if row[2:].startswith(name))


def test_every_line_is_a_tick_or_a_cross_with_a_fix():
    result = check()
    names = [row[2:].split(":", 1)[0] for row in result.output.splitlines()]
    for expected in ("Python", "openai", "llama.cpp", "llama.cpp on this CPU", "GPU offload",
                     "OPENAI_API_KEY", "default specialist GGUF"):
        assert expected in names, result.output
    for row in result.output.splitlines():
        assert row[:2] in {"✓ ", "✗ "}, row
        if row.startswith("✗"):
            assert "(fix: " in row, row


def test_gpu_offload_line_matches_the_build():
    row = line(check().output, "GPU offload")
    assert row.startswith("✓" if gpu_offload_supported() else "✗")
    if not gpu_offload_supported():
        assert "CPU-only" in row and "-DGGML_CUDA=on" in row


def test_api_key_is_reported_but_never_printed():
    result = check(env={"OPENAI_API_KEY": "sk-check-secret-99"})
    assert line(result.output, "OPENAI_API_KEY").startswith("✓ OPENAI_API_KEY: set (not shown)")
    assert "sk-check-secret-99" not in result.output


def test_a_cached_default_model_is_seen(tmp_path, smollm2, monkeypatch):
    import huggingface_hub.constants as hub_constants

    assert line(check().output, "default specialist GGUF").startswith("✗")
    hub = gguf.hub_file(gguf.DEFAULT_SPECIALIST)
    fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert line(check().output, "default specialist GGUF").startswith("✓")


def test_data_sets_offline_come_from_the_copies_in_the_clone():
    result = CliRunner().invoke(cli, ["check"], catch_exceptions=False)
    row = line(result.output, "data set gsm8k")
    assert row == "✓ data set gsm8k: 1319 problems, from the offline copy in data/ (the Hub cannot be reached)"
    assert line(result.output, "data set math500").startswith("✓ data set math500: 500 problems")


def test_a_missing_required_package_fails_the_check(monkeypatch):
    from math_router import checks

    monkeypatch.setattr(checks, "REQUIRED_PACKAGES", (*checks.REQUIRED_PACKAGES, "no-such-package-xyz"))
    result = check()
    assert result.exit_code == 1
    assert "✗ no-such-package-xyz: not installed (fix: pip install -e .)" in result.output


def test_check_fails_when_the_default_solve_cannot_run(tmp_path, smollm2, monkeypatch):
    import huggingface_hub.constants as hub_constants

    # No key, no cached GGUF, and no Hub to download one from: the default solve cannot run.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = check()
    assert result.exit_code == 1
    assert "the default solve cannot run" in line(result.output, "default specialist GGUF")
    assert line(result.output, "local orchestrator GGUF").startswith("✗")
    # Both GGUFs of the default solve cached: it can, and check passes.
    for alias in (gguf.DEFAULT_SPECIALIST, "qwen2.5-1.5b-instruct"):
        hub = gguf.hub_file(alias)
        fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert check().exit_code == 0
    # With a key the local orchestrator is not needed: its absence does not fail the check.
    hub = gguf.hub_file(gguf.DEFAULT_SPECIALIST)
    fill_hub_cache(tmp_path / "hub2", hub.repo, hub.filename, smollm2)
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub2"))
    with_key = check(env={"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    assert line(with_key.output, "local orchestrator GGUF").startswith("✗")
    assert line(with_key.output, "default specialist GGUF").startswith("✓")
