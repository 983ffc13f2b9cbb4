"""A response cache in SQLite: the same call with the same inputs is answered from disk.

Keys hash the model's identity, the messages, the tools and the sampling
parameters (and, for sampled calls, the sample index). The database lives
under the user's cache directory (XDG_CACHE_HOME honoured), in WAL mode with
one transaction per write, so a killed process leaves it consistent.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Callable


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "math-router"


def cache_key(**parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _create_responses(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, kind TEXT NOT NULL, "
               "value TEXT NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)")


# Schema changes, in order; each runs once per database.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_responses]


class ResponseCache:
    """get/put JSON values by key; opened on first use, shared by threads."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else cache_dir() / "responses.sqlite"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                 timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY)")
            done = {row[0] for row in db.execute("SELECT name FROM migrations")}
            for migration in MIGRATIONS:
                if migration.__name__ not in done:
                    with db:  # one transaction: the change and its record
                        db.execute("BEGIN")
                        migration(db)
                        db.execute("INSERT INTO migrations (name) VALUES (?)", (migration.__name__,))
            self._db = db
        return self._db

    def get(self, key: str) -> Any | None:
        with self._lock:
            row = self._open().execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
            return None if row is None else json.loads(row[0])

    def put(self, key: str, kind: str, value: Any) -> None:
        with self._lock:
            self._open().execute("INSERT OR REPLACE INTO responses (key, kind, value) VALUES (?, ?, ?)",
                                 (key, kind, json.dumps(value, ensure_ascii=False)))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
