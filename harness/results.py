"""The results store: one JSON line per trial, appended, never rewritten.

Appends take an exclusive ``flock`` on the file so parallel pytest workers never interleave
lines, and each line is flushed and fsync'd before the lock is released. A torn last line (a
writer killed mid-line) is closed with a newline first, so it stays one unreadable line instead of
swallowing the next record.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from harness.history import JSONValue

DEFAULT_RESULTS = Path(".durabench") / "results.jsonl"


def append_result(path: Path, record: Mapping[str, JSONValue]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
    with open(path, "a+b") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
        try:
            if _torn(out):
                line = "\n" + line
            out.write(line.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        finally:
            fcntl.flock(out.fileno(), fcntl.LOCK_UN)


def _torn(handle: BinaryIO) -> bool:
    """Whether the file does not end with a newline (read under the lock)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return False
    handle.seek(size - 1)
    return handle.read(1) != b"\n"
