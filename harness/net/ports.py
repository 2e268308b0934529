"""Listen ports outside the kernel's ephemeral range.

A server the suite restarts on the same port (Postgres after a ``db_crash``) and a proxy it
disables and enables again (the ``ack_loss`` and partition heals) leave their port unbound for a
moment. A port from the ephemeral range (``net.ipv4.ip_local_port_range``, 32768-60999 by default)
can then go to any outgoing connection of any process, and the rebind fails with ``address already
in use`` (CI saw it: a Toxiproxy proxy could not be enabled again). No outgoing connection is
given a port below that range, so every listen port the suite chooses comes from the
:func:`stable_range` just below it, at random, checked free, and never handed out twice by this
process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
WIDTH = 12000
"""How many ports below the ephemeral range the suite draws from."""
LOWEST = 1024

_given: set[int] = set()
_lock = threading.Lock()


def stable_range(range_file: Path = RANGE_FILE) -> range:
    """The ports just below the ephemeral range (empty where that range starts too low, or where
    this kernel does not say)."""
    try:
        low = int(range_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return range(0)
    return range(max(LOWEST, low - WIDTH), low)


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listen_port(host: str = "127.0.0.1", *, check: bool = True) -> int:
    """A port for a server on ``host``: from :func:`stable_range`, free a moment ago (``check``;
    off where the port is bound in another network namespace), not given before by this process.
    Falls back to one the kernel picks where the stable range is empty or exhausted."""
    ports = stable_range()
    for _ in range(200 if ports else 0):
        port = random.choice(ports)
        with _lock:
            if port in _given:
                continue
            if check and not _bindable(host, port):
                continue
            _given.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


__all__ = ["listen_port", "stable_range"]
