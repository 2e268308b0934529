"""The provider's ledger: every chat request, billed or not, delivered or not.

The ledger lives in the provider process and a JSONL file, never in the worker, so killing a worker
loses no bill. Lifecycle of one request, one fsync'd line per phase (merged by ``request_id``):

1. ``received``  — when the request arrives: attribution, model, ``call``, nonce, ``received_ns``.
   Until step 2 the merged entry has ``status`` 0, zero tokens, ``responded_ns`` null.
2. ``responded`` — when the answer is ready (before it is written): ``status``, billed tokens,
   ``cost_usd``, ``responded_ns``. The bill is final from here on, whatever happens to the client.
3. ``settled``   — after the write attempt: ``delivered`` true when the whole body was handed to an
   open connection, false otherwise.

A background response (Responses API, ``_responses_api.py``) is received with ``background``
true; its caller does not wait on the request's connection but by retrieving the response, so its
first retrieve adds an ``awaited`` line (``awaited_ns``), and the retrieve that hands over the
finished response settles it. The ``awaited`` event of a wait is that line for a background
response and ``received`` for any other: the moment from which the caller waits on the answer.
The first retrieve by a newer execution (``X-Durabench-Attempt`` above the request's) adds a
``resumed`` line (``resumed_ns``, ``resumed_attempt``): a successor resumed the call instead of
making it again.

``call`` numbers requests per ``workflow_id`` (1-based, arrival order; requests without the header
share the ``null`` workflow's count). A provider restarted on the same file loads the old entries
and continues both the numbering and the file. Merged entries carry the :class:`LedgerEntry` fields
plus ``call`` and ``settled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

from harness.history import LedgerEntry
from harness.llm._jsonl import JsonlFile

LedgerEvent = Literal["received", "awaited", "responded", "delivered"]
WaitState = Literal["happened", "never", "timeout"]
_ENTRY_FIELDS = frozenset(f.name for f in fields(LedgerEntry))
_ORDER = (
    "request_id", "workflow_id", "step", "attempt", "executor", "model", "call", "received_ns",
    "responded_ns", "status", "prompt_tokens", "completion_tokens", "cost_usd", "delivered",
    "settled", "nonce", "resumed_attempt", "resumed_ns",
)
_PENDING = {
    "responded_ns": None, "status": 0, "prompt_tokens": 0, "completion_tokens": 0,
    "cost_usd": 0.0, "delivered": False, "settled": False,
}


def merge_lines(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Merge phase lines by request_id (later lines win), in order of first appearance."""
    merged: dict[str, dict[str, Any]] = {}
    for line in lines:
        request_id = line.get("request_id")
        if not isinstance(request_id, str):
            continue
        entry = merged.setdefault(request_id, dict(_PENDING))
        entry.update({k: v for k, v in line.items() if k != "phase"})
    return merged


def entry_from_json(data: Mapping[str, Any]) -> LedgerEntry:
    """A merged ledger entry (as ``GET /v1/ledger`` returns it) as a :class:`LedgerEntry`."""
    return LedgerEntry(**{k: v for k, v in data.items() if k in _ENTRY_FIELDS})


def _happened(entry: Mapping[str, Any], event: LedgerEvent) -> WaitState | None:
    if event == "received":
        return "happened"
    if event == "awaited":
        return "happened" if not entry.get("background") or entry.get("awaited_ns") else None
    if event == "responded":
        return "happened" if entry["responded_ns"] is not None else None
    if entry["delivered"]:
        return "happened"
    return "never" if entry["settled"] else None


class Ledger:
    """In-memory merged view of the ledger file, with long-poll waiting; close() when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path)
        self._entries = merge_lines(self._file.read())
        self._calls: dict[str | None, int] = {}
        for entry in self._entries.values():
            key = entry.get("workflow_id")
            self._calls[key] = max(self._calls.get(key, 0), int(entry.get("call") or 0))
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        return len(self._entries)

    def _append(self, line: dict[str, Any]) -> dict[str, Any]:
        self._file.append(line)
        entry = merge_lines([line])[line["request_id"]]
        merged = self._entries.setdefault(line["request_id"], entry)
        merged.update({k: v for k, v in line.items() if k != "phase"})
        # Wake every waiter; each re-checks its own predicate.
        self._changed.set()
        self._changed = asyncio.Event()
        return dict(merged)

    def record_received(
        self, *, workflow_id: str | None, step: int | None, attempt: int | None,
        executor: str | None, model: str, nonce: str, background: bool = False,
    ) -> dict[str, Any]:
        """Phase 1: number the call and record it; returns the merged entry."""
        call = self._calls.get(workflow_id, 0) + 1
        self._calls[workflow_id] = call
        line = {
            "phase": "received", "request_id": f"req-{uuid.uuid4().hex}",
            "workflow_id": workflow_id, "step": step, "attempt": attempt, "executor": executor,
            "model": model, "call": call, "nonce": nonce, "received_ns": time.time_ns(),
        }
        return self._append({**line, "background": True} if background else line)

    def record_awaited(self, request_id: str) -> dict[str, Any]:
        """A background response's caller retrieved it for the first time (module docstring)."""
        return self._append({"phase": "awaited", "request_id": request_id,
                             "awaited_ns": time.time_ns()})

    def record_responded(
        self, request_id: str, *, status: int, prompt_tokens: int, completion_tokens: int,
        cost_usd: float,
    ) -> dict[str, Any]:
        """Phase 2: the final bill, recorded before the answer is written."""
        return self._append({
            "phase": "responded", "request_id": request_id, "responded_ns": time.time_ns(),
            "status": status, "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens, "cost_usd": cost_usd,
        })

    def record_settled(self, request_id: str, *, delivered: bool) -> dict[str, Any]:
        """Phase 3: whether the whole answer reached an open connection."""
        return self._append({
            "phase": "settled", "request_id": request_id, "delivered": delivered, "settled": True,
        })

    def record_resumed(self, request_id: str, attempt: int) -> dict[str, Any]:
        """A newer execution (``attempt``) retrieved a background response (module docstring)."""
        return self._append({"phase": "resumed", "request_id": request_id,
                             "resumed_ns": time.time_ns(), "resumed_attempt": attempt})

    def entries(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """Merged entries in arrival order, optionally of one workflow."""
        return [
            {k: e.get(k) for k in _ORDER}
            for e in self._entries.values()
            if workflow_id is None or e.get("workflow_id") == workflow_id
        ]

    def find(self, workflow_id: str | None, call: int) -> dict[str, Any] | None:
        for entry in self._entries.values():
            if entry.get("workflow_id") == workflow_id and entry.get("call") == call:
                return entry
        return None

    def find_step(self, workflow_id: str | None, step: int) -> dict[str, Any] | None:
        """The first call (lowest number) of logical step ``step`` of ``workflow_id``."""
        calls = [e for e in self._entries.values()
                 if e.get("workflow_id") == workflow_id and e.get("step") == step]
        return min(calls, key=lambda e: int(e.get("call") or 0)) if calls else None

    async def wait(
        self, workflow_id: str | None, call: int | None, event: LedgerEvent, timeout_s: float,
        *, step: int | None = None,
    ) -> tuple[WaitState, dict[str, Any] | None]:
        """Block until ``event`` happened for that call (``call``; or, with ``step``, the first
        call of that logical step): ``happened``, ``never`` (answered but not delivered) or
        ``timeout``; returns the merged entry when there is one."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            entry = (self.find_step(workflow_id, step) if step is not None
                     else self.find(workflow_id, call or 0))
            state = None if entry is None else _happened(entry, event)
            if state is not None:
                return state, dict(entry or {})
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return "timeout", None if entry is None else dict(entry)
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def close(self) -> None:
        self._file.close()
