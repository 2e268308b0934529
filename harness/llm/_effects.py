"""The effect sink: where workloads send side effects, applied once per idempotency key.

``POST /v1/effects`` with ``{"key", "name", "workflow_id", "payload"}`` (plus the attribution
headers for executor and attempt). The first delivery of a key is applied; every later one is a
duplicate. Every delivery, applied or not, is one fsync'd line in ``<ledger stem>.effects.jsonl``
beside the ledger, and a provider restarted on the same ledger remembers the keys it applied.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
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
    """Applies each idempotency key once and logs every delivery; close() when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = JsonlFile(path)
        self._records = self._file.read()
        self._applied = {r["key"] for r in self._records if r.get("applied")}

    def deliver(
        self, *, key: str, name: str, workflow_id: str | None, payload: Any,
        executor: str | None, attempt: int | None,
    ) -> dict[str, Any]:
        """Record one delivery; ``applied`` is True only for the first delivery of ``key``."""
        applied = key not in self._applied
        record = {
            "key": key, "name": name, "workflow_id": workflow_id, "executor": executor,
            "attempt": attempt, "received_ns": time.time_ns(), "applied": applied,
            "payload": payload,
        }
        self._file.append(record)
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
