"""GGUF references, the llama.cpp runtime and the GGUF specialist, on a real small GGUF."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

from math_router.engine.errors import UserError
from math_router.llama import gguf
from math_router.llama.runtime import LlamaRuntime, gpu_offload_supported, physical_cores
from math_router.specialists.qwen_math import QwenMathSpecialist
from math_router.testing import fill_hub_cache


def test_a_local_path_resolves_to_itself(smollm2):
    assert gguf.resolve(str(smollm2)) == smollm2
    with pytest.raises(UserError, match="no GGUF file at"):
        gguf.resolve("/nowhere/model.gguf")


def test_references_are_parsed():
    assert gguf.hub_file("qwen2.5-math-1.5b") == gguf.HubFile(
        "bartowski/Qwen2.5-Math-1.5B-Instruct-GGUF", "Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf")
    assert gguf.hub_file("hf:org/repo/sub/dir/m.gguf") == gguf.HubFile("org/repo", "sub/dir/m.gguf")
    assert gguf.hub_file("./model.gguf") is None
    with pytest.raises(UserError, match="hf:OWNER/REPO/FILE"):
        gguf.hub_file("hf:just-a-repo")
    assert gguf.is_gguf_reference("qwen2.5-1.5b-instruct")
    assert gguf.is_gguf_reference("hf:a/b/c.gguf") and gguf.is_gguf_reference("x/m.GGUF")
    assert not gguf.is_gguf_reference("gpt-4o-mini")


def test_a_prefilled_cache_is_used_offline(tmp_path, smollm2):
    cached = fill_hub_cache(tmp_path / "hub", "someone/tiny-GGUF", "tiny.gguf", smollm2)
    path = gguf.resolve("hf:someone/tiny-GGUF/tiny.gguf", cache_dir=tmp_path / "hub", offline=True)
    assert path.read_bytes()[:4] == b"GGUF"
    assert path.resolve() == cached.resolve()


def test_a_missing_model_offline_names_the_file_and_the_alternative(tmp_path):
    with pytest.raises(UserError) as caught:
        gguf.resolve("qwen2.5-math-1.5b", cache_dir=tmp_path / "empty", offline=True)
    message = str(caught.value)
    assert "Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf" in message
    assert "https://huggingface.co/bartowski/Qwen2.5-Math-1.5B-Instruct-GGUF" in message
    assert "--specialist PATH" in message
    assert "\n" not in message


def test_a_truncated_default_model_is_caught(tmp_path, smollm2):
    hub = gguf.hub_file("qwen2.5-math-1.5b")
    fill_hub_cache(tmp_path / "hub", hub.repo, hub.filename, smollm2)
    with pytest.raises(UserError, match="not 986,048,832"):
        gguf.resolve("qwen2.5-math-1.5b", cache_dir=tmp_path / "hub", offline=True)


def test_threads_count_physical_cores_not_hyperthreads():
    # Two cores with two hyper-threads each: llama.cpp gains nothing from the second thread.
    cpuinfo = "".join(f"processor : {i}\nphysical id : 0\ncore id : {i // 2}\n\n" for i in range(4))
    assert physical_cores(cpuinfo, allowed=4) == 2
    assert physical_cores(cpuinfo, allowed=1) == 1  # a process pinned to one CPU
    two_sockets = "".join(f"physical id : {s}\ncore id : 0\n\n" for s in (0, 1))
    assert physical_cores(two_sockets, allowed=8) == 2


@pytest.fixture(scope="module")
def runtime(smollm2):
    return LlamaRuntime(smollm2, n_ctx=2048)


def test_the_model_loads_once_on_first_use(runtime):
    assert runtime._llama is None  # constructing loads nothing
    first = runtime.llama
    assert runtime.load_seconds is not None and runtime.load_seconds > 0
    assert runtime.llama is first


def test_cpu_fallback(smollm2, runtime):
    # What reaches llama.cpp: every layer when this build can offload, none otherwise.
    # (llama-cpp-python passes "all" as 0x7FFFFFFF.)
    offloaded = runtime.llama.model_params.n_gpu_layers
    assert offloaded == (0x7FFFFFFF if gpu_offload_supported() else 0)
    forced = LlamaRuntime(smollm2, gpu_layers=0, n_ctx=512)
    assert forced.llama.model_params.n_gpu_layers == 0 and forced.device == "cpu"
    text = forced.chat([{"role": "user", "content": "Hi"}], max_tokens=4)["choices"][0]["message"]
    assert text["content"]


def test_the_specialist_generates_with_trace_fields(runtime):
    specialist = QwenMathSpecialist(runtime, max_tokens=24)
    result = specialist.solve("What is 2+2?")
    assert result.text.strip()
    assert 0 < result.usage.output_tokens <= 24
    assert result.usage.input_tokens > 10 and result.usage.calls == 1
    assert result.details["device"] == runtime.device
    assert result.details["generate_seconds"] > 0
    assert result.details["tokens_per_second"] > 0
    assert result.details["finish_reason"] in {"stop", "length"}
    assert result.seconds >= result.details["generate_seconds"]
    assert specialist.local and specialist.name == runtime.path.name


def test_greedy_is_deterministic(runtime):
    specialist = QwenMathSpecialist(runtime, max_tokens=16)
    assert specialist.solve("What is 3*7?").text == specialist.solve("What is 3*7?").text


def test_two_threads_share_the_model_through_the_lock(runtime):
    specialist = QwenMathSpecialist(runtime, max_tokens=16)
    expected = specialist.solve("Name a prime number.").text
    results, errors = [], []
    inside = threading.Semaphore(1)  # counts threads inside generation at once
    overlaps = []
    original = runtime.llama.create_chat_completion

    def watched(**kw):
        if not inside.acquire(blocking=False):
            overlaps.append(True)
        try:
            return original(**kw)
        finally:
            inside.release()

    runtime.llama.create_chat_completion = watched
    try:
        def work():
            try:
                results.append(specialist.solve("Name a prime number."))
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        del runtime.llama.create_chat_completion
    assert not errors and not overlaps
    assert [r.text for r in results] == [expected, expected]
    # One thread waited for the other's whole generation.
    assert max(r.details["wait_seconds"] for r in results) > 0.5 * min(
        r.details["generate_seconds"] for r in results)


def test_solve_slm_with_a_gguf_path(smollm2):
    from math_router.cli import cli

    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "--method", "slm", "--specialist",
                                      str(smollm2), "--specialist-max-tokens", "32", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["method"] == "slm" and data["final_text"]
    assert data["usage"]["specialist"]["calls"] == 1
    assert data["usage"]["orchestrator"]["calls"] == 0
    assert data["cost_usd"] == 0 and data["local"] == ["specialist"]
    assert data["details"]["device"] in {"cpu", "cuda", "metal", "vulkan", "gpu"}


def test_solve_slm_without_the_default_model_is_one_line(tmp_path):
    from math_router.cli import cli

    result = CliRunner().invoke(cli, ["solve", "What is 2+2?", "--method", "slm"])
    assert result.exit_code == 1
    assert "Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf is not in the Hugging Face cache" in result.output


def test_the_hub_is_asked_through_hf_endpoint(monkeypatch):
    """A mirror named by HF_ENDPOINT (and proxies) count: the check goes through huggingface_hub."""
    import http.server
    import threading

    from huggingface_hub import constants

    from math_router.engine import hub

    seen = []

    class Mirror(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert hub.reachable() and seen
        monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
        assert not hub.reachable()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert not hub.reachable()
    finally:
        server.shutdown()
