"""Errors of the Toxiproxy client and launcher; lower-level errors are chained with ``from``.

ToxiproxyError                      any failure talking to or starting a Toxiproxy server
├── ToxiproxyUnavailableError       no answer: refused, timed out, or the server did not start
├── ToxiproxyRequestError           the server rejected the request (400 bad request, 5xx)
├── NotFoundError                   404
│   ├── ProxyNotFoundError          no proxy of that name
│   └── ToxicNotFoundError          the proxy has no toxic of that name
└── ConflictError                   409
    ├── ProxyConflictError          a proxy of that name exists
    └── ToxicConflictError          the proxy already has a toxic of that name
"""

from __future__ import annotations


class ToxiproxyError(RuntimeError):
    """Raised for any failure talking to or starting a Toxiproxy server."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ToxiproxyUnavailableError(ToxiproxyError):
    """Raised when the server does not answer (refused, timed out) or does not start."""


class ToxiproxyRequestError(ToxiproxyError):
    """Raised when the server rejects a request (400) or fails it (5xx)."""


class NotFoundError(ToxiproxyError):
    """Raised on 404."""


class ProxyNotFoundError(NotFoundError):
    """Raised when the named proxy does not exist."""


class ToxicNotFoundError(NotFoundError):
    """Raised when the proxy exists but has no toxic of that name."""


class ConflictError(ToxiproxyError):
    """Raised on 409."""


class ProxyConflictError(ConflictError):
    """Raised when creating a proxy whose name is taken."""


class ToxicConflictError(ConflictError):
    """Raised when adding a toxic whose name is taken on that proxy."""
