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
import time
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
    """get/put JSON values by key; opened on first use, shared by threads.

    The cache only saves time and money, so it never stops a run: a file that
    is not a database is moved aside (never deleted) and a fresh one made; a
    database another process keeps locked, or any other failure, turns the
    cache off for this process. Each is said once through `notify`.
    """

    def __init__(self, path: str | os.PathLike | None = None,
                 notify: Callable[[str], None] = lambda _: None, timeout: float = 30.0):
        self.path = Path(path) if path else cache_dir() / "responses.sqlite"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._notify = notify
        self._timeout = timeout  # seconds to wait for another process's write lock
        self.disabled: str | None = None  # why the cache is off, when it is

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=self._timeout)
        try:
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
        except BaseException:
            db.close()
            raise
        return db

    def _open(self) -> sqlite3.Connection | None:
        if self._db is None and self.disabled is None:
            try:
                self._db = self._connect()
            except sqlite3.DatabaseError as e:
                if not _damaged(e):
                    return self._disable(f"the response cache {self.path} cannot be used ({e})")
                moved = self._move_aside()
                self._notify(f"the response cache {self.path} was damaged ({e}); moved it to "
                             f"{moved.name} and started a new one")
                try:
                    self._db = self._connect()
                except sqlite3.Error as again:
                    return self._disable(f"the response cache {self.path} cannot be used ({again})")
            except OSError as e:
                return self._disable(f"the response cache {self.path} cannot be used ({e})")
        return self._db

    def _disable(self, why: str) -> None:
        self.disabled = why
        self._notify(why + "; running without it")
        return None

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(self.path) + suffix)
            if part.exists():
                os.replace(part, Path(str(target) + suffix))
        return target

    def get(self, key: str) -> Any | None:
        with self._lock:
            db = self._open()
            if db is None:
                return None
            try:
                row = db.execute("SELECT value FROM responses WHERE key = ?", (key,)).fetchone()
                return None if row is None else json.loads(row[0])
            except (sqlite3.Error, ValueError) as e:
                self._close_quietly()
                self._disable(f"the response cache {self.path} failed ({e})")
                return None

    def put(self, key: str, kind: str, value: Any) -> None:
        with self._lock:
            db = self._open()
            if db is None:
                return
            try:
                db.execute("INSERT OR REPLACE INTO responses (key, kind, value) VALUES (?, ?, ?)",
                           (key, kind, json.dumps(value, ensure_ascii=False)))
            except sqlite3.Error as e:
                self._close_quietly()
                self._disable(f"the response cache {self.path} failed ({e})")

    def _close_quietly(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def close(self) -> None:
        with self._lock:
            self._close_quietly()


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says the file is not a database (or a corrupt one), rather than busy."""
    text = str(error).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text
