"""What every fault is: parameters as a frozen dataclass, ``inject()`` and ``heal()``.

The trial runner calls ``inject`` when the trigger fires and ``heal`` in a ``finally``, so a
fault's heal always runs, also when the trial fails or times out. ``heal`` must be safe to call
after a failed or partial ``inject``.

Optional abilities are small extra protocols (as Toxiproxy does it): a fault that needs its
workers started a certain way (a memory cgroup, an environment variable) is a
:class:`ShapesWorkers`; one that waits for the SUT's claim polls to reach its store is a
:class:`WatchesClaimPolls`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from harness.env import Environment, Links, Worker
from harness.env.statements import StatementWatch
from harness.history import JSONValue, StepRecord, WorkflowRecord


class DurableStore(Protocol):
    """What ``db_crash`` acts on (see :mod:`harness.services`)."""

    def crash(self) -> None: ...

    def restart(self) -> None: ...


class FaultUnavailable(RuntimeError):
    """The fault cannot run on this machine; the trial is skipped with this reason (or fails
    when ``DURABENCH_REQUIRE`` names the fault)."""


class FaultNotLanded(FaultUnavailable):
    """The fault could not land in its window -- a fact about the schedule on this machine, not
    about the SUT -- and was undone (``str()`` says what the fault did instead). A scenario
    trial is skipped with the reason (a failure under ``DURABENCH_REQUIRE``); the soak records
    it and judges its workflows as they ran."""


@dataclass(frozen=True)
class FaultTarget:
    """What a fault may act on."""

    env: Environment
    worker: Worker
    """The worker running the workflow when the trigger fired."""
    workflow_id: str
    links: Links
    """The victim's links (with ``Recovery.own_links``), else every worker's."""
    trial_dir: Path
    release: Callable[[], None] = lambda: None
    """Lets a call held by the trigger continue (idempotent). The runner calls it after
    ``inject``; a fault that lets the worker go on (evict's grace period, pause, a partition)
    calls it itself at the moment the held call should complete."""
    wait_outcome: Callable[[float], bool] = lambda timeout_s: False
    """Blocks until the workflow is terminal (True) or ``timeout_s`` passes (False), for faults
    that last for the rest of the run."""
    step_records: Callable[[], Sequence[StepRecord]] = lambda: ()
    """The SUT's step records of the trial's workflows as they stand now, read directly (never
    through a faulted link): faults that must land on a particular write watch for it here."""
    workflow_records: Callable[[], Sequence[WorkflowRecord]] = lambda: ()
    """The SUT's workflow rows of the trial (root and children) as they stand now."""
    workers: Callable[[], Sequence[Worker]] = lambda: ()
    """Every worker the trial started so far, dead or alive."""

    durable_store: DurableStore | None = None
    """What ``db_crash`` crashes: the SUT's durable store (None: the environment's Postgres)."""
    peer_links: Links | None = None
    """The links of the trial's other workers, when the standbys have links of their own
    (``Recovery.own_links``; ``links`` are then the victim's alone), else None (one shared pair)."""
    announces_epochs: bool = False
    """The SUT announces each claim's new epoch to the effect sink before the claim commits
    (``SutDescription.effect_fencing``): a claim then needs answers from Postgres and the sink."""
    lock_waits: Callable[[], int] = lambda: 0
    """How many sessions of the trial's database wait for a lock now (read directly)."""
    claim_polls: StatementWatch | None = None
    """The SUT's claim polls in the trial's statement log (``SutDescription.claim_poll``), for a
    fault that :class:`WatchesClaimPolls`; None when the SUT declares no claim poll or the
    environment keeps no statement log."""
    healed: dict[str, JSONValue] = field(default_factory=dict)
    """What the fault says of its heal: added to the ``fault_healed`` event's detail."""

    def proxy(self, link: str) -> str:
        """The Toxiproxy proxy of ``link`` (``postgres``, ``provider`` or a SUT service's name)."""
        if link == "postgres":
            return self.links.postgres_proxy
        if link == "provider":
            return self.links.provider_proxy
        if link in self.links.service_proxies:
            return self.links.service_proxies[link]
        valid = ", ".join(["postgres", "provider", *self.links.service_proxies])
        raise ValueError(f"unknown link {link!r}; valid links: {valid}")

    def peer_proxy(self, link: str) -> str:
        """The other workers' own proxy of ``link`` (``postgres`` or ``provider``); an error that
        says what to do when the trial gave them none."""
        if self.peer_links is None:
            raise ValueError("this fault acts on the other workers' own links: run the trial "
                             "with Recovery(policy='standby', own_links=True)")
        if link not in ("postgres", "provider"):
            raise ValueError(f"unknown link {link!r} of the other workers; valid: postgres, "
                             "provider")
        links = self.peer_links
        return links.postgres_proxy if link == "postgres" else links.provider_proxy

    def crash_store(self) -> None:
        """Crash the SUT's durable store without a clean shutdown."""
        if self.durable_store is None:
            self.env.crash_postgres()
        else:
            self.durable_store.crash()

    def restart_store(self) -> None:
        """Bring the durable store back (a no-op when it runs) and wait until it answers."""
        if self.durable_store is None:
            self.env.start_postgres()
        else:
            self.durable_store.restart()


@dataclass(frozen=True)
class WorkerSetup:
    """How every worker of a trial is started for a fault that needs it."""

    env: Mapping[str, str] = field(default_factory=dict)
    memory_limit_mb: int | None = None
    executor_env: Mapping[str, str] = field(default_factory=dict)
    """Like ``env``, one value per worker: ``{executor}`` in a value becomes the worker's
    executor id (a switch that must reach one worker only, such as the soak's oom arming)."""

    def env_for(self, executor_id: str) -> dict[str, str]:
        """The environment a worker of ``executor_id`` is started with."""
        own = {k: v.replace("{executor}", executor_id) for k, v in self.executor_env.items()}
        return {**self.env, **own}


class Fault(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kills_worker(self) -> bool:
        """True when the worker is expected to be gone after ``inject``."""
        ...

    def inject(self, target: FaultTarget) -> None: ...

    def heal(self, target: FaultTarget) -> None: ...


@runtime_checkable
class WatchesClaimPolls(Protocol):
    """A fault that waits for the SUT's claim polls (``FaultTarget.claim_polls``): the runner
    logs the trial database's statements for it where it can (local environment)."""

    @property
    def watches_claim_polls(self) -> bool: ...


@runtime_checkable
class ShapesWorkers(Protocol):
    def worker_setup(self, trial_dir: Path) -> WorkerSetup: ...
