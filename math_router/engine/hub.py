"""Can the Hugging Face Hub be used right now? Asked before slow retries would tell."""

from __future__ import annotations

import os

_TRUE = {"1", "true", "yes", "on"}


def offline_by_choice() -> bool:
    """The user said offline (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE
               for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub answers, asked the way huggingface_hub itself asks: through its own
    HTTP session, so HF_ENDPOINT (a mirror) and proxy settings count. False at once when
    offline by choice."""
    if offline_by_choice():
        return False
    try:
        from huggingface_hub import constants
        from huggingface_hub.utils import get_session

        get_session().head(constants.ENDPOINT, timeout=timeout)
        return True
    except Exception:  # any failure to get an answer: the Hub is not reachable from here
        return False
