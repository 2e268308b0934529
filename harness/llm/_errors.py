"""Errors the provider's Python side raises.

::

    ProviderError (RuntimeError)          anything that went wrong talking to / running the provider
    ├── ProviderStartError       the provider process did not start or announce its port
    ├── ProviderRequestError     the provider answered an API call with an error status
    └── CallNotDeliveredError    waited for "delivered" but the call was answered undelivered

``ProviderClient.wait_for`` raises the builtin ``TimeoutError`` when the event did not happen in
time.
"""

from __future__ import annotations

from harness.history import LedgerEntry


class ProviderError(RuntimeError):
    """Base of the provider's errors."""


class ProviderStartError(ProviderError):
    """Raised when ``python -m harness.llm serve`` exits or stays silent instead of listening."""


class ProviderRequestError(ProviderError):
    """Raised when the provider answers a control or ledger call with an error status."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class CallNotDeliveredError(ProviderError):
    """Raised by ``wait_for(..., "delivered")`` when the call was answered but never delivered."""

    def __init__(self, message: str, *, entry: LedgerEntry) -> None:
        super().__init__(message)
        self.entry = entry
