"""What every fault is: parameters as a frozen dataclass, ``inject()`` and ``heal()``.

The trial runner calls ``inject`` when the trigger fires and ``heal`` in a ``finally``, so a
fault's heal always runs, also when the trial fails or times out. ``heal`` must be safe to call
after a failed or partial ``inject``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from harness.env.local import LocalEnvironment, WorkerProcess


@dataclass(frozen=True)
class FaultTarget:
    """What a fault may act on: the environment, the worker running the workflow, the workflow."""

    env: LocalEnvironment
    worker: WorkerProcess
    workflow_id: str = ""


class Fault(Protocol):
    @property
    def name(self) -> str: ...

    def inject(self, target: FaultTarget) -> None: ...

    def heal(self, target: FaultTarget) -> None: ...

    @property
    def kills_worker(self) -> bool:
        """True when the worker is gone after ``inject`` and the recovery policy replaces it."""
        ...
