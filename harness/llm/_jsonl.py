"""Durable JSON-lines files: the ledger and the effect log.

Contract: :meth:`JsonlFile.append` returns only after the line is written, flushed and fsync'd, so a
line the provider acknowledged survives the provider's own SIGKILL. :meth:`JsonlFile.read` skips
a torn last line (the provider died mid-write), and opening a file whose last line is torn first
ends it with a newline so new lines stay parseable. One process appends to a file at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any


class JsonlFile:
    """An append-only JSONL file kept open for appending (a context manager)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._end_torn_line()

    def _end_torn_line(self) -> None:
        size = self.path.stat().st_size
        if size == 0:
            return
        with open(self.path, "rb") as reader:
            reader.seek(size - 1)
            if reader.read(1) != b"\n":
                self._file.write("\n")
                self._file.flush()

    def read(self) -> list[dict[str, Any]]:
        """Every parseable line, in file order."""
        lines: list[dict[str, Any]] = []
        with open(self.path, encoding="utf-8", errors="replace") as reader:
            for raw in reader:
                try:
                    value = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    lines.append(value)
        return lines

    def append(self, line: Mapping[str, Any]) -> None:
        """Write one line and make it durable (flush + fsync) before returning."""
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
