"""The fault catalog (docs/architecture.md): one fault per file, each with ``inject`` and ``heal``.

The registry is a literal dict of each fault with its default parameters; scenarios that need
other parameters build the dataclass themselves and register it under a name of their own.
"""

from __future__ import annotations

from harness.faults._base import (
    Fault,
    FaultNotLanded,
    FaultTarget,
    FaultUnavailable,
    ShapesWorkers,
    WatchesClaimPolls,
    WorkerSetup,
)
from harness.faults.ack_loss import AckLossFault
from harness.faults.db_crash import DbCrashFault
from harness.faults.degrade import DegradeFault
from harness.faults.evict import EvictFault
from harness.faults.kill import KillFault
from harness.faults.oom import OomFault
from harness.faults.partition import PartitionFault
from harness.faults.pause import PauseFault
from harness.faults.poison import PoisonFault
from harness.faults.provider_errors import ProviderErrorsFault

FAULTS: dict[str, Fault] = {
    "kill": KillFault(),
    "evict": EvictFault(),
    "oom": OomFault(),
    "pause": PauseFault(),
    "poison": PoisonFault(),
    "db_crash": DbCrashFault(),
    "provider_errors": ProviderErrorsFault(),
    "partition": PartitionFault(),
    "degrade": DegradeFault(),
    "ack_loss": AckLossFault(),
}


def get_fault(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}") from None


__all__ = [
    "FAULTS",
    "AckLossFault",
    "DbCrashFault",
    "DegradeFault",
    "EvictFault",
    "Fault",
    "FaultNotLanded",
    "FaultTarget",
    "FaultUnavailable",
    "KillFault",
    "OomFault",
    "PartitionFault",
    "PauseFault",
    "PoisonFault",
    "ProviderErrorsFault",
    "ShapesWorkers",
    "WatchesClaimPolls",
    "WorkerSetup",
    "get_fault",
]
