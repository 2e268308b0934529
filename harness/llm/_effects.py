"""The effect sink: where workloads send side effects, applied once per idempotency key, fenced.

``POST /v1/effects`` with ``{"key", "name", "workflow_id", "payload"}`` (plus the attribution
headers for executor and attempt). The first delivery of a key is applied; every later one is a
duplicate. Every delivery, applied or not, is one fsync'd line in ``<ledger stem>.effects.jsonl``
beside the ledger, and a provider restarted on the same ledger remembers the keys it applied.

**Fencing tokens.** ``POST /v1/effects/fence`` with ``{"fences": [{"workflow_id", "epoch"}]}``
announces that ``epoch`` now owns ``workflow_id``. From then on a delivery for that workflow whose
``attempt`` is lower than the highest announced epoch is **refused**: not applied, logged with
``fenced: true``, answered ``{"applied": false, "fenced": true, "fence": <epoch>}``. A runtime that
announces each new epoch *before* its claim commits (the reference runtime does, inside the claim
transaction) makes a superseded execution unable to apply an effect once its successor has
claimed, whether the zombie arrives before or after the successor's own first effect. A workflow
with no announced fence (a runtime that cannot announce) is not fenced: deliveries are judged by
key alone, as before. Announcements are fsync'd lines in the same file (``{"fence": wf,
"epoch": n}``) and survive a provider restart; the fence never moves down.

**Holding announcements** (a fault's pin, :class:`FenceGate`): ``POST /control/fences/hold``
``{"workflow_id"}`` makes the next announcements for that workflow wait, after the fence is
raised and before they are answered, until ``POST /control/fences/release``; ``GET
/control/fences/wait?workflow_id=&timeout=`` returns once one has arrived. A runtime that
announces inside its claim transaction then holds the claim open (its rows locked) while held.

**Holding deliveries** (a fault's pin, :class:`EffectGate`): ``POST /control/effects/hold``
``{"workflow_id", "above": <epoch>}`` makes that workflow's deliveries from executions newer than
``above`` wait *before they are judged*, until ``POST /control/effects/release``: a successor's
effect, held in transit, so that a superseded execution's effect reaches the sink first (a
delivery is judged when it is let through, by the fence the sink knows then). Deliveries from
``above`` or older, and those that carry no attempt, pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from harness.history import EffectRecord
from harness.llm._jsonl import JsonlFile

_RECORD_FIELDS = frozenset(f.name for f in fields(EffectRecord))


def effects_path_for(ledger_path: Path) -> Path:
    """``/x/ledger.jsonl`` -> ``/x/ledger.effects.jsonl``."""
    return ledger_path.with_name(f"{ledger_path.stem}.effects.jsonl")


def effect_from_json(data: Mapping[str, Any]) -> EffectRecord:
    """A delivery line (as ``GET /v1/effects`` returns it) as an :class:`EffectRecord`."""
    return EffectRecord(**{k: v for k, v in data.items() if k in _RECORD_FIELDS})


class EffectSink:
    """Applies each idempotency key once, refuses fenced epochs, logs every delivery; close()."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path)
        self._records: list[dict[str, Any]] = []
        self._fences: dict[str, int] = {}
        for line in self._file.read():
            if "fence" in line:
                self._raise_fence(str(line["fence"]), int(line["epoch"]))
            else:
                self._records.append(line)
        self._applied = {r["key"] for r in self._records if r.get("applied")}

    def _raise_fence(self, workflow_id: str, epoch: int) -> bool:
        if epoch <= self._fences.get(workflow_id, -1):
            return False
        self._fences[workflow_id] = epoch
        return True

    def fence(self, fences: Iterable[tuple[str, int]]) -> dict[str, int]:
        """Announce ``(workflow_id, epoch)`` owners; returns each workflow's fence after it."""
        out: dict[str, int] = {}
        for workflow_id, epoch in fences:
            if self._raise_fence(workflow_id, epoch):
                self._file.append({"fence": workflow_id, "epoch": epoch,
                                   "announced_ns": time.time_ns()})
            out[workflow_id] = self._fences[workflow_id]
        return out

    def fence_of(self, workflow_id: str | None) -> int | None:
        """The highest epoch announced for ``workflow_id``, or None (not fenced)."""
        return None if workflow_id is None else self._fences.get(workflow_id)

    def deliver(
        self, *, key: str, name: str, workflow_id: str | None, payload: Any,
        executor: str | None, attempt: int | None,
    ) -> dict[str, Any]:
        """Record one delivery; ``applied`` is True only for the first unfenced delivery of
        ``key``; ``fenced`` is True when a higher epoch owns the workflow (see module doc)."""
        fence = self.fence_of(workflow_id)
        fenced = fence is not None and attempt is not None and attempt < fence
        applied = not fenced and key not in self._applied
        record = {
            "key": key, "name": name, "workflow_id": workflow_id, "executor": executor,
            "attempt": attempt, "received_ns": time.time_ns(), "applied": applied,
            "fenced": fenced, "payload": payload,
        }
        self._file.append(record)
        if applied:
            self._applied.add(key)
        self._records.append(record)
        return record

    def records(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        return [
            dict(r) for r in self._records
            if workflow_id is None or r.get("workflow_id") == workflow_id
        ]

    def close(self) -> None:
        self._file.close()


class EffectGate:
    """Holds the effect deliveries of chosen workflows from executions newer than an epoch (see
    module doc); used on the event loop."""

    def __init__(self) -> None:
        self._open: dict[str, tuple[int, asyncio.Event]] = {}

    def hold(self, workflow_id: str, above: int) -> None:
        self._open[workflow_id] = (above, asyncio.Event())

    async def passage(self, workflow_id: str | None, attempt: int | None) -> None:
        """Return at once unless the delivery is held; else once it is released."""
        held = None if workflow_id is None else self._open.get(workflow_id)
        if held is None or attempt is None or attempt <= held[0]:
            return
        await held[1].wait()

    def release(self, workflow_id: str | None = None) -> list[str]:
        """Let the held deliveries of one workflow (or all) through; no longer held."""
        names = list(self._open) if workflow_id is None else [workflow_id]
        released = []
        for name in names:
            held = self._open.pop(name, None)
            if held is not None:
                held[1].set()
                released.append(name)
        return released


class FenceGate:
    """Holds fence announcements of chosen workflows (see module doc); used on the event loop."""

    def __init__(self) -> None:
        self._open: dict[str, asyncio.Event] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._epochs: dict[str, int] = {}

    def hold(self, workflow_id: str) -> None:
        self._open[workflow_id] = asyncio.Event()
        self._arrived[workflow_id] = asyncio.Event()
        self._epochs.pop(workflow_id, None)

    async def passage(self, workflow_id: str, epoch: int) -> None:
        """Return at once unless ``workflow_id`` is held; else once it is released."""
        gate = self._open.get(workflow_id)
        if gate is None:
            return
        self._epochs[workflow_id] = epoch
        self._arrived[workflow_id].set()
        await gate.wait()

    async def wait_arrived(self, workflow_id: str, timeout_s: float) -> int | None:
        """The epoch of the first held announcement, or None when none came within the time."""
        arrived = self._arrived.get(workflow_id)
        if arrived is None:
            return None
        try:
            await asyncio.wait_for(arrived.wait(), timeout_s)
        except TimeoutError:
            return None
        return self._epochs.get(workflow_id)

    def release(self, workflow_id: str | None = None) -> list[str]:
        """Let the held announcements of one workflow (or all) be answered; no longer held."""
        names = list(self._open) if workflow_id is None else [workflow_id]
        released = []
        for name in names:
            gate = self._open.pop(name, None)
            if gate is not None:
                gate.set()
                released.append(name)
        return released
