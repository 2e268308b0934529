"""The fault catalog (ARCHITECTURE.md): one fault per file, each with ``inject`` and ``heal``."""

from __future__ import annotations

from harness.faults._base import Fault, FaultTarget
from harness.faults.kill import KillFault

FAULTS: dict[str, Fault] = {
    "kill": KillFault(),
}


def get_fault(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise ValueError(f"unknown fault {name!r}; valid faults: {', '.join(FAULTS)}") from None


__all__ = ["FAULTS", "Fault", "FaultTarget", "KillFault", "get_fault"]
