"""Systems under test: a durable runtime plus its mode, behind one documented protocol.

The protocol is :mod:`harness.sut._protocol` (:class:`SystemUnderTest` and the values that cross
it); the registry (:mod:`harness.sut._registry`) finds SUTs through the entry point group
``durabench.suts``. The harness never reaches into a runtime's internals except through its
adapter, and never special-cases a SUT by name: ``reference``, ``reference-nockpt`` and ``plain``
are registered in durabench's ``pyproject.toml`` exactly like a third party's SUT.

Each built-in runtime is one package, ``harness.sut.<runtime>``: its ``__init__`` holds the SUT
objects the entry points name and the harness's client, ``worker`` the worker process
(``python -m harness.sut.<runtime>.worker``), ``notes`` (where the text is long) what
``durabench suts`` prints about it.

Each SUT declares the properties it promises (docs/architecture.md, Verdicts); only those decide its
verdict.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.history import PROPERTIES, Property
from harness.sut._protocol import (
    REQUIRED_ATTRIBUTES,
    ClaimRecords,
    ClientContext,
    DurableSleep,
    EffectFencing,
    HandOverFailed,
    NeedsPostgresExtensions,
    QueueLimits,
    RecoversExecutors,
    RecoveryPolicyName,
    ReportsClaims,
    ReportsLiveness,
    Service,
    ServiceCommand,
    ServiceContext,
    ServiceLauncher,
    ServiceProcess,
    StoreRetry,
    SutClient,
    SutDescription,
    SystemUnderTest,
    WorkerCommand,
    WorkerOptions,
    WorkerSpec,
)
from harness.sut._registry import (
    ENTRY_POINT_GROUP,
    SutLoadError,
    UnknownSutError,
    get_sut,
    registrations,
    sut_names,
    sut_versions,
)
from harness.sut._releases import (
    InstalledRelease,
    ReleaseError,
    ReleaseSupport,
    RunsReleases,
    SutSpec,
    parse_sut_spec,
)

ALL_PROPERTIES: frozenset[Property] = frozenset(PROPERTIES)
"""Every property of docs/architecture.md: what a SUT that promises everything declares."""


def available_sut_names() -> tuple[str, ...]:
    """Registered SUTs that can run here (``available()`` is None): what ``--sut all`` means.

    Raises :class:`SutLoadError` when one of them cannot be loaded.
    """
    return tuple(n for n in sut_names() if get_sut(n).available() is None)


def postgres_extensions_of(names: Iterable[str]) -> dict[str, str]:
    """Extension -> the SUT(s) that create it, of the SUTs ``names`` (NeedsPostgresExtensions):
    what the local environment's Postgres must have."""
    needed: dict[str, list[str]] = {}
    for name in names:
        sut = get_sut(name)
        if isinstance(sut, NeedsPostgresExtensions):
            for extension in sut.postgres_extensions:
                needed.setdefault(extension, []).append(sut.name)
    return {e: ", ".join(who) for e, who in sorted(needed.items())}


__all__ = [
    "ALL_PROPERTIES",
    "ENTRY_POINT_GROUP",
    "REQUIRED_ATTRIBUTES",
    "ClaimRecords",
    "ClientContext",
    "DurableSleep",
    "EffectFencing",
    "HandOverFailed",
    "InstalledRelease",
    "NeedsPostgresExtensions",
    "QueueLimits",
    "RecoversExecutors",
    "RecoveryPolicyName",
    "ReleaseError",
    "ReleaseSupport",
    "ReportsClaims",
    "ReportsLiveness",
    "RunsReleases",
    "Service",
    "ServiceCommand",
    "ServiceContext",
    "ServiceLauncher",
    "ServiceProcess",
    "StoreRetry",
    "SutClient",
    "SutDescription",
    "SutLoadError",
    "SutSpec",
    "SystemUnderTest",
    "UnknownSutError",
    "WorkerCommand",
    "WorkerOptions",
    "WorkerSpec",
    "available_sut_names",
    "get_sut",
    "parse_sut_spec",
    "postgres_extensions_of",
    "registrations",
    "sut_names",
    "sut_versions",
]
