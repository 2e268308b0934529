"""The results store: one JSON line per trial, appended, never rewritten; and the line's one type.

:class:`ResultRecord` is the only definition of a results line: the runner writes
``ResultRecord.to_json()`` (built by ``TrialResult.record()``) and the report reads every line
back through :meth:`ResultRecord.from_json`, so writer and reader cannot drift apart.

Schema history (``schema`` field; :data:`RESULT_SCHEMA` is the newest):

- 1: the first store format.
- 2: adds ``twin`` (the SUT's checkpointing-off twin, from the SUT protocol), ``toxiproxy`` (which
  Toxiproxy served the links: ``""`` unknown), ``promised``, ``tool_executions`` and
  ``redundant_tool_calls``; ``versions.postgres`` is filled; ``time_to_recover_s`` follows the
  completing execution and the in-flight allowance the ledger (docs/architecture.md).
  :func:`upgrade_1_to_2` reads a schema-1 line with ``twin`` derived from the only convention
  schema 1 had (``X`` pairs with ``X-nockpt``) and its figures **recomputed from its stored
  history** with the current definitions (so a schema-1 store reports what its trials measured,
  by today's definitions; a line without a history keeps its figures). Verdicts are kept as
  recorded.
- 3: adds ``shard`` (``"K/N"``: the ``pytest --shard K/N`` run that wrote the line; null for an
  unsharded run) and ``sut_version``: the release of the runtime the SUT ran (``3.2.0`` for
  ``--sut dbos==3.2.0``, the installed release for ``--sut dbos``, durabench's version for its
  own SUTs; ``""`` unknown), and ``versions`` carries every package of that runtime (``dbos``,
  ``langgraph-checkpoint-postgres``, ...). :func:`upgrade_2_to_3` reads a schema-2 line with
  ``shard`` null (no older run was sharded) and ``sut_version`` from the pin in ``sut`` when
  there is one, else ``""``.

  Schema 3 lines may carry ``followups`` (a trial's faults after the first, in order: fault name,
  parameters, anchor, delay; ``harness.trial.FollowUp``), written only when there are any: a
  line without the key had none, and a one-fault trial's line is what it always was, so the
  field needed no new schema.

Appends take an exclusive ``flock`` on the file so parallel pytest workers never interleave
lines, and each line is flushed and fsync'd before the lock is released. A torn last line (a
writer killed mid-line) is closed with a newline first, so it stays one unreadable line instead of
swallowing the next record.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from harness.figures import compute_figures
from harness.history import History, JSONValue, history_from_json

__all__ = [
    "DEFAULT_RESULTS",
    "RESULT_SCHEMA",
    "UPGRADES",
    "RecordKind",
    "ResultRecord",
    "ResultRecordError",
    "append_result",
    "load_records",
    "upgrade_1_to_2",
    "upgrade_2_to_3",
]

DEFAULT_RESULTS = Path(".durabench") / "results.jsonl"
RESULT_SCHEMA = 3

RecordKind = Literal["trial", "golden"]


class ResultRecordError(ValueError):
    """A results line does not have the shape of a :class:`ResultRecord`; says which field."""


@dataclass(frozen=True)
class ResultRecord:
    """One results line. Field names are the JSON keys; figures are defined in harness.figures.

    ``verdicts`` maps each property to "true" / "false" / "unknown" / "not promised"; ``valid``
    composes the promised ones. ``history`` is the trial's history as JSON (None when a line
    carries none), from which every figure can be recomputed.
    """

    kind: RecordKind
    run_id: str
    trial_id: str
    scenario: str
    sut: str
    checkpointing: bool
    workload: str
    env: str
    seed: int
    twin: str | None = None
    sut_version: str = ""
    """The release of the SUT's runtime that ran (schema 3; "" unknown)."""
    toxiproxy: str = ""
    workload_params: Mapping[str, JSONValue] = field(default_factory=dict)
    fault: str | None = None
    fault_params: Mapping[str, JSONValue] = field(default_factory=dict)
    followups: tuple[Mapping[str, JSONValue], ...] = ()
    """The faults after ``fault``, in the order they fired: ``{fault, fault_params, when,
    delay_s}`` each (``harness.trial.FollowUp.to_json``); () for a one-fault trial."""
    trigger: str = ""
    trigger_spec: Mapping[str, JSONValue] | None = None
    setup_rules: tuple[Mapping[str, JSONValue], ...] = ()
    """Provider rules installed before the workflow started (e.g. a step that fails for good)."""
    recovery: str = "restart"
    detection_delay_s: float | None = None
    """The ``supervised`` policy's stated delay before the harness's supervisor acts."""
    crash_step: int | None = None
    crash_fraction: float | None = None
    """The share of the loop done when the fault fired (crash sweeps)."""
    tokens_billed: int = 0
    golden_tokens_billed: int | None = None
    redundant_tokens: int | None = None
    redundant_calls: int | None = None
    cost_usd: float = 0.0
    redundant_cost_usd: float | None = None
    fault_at_ns: int | None = None
    frontier: int | None = None
    time_to_resume_s: float | None = None
    time_to_recover_s: float | None = None
    completion_delay_s: float | None = None
    duration_s: float | None = None
    golden_duration_s: float | None = None
    tool_executions: int = 0
    redundant_tool_calls: int | None = None
    verdicts: Mapping[str, str] = field(default_factory=dict)
    valid: str = "unknown"
    verdict_summary: str = ""
    promised: tuple[str, ...] = ()
    history: Mapping[str, JSONValue] | None = None
    versions: Mapping[str, str] = field(default_factory=dict)
    host: str = ""
    started_at: str = ""
    wall_s: float = 0.0
    shard: str | None = None
    """``"K/N"`` when the run was one shard of N (``pytest --shard K/N``), else None."""
    schema: int = RESULT_SCHEMA

    def to_json(self) -> dict[str, JSONValue]:
        """The line as plain JSON values (``schema`` first, then the fields in order)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["promised"] = list(self.promised)
        data["setup_rules"] = [dict(r) for r in self.setup_rules]
        if self.followups:  # absent for a one-fault trial: such a line is what it always was
            data["followups"] = [dict(f) for f in self.followups]
        else:
            del data["followups"]
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_json(cls, data: Mapping[str, JSONValue]) -> ResultRecord:
        """Read a line of the current schema (upgrade older ones first: :func:`upgrade`)."""
        if data.get("schema") != RESULT_SCHEMA:
            raise ResultRecordError(f"schema {data.get('schema')!r} is not {RESULT_SCHEMA}; "
                                    "upgrade the line first")
        if data.get("kind") not in ("trial", "golden"):
            raise ResultRecordError(f'"kind" must be "trial" or "golden", got {data.get("kind")!r}')
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("run_id", "trial_id", "scenario", "sut", "checkpointing",
                               "workload", "env", "seed") if n not in data]
        if missing:
            raise ResultRecordError(f"a results line needs {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in names}
        values["promised"] = tuple(values.get("promised") or ())
        values["setup_rules"] = tuple(values.get("setup_rules") or ())
        values["followups"] = tuple(values.get("followups") or ())
        return cls(**values)

    def parsed_history(self) -> History | None:
        """The stored history as a :class:`History`; None when the line carries none."""
        return None if self.history is None else history_from_json(self.history)

    @property
    def key(self) -> tuple[str, str, str]:
        """(env, run_id, trial_id): a trial appears once per store under this key."""
        return (self.env, self.run_id, self.trial_id)


def _twin_by_convention(sut: str, checkpointing: bool) -> str | None:
    return f"{sut}-nockpt" if checkpointing and not sut.endswith("-nockpt") else None


def upgrade_1_to_2(record: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """A schema-1 line as schema 2 (see the module docstring for the defaults chosen)."""
    upgraded = dict(record)
    upgraded["schema"] = 2
    sut, ckpt = upgraded.get("sut"), upgraded.get("checkpointing")
    if "twin" not in upgraded and isinstance(sut, str) and isinstance(ckpt, bool):
        upgraded["twin"] = _twin_by_convention(sut, ckpt)
    upgraded.setdefault("toxiproxy", "")
    upgraded.setdefault("tool_executions", 0)
    upgraded.setdefault("redundant_tool_calls", None)
    upgraded.setdefault("promised", [])
    history = upgraded.get("history")
    if isinstance(history, Mapping):
        figures = compute_figures(history_from_json(history)).as_json()
        upgraded.update({k: v for k, v in figures.items() if k in _RECORD_FIELDS})
    return upgraded


def upgrade_2_to_3(record: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """A schema-2 line as schema 3: ``shard`` null (no schema-2 run was sharded) and
    ``sut_version`` from a ``NAME==VERSION`` pin, else ""."""
    upgraded = dict(record)
    upgraded["schema"] = 3
    upgraded.setdefault("shard", None)
    sut = upgraded.get("sut")
    pinned = sut.partition("==")[2] if isinstance(sut, str) else ""
    upgraded.setdefault("sut_version", pinned)
    return upgraded


_RECORD_FIELDS = frozenset(f.name for f in dataclasses.fields(ResultRecord))

UPGRADES = {1: upgrade_1_to_2, 2: upgrade_2_to_3}
"""``UPGRADES[v]`` turns a schema-``v`` line into a schema-``v+1`` line."""


def append_result(path: Path, record: ResultRecord | Mapping[str, JSONValue]) -> None:
    """Append one line (a :class:`ResultRecord`, or its JSON) to the store at ``path``."""
    data = record.to_json() if isinstance(record, ResultRecord) else record
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(data, separators=(",", ":"), allow_nan=False) + "\n"
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


def load_records(path: Path) -> list[ResultRecord]:
    """Every line of a store as records (upgraded); raises ResultRecordError naming the line."""
    records: list[ResultRecord] = []
    with open(path, encoding="utf-8") as lines:
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                data: Any = json.loads(raw)
                version = data.get("schema")
                while isinstance(version, int) and version in UPGRADES:
                    data = UPGRADES[version](data)
                    version = data["schema"]
                records.append(ResultRecord.from_json(data))
            except (ValueError, AttributeError, TypeError) as exc:
                raise ResultRecordError(f"{path}:{number}: {exc}") from exc
    return records


def _torn(handle: BinaryIO) -> bool:
    """Whether the file does not end with a newline (read under the lock)."""
    size = handle.seek(0, os.SEEK_END)
    if size == 0:
        return False
    handle.seek(size - 1)
    return handle.read(1) != b"\n"
