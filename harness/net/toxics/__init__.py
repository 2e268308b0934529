"""The toxics: one per module, each a frozen dataclass (attributes = schema) with ``pipe()``.

``TOXICS`` is the registry the API uses to turn ``{"type": ..., "attributes": ...}`` into a toxic.
Semantics follow Toxiproxy 2.x's README; each module's docstring states its contract.
"""

from __future__ import annotations

from ._base import (
    AttributeError400,
    Chunk,
    CleanupToxic,
    Toxic,
    ToxicStub,
    attributes_of,
    with_attributes,
)
from .bandwidth import Bandwidth
from .latency import Latency
from .limit_data import LimitData
from .reset_peer import ResetPeer
from .slicer import Slicer
from .slow_close import SlowClose
from .timeout import Timeout

TOXICS: dict[str, type[Toxic]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slow_close": SlowClose,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slicer": Slicer,
    "limit_data": LimitData,
}

__all__ = [
    "TOXICS",
    "AttributeError400",
    "Bandwidth",
    "Chunk",
    "CleanupToxic",
    "Latency",
    "LimitData",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Timeout",
    "Toxic",
    "ToxicStub",
    "attributes_of",
    "with_attributes",
]
