"""GGUF model references: a local path, `hf:REPO/FILE`, or a short alias.

Files come from the Hugging Face cache through `hf_hub_download` (with its
progress bar); a cached file is used without touching the network, so runs
work offline once the file is there.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import attrs

from math_router.engine import hub as hub_module
from math_router.engine.errors import UserError

DEFAULT_SPECIALIST = "qwen2.5-math-1.5b"

ALIASES = {
    "qwen2.5-math-1.5b": "hf:bartowski/Qwen2.5-Math-1.5B-Instruct-GGUF/Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf",
    "qwen2.5-1.5b-instruct": "hf:bartowski/Qwen2.5-1.5B-Instruct-GGUF/Qwen2.5-1.5B-Instruct-Q4_K_M.gguf",
    "qwen2.5-3b-instruct": "hf:bartowski/Qwen2.5-3B-Instruct-GGUF/Qwen2.5-3B-Instruct-Q4_K_M.gguf",
    "qwen2.5-7b-instruct": "hf:bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_M.gguf",
}

# Sizes we know, to catch a truncated file before llama.cpp chokes on it.
KNOWN_SIZES = {
    "bartowski/Qwen2.5-Math-1.5B-Instruct-GGUF/Qwen2.5-Math-1.5B-Instruct-Q4_K_M.gguf": 986_048_832,
}


@attrs.frozen
class HubFile:
    repo: str
    filename: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo}/blob/main/{self.filename}"


def is_gguf_reference(ref: str) -> bool:
    """Whether `ref` names a GGUF (alias, hf:, or a .gguf path) rather than a URL or API model."""
    return ref in ALIASES or ref.startswith("hf:") or ref.lower().endswith(".gguf")


def hub_file(ref: str) -> HubFile | None:
    """The Hub file an alias or `hf:OWNER/REPO/FILE` names; None for a local path."""
    ref = ALIASES.get(ref, ref)
    if not ref.startswith("hf:"):
        return None
    parts = ref[3:].split("/")
    if len(parts) < 3 or not all(parts):
        raise UserError(f"{ref!r}: write hf:OWNER/REPO/FILE.gguf")
    return HubFile("/".join(parts[:2]), "/".join(parts[2:]))


def cached_path(ref: str, cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The file for `ref` if it is on disk already (never touches the network)."""
    hub = hub_file(ref)
    if hub is None:
        path = Path(ref).expanduser()
        return path if path.is_file() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(hub.repo, hub.filename, cache_dir=cache_dir,
                                    local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError):
        return None


def resolve(ref: str, cache_dir: str | os.PathLike | None = None,
            offline: bool | None = None, flag: str = "--specialist") -> Path:
    """A local path for the GGUF `ref`, downloading it into the Hugging Face cache if needed.

    `flag` is the option through which the user can name a local file instead.
    """
    hub = hub_file(ref)
    if hub is None:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise UserError(f"no GGUF file at {path}")
        return path
    path = cached_path(ref, cache_dir)
    if path is None:
        path = _download(hub, cache_dir, not hub_module.reachable() if offline is None else offline,
                         flag)
    _check_size(hub, path)
    return path


def _download(hub: HubFile, cache_dir, offline: bool, flag: str) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError)

    missing = (f"{hub.filename} is not in the Hugging Face cache and the Hub cannot be reached: "
               f"fetch it from {hub.url}, or pass {flag} PATH to a local GGUF")
    if offline:
        raise UserError(missing)
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # its retry chatter is not the user's business
    try:
        return Path(hf_hub_download(hub.repo, hub.filename, cache_dir=cache_dir))
    except GatedRepoError:
        raise UserError(f"{hub.repo} is gated: accept its terms on the Hub and log in "
                        "(huggingface-cli login)") from None
    except RepositoryNotFoundError:
        raise UserError(f"no repository {hub.repo} on the Hugging Face Hub") from None
    except LocalEntryNotFoundError:  # no network, and not cached
        raise UserError(missing) from None
    except EntryNotFoundError:
        raise UserError(f"no file {hub.filename} in {hub.repo}") from None
    except (HfHubHTTPError, OSError):
        raise UserError(missing) from None
    finally:
        hub_logger.setLevel(level)


def _check_size(hub: HubFile, path: Path) -> None:
    want = KNOWN_SIZES.get(f"{hub.repo}/{hub.filename}")
    if want is not None and path.stat().st_size != want:
        raise UserError(f"{path} has {path.stat().st_size:,} bytes, not {want:,}: "
                        "delete it and run again to download it anew")
