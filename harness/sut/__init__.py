"""Systems under test: a durable runtime plus its mode, behind one small protocol.

The harness never reaches into a runtime's internals except through its adapter here. An adapter
says how to start a worker process (``worker_argv``) and gives a client that starts workflows and
reads the SUT's own store back as history (workflow records and step records).

Each SUT declares the properties it promises (ARCHITECTURE.md, Verdicts); only those decide its
verdict.
"""

from __future__ import annotations

from harness.history import PROPERTIES, Property
from harness.sut._protocol import (
    ClientContext,
    RecoversExecutors,
    RecoveryPolicyName,
    ReportsLiveness,
    Service,
    ServiceContext,
    SutClient,
    SutDescription,
    SystemUnderTest,
    WorkerCommand,
    WorkerOptions,
    WorkerSpec,
)

ALL_PROPERTIES: frozenset[Property] = frozenset(PROPERTIES)
NOCKPT_PROMISES: frozenset[Property] = frozenset(
    {"terminates", "single_outcome", "output_consistency", "effects_once"}
)
"""Without step records nothing fences a zombie before its outcome write (ARCHITECTURE.md)."""


def _registry() -> dict[str, SystemUnderTest]:
    from harness.sut.dbos import DBOS_SUT
    from harness.sut.reference import ReferenceSut

    return {
        "reference": ReferenceSut("reference", checkpointing=True, promises=ALL_PROPERTIES,
                                  twin="reference-nockpt"),
        "reference-nockpt": ReferenceSut(
            "reference-nockpt", checkpointing=False, promises=NOCKPT_PROMISES, twin=None
        ),
        "dbos": DBOS_SUT,
    }


SUT_NAMES: tuple[str, ...] = ("reference", "reference-nockpt", "dbos")


def get_sut(name: str) -> SystemUnderTest:
    suts = _registry()
    if name not in suts:
        raise ValueError(f"unknown SUT {name!r}; valid SUTs: {', '.join(SUT_NAMES)}")
    return suts[name]


__all__ = [
    "ALL_PROPERTIES",
    "NOCKPT_PROMISES",
    "SUT_NAMES",
    "ClientContext",
    "RecoversExecutors",
    "RecoveryPolicyName",
    "ReportsLiveness",
    "Service",
    "ServiceContext",
    "SutClient",
    "SutDescription",
    "SystemUnderTest",
    "WorkerCommand",
    "WorkerOptions",
    "WorkerSpec",
    "get_sut",
]
