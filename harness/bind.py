"""Where servers we start may listen: loopback unless asked, and a port that exists.

Every server durabench starts (the provider, the embedded Toxiproxy) has an unauthenticated API,
so it listens on 127.0.0.1 by default. :func:`refuse_remote` is the one rule for a non-loopback
``--host``: refused (a one-line error) without ``--allow-remote``, warned about with it.
"""

from __future__ import annotations

import argparse
import ipaddress


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0..65535 (0 = any free port)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_remote(host: str, allow_remote: bool, what: str) -> tuple[str | None, str | None]:
    """``(error, warning)`` for binding ``what`` to ``host``: an error line when a non-loopback
    host was not allowed, a warning line when it was; ``(None, None)`` for loopback."""
    if is_loopback(host):
        return None, None
    if not allow_remote:
        return (f"error: refusing to bind {what} to non-loopback host {host!r}; use 127.0.0.1, "
                "or pass --allow-remote if you really mean to expose it"), None
    return None, (f"warning: {what} listens on {host}; anyone who can reach this address can "
                  "drive it")
