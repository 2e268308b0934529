"""Systems under test: a durable runtime plus its mode, behind one small protocol.

The harness never reaches into a runtime's internals except through its adapter here. An adapter
says how to start a worker process (``worker_argv``) and gives a client that starts workflows and
reads the SUT's own store back as history (workflow records and step records).

Each SUT declares the properties it promises (ARCHITECTURE.md, Verdicts); only those decide its
verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from harness.history import PROPERTIES, JSONValue, Outcome, Property, StepRecord, WorkflowRecord


@dataclass(frozen=True)
class WorkerOptions:
    """Timing knobs of a worker. Short leases keep trials fast; production would use ~30 s."""

    lease_s: float = 2.0
    heartbeat_s: float = 0.5
    poll_s: float = 0.1
    grace_s: float = 2.0
    max_recovery_attempts: int = 10


class SutClient(Protocol):
    """The harness's side of a SUT: start workflows, read its store."""

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None: ...

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        """Block until the workflow is terminal; raises TimeoutError."""
        ...

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        """Status rows of the roots and all their descendants."""
        ...

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]: ...

    def close(self) -> None: ...

    def __enter__(self) -> SutClient: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class SystemUnderTest(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def checkpointing(self) -> bool: ...

    @property
    def promises(self) -> frozenset[Property]:
        """The properties whose verdicts decide this SUT's verdict (ARCHITECTURE.md)."""
        ...

    def worker_argv(
        self,
        *,
        workload: str,
        postgres_url: str,
        provider_url: str,
        executor_id: str,
        options: WorkerOptions,
    ) -> list[str]: ...

    def connect(self, postgres_url: str) -> SutClient: ...


ALL_PROPERTIES: frozenset[Property] = frozenset(PROPERTIES)
NOCKPT_PROMISES: frozenset[Property] = frozenset(
    {"terminates", "single_outcome", "output_consistency", "effects_once",
     "single_active_execution"}
)


def _registry() -> dict[str, SystemUnderTest]:
    from harness.sut.reference import ReferenceSut

    return {
        "reference": ReferenceSut("reference", checkpointing=True, promises=ALL_PROPERTIES),
        "reference-nockpt": ReferenceSut(
            "reference-nockpt", checkpointing=False, promises=NOCKPT_PROMISES
        ),
    }


SUT_NAMES: tuple[str, ...] = ("reference", "reference-nockpt")


def get_sut(name: str) -> SystemUnderTest:
    suts = _registry()
    if name not in suts:
        raise ValueError(f"unknown SUT {name!r}; valid SUTs: {', '.join(SUT_NAMES)}")
    return suts[name]


__all__ = [
    "ALL_PROPERTIES",
    "NOCKPT_PROMISES",
    "SUT_NAMES",
    "SutClient",
    "SystemUnderTest",
    "WorkerOptions",
    "get_sut",
]
