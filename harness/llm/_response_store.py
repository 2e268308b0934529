"""Stored Responses of the Responses API (``_responses_api.py``), each kept ``ttl_s`` seconds.

In memory only: a restarted provider holds none (the honest "the provider dropped it" case).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from harness.llm._responses_format import FINISHED


@dataclass
class StoredResponse:
    """One stored Response: its current body and the ledger entry that bills it."""

    body: dict[str, Any]
    request_id: str
    expires_at: float
    delivered: bool = False
    awaited: bool = False
    attempt: int | None = None
    """The attempt (epoch) that made the request; a retrieve from a higher one is a resume."""
    resumed: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.body["status"] in FINISHED


class ResponseStore:
    """Responses by id, each dropped ``ttl_s`` after it was stored."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._responses: dict[str, StoredResponse] = {}

    def put(self, response_id: str, body: dict[str, Any], request_id: str,
            attempt: int | None = None) -> StoredResponse:
        stored = StoredResponse(body, request_id, time.monotonic() + self.ttl_s, attempt=attempt)
        self._responses[response_id] = stored
        return stored

    def get(self, response_id: str) -> StoredResponse | None:
        stored = self._responses.get(response_id)
        return None if stored is None or stored.expires_at < time.monotonic() else stored

    def expire(self) -> list[StoredResponse]:
        """Drop every expired Response; returns them (their entries may need settling)."""
        now = time.monotonic()
        gone = [rid for rid, s in self._responses.items() if s.expires_at < now]
        return [self._responses.pop(rid) for rid in gone]

    def close(self) -> None:
        for stored in self._responses.values():
            if stored.task is not None:
                stored.task.cancel()
        self._responses.clear()
