"""The results store: one JSON line per trial, appended, never rewritten.

Appends take an exclusive ``flock`` on the file so parallel pytest workers never interleave
lines, and each line is flushed and fsync'd before the lock is released.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Mapping
from pathlib import Path

from harness.history import JSONValue

DEFAULT_RESULTS = Path(".durabench") / "results.jsonl"


def append_result(path: Path, record: Mapping[str, JSONValue]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
    with open(path, "a", encoding="utf-8") as out:
        fcntl.flock(out.fileno(), fcntl.LOCK_EX)
        try:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        finally:
            fcntl.flock(out.fileno(), fcntl.LOCK_UN)
