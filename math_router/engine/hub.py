"""Can the Hugging Face Hub be used right now? Asked before slow retries would tell."""

from __future__ import annotations

import os
import socket

_TRUE = {"1", "true", "yes", "on"}


def offline_by_choice() -> bool:
    """The user said offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers; False at once when offline by choice."""
    if offline_by_choice():
        return False
    try:
        with socket.create_connection(("huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False
