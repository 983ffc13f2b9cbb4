"""Append-only JSONL files that a kill cannot damage: each line written, flushed and fsynced at
once; a last line a kill left without its newline is not a line (the writer cuts it before it
appends, readers skip it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Iterator


def drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline. Only a writer does this, just before it appends."""
    if not path.exists():
        return
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
    data = path.read_bytes()
    with path.open("r+b") as f:
        f.truncate(data.rfind(b"\n") + 1)


def append(sink: IO[str], data: dict) -> None:
    """One JSON line, on disk before this returns."""
    sink.write(json_line(data))
    sink.flush()
    os.fsync(sink.fileno())


def json_line(data, **options) -> str:
    """JSON text of `data` as UTF-8 can hold it: readable characters as they are, and only when
    a string holds what UTF-8 cannot (a lone surrogate of a bad question) every non-ASCII
    character escaped, so the record is written, keeps the exact text, and reads back."""
    text = json.dumps(data, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, **options)
    return text + "\n"


def lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, byte offset, line) of each whole line; a torn last line is left out."""
    if not path.exists():
        return
    with path.open("rb") as f:
        offset = 0
        for number, line in enumerate(f, 1):
            start, offset = offset, offset + len(line)
            if line.endswith(b"\n") and line.strip():
                yield number, start, line
