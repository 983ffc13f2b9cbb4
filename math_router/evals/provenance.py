"""How a run was made: package versions, the code's commit, model files and prompts, by hash.

run.json keeps these so that a figure can be traced to what produced it, and a
resumed run can refuse to mix results of other models or prompts.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import threading
from pathlib import Path

PACKAGES = ("math-router", "openai", "llama-cpp-python", "math-verify", "datasets",
            "huggingface-hub")

_hash_lock = threading.Lock()


def environment() -> dict:
    """Versions of this project and the packages that shape results, and the git commit."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": platform.python_version(), "packages": versions,
            "git_commit": git_commit(), "machine": platform.machine()}


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, with "+changes" when it has edits."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+changes" if dirty else "")) or None


def file_identity(path: str | os.PathLike, memo_dir: Path | None = None) -> dict:
    """Name, size and sha256 of a model file; the hash is computed once per (size, mtime)."""
    path = Path(path)
    stat = path.stat()
    memo = (memo_dir or _cache_dir()) / "file-hashes.json"
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    with _hash_lock:
        known = _read_memo(memo)
        if key not in known:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            known[key] = digest.hexdigest()
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_suffix(".tmp")
                tmp.write_text(json.dumps(known, indent=1))
                os.replace(tmp, memo)
            except OSError:
                pass  # no memo: the hash is computed again next time
    return {"file": path.name, "bytes": stat.st_size, "sha256": known[key]}


def text_hash(text: str) -> str:
    """A short, stable fingerprint of a prompt or a tool schema."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read_memo(memo: Path) -> dict:
    try:
        data = json.loads(memo.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _cache_dir() -> Path:
    from math_router.engine.cache import cache_dir

    return cache_dir()
