"""Which Toxiproxy served a run: the real server (and its version) or the embedded one.

The server's own ``GET /version`` decides: the embedded server answers
``<Toxiproxy version it mimics>+durabench-embedded``, anything else is a real Toxiproxy. So the
identity is right however the server was found (``TOXIPROXY_URL``, a binary, a container image).
A trial's results line carries :meth:`Identity.label`: ``real 2.12.0`` or ``embedded``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .client import ToxiproxyClient

EMBEDDED_SUFFIX = "+durabench-embedded"
#: Oldest real Toxiproxy the harness drives: /populate, limit_data and ``error`` bodies are 2.1.0's.
MIN_VERSION = (2, 1, 0)


@dataclass(frozen=True)
class Identity:
    kind: Literal["real", "embedded"]
    version: str

    @property
    def label(self) -> str:
        """``real 2.12.0`` or ``embedded`` (what results lines and reports show)."""
        return f"real {self.version}" if self.kind == "real" else "embedded"

    def __str__(self) -> str:
        return self.label


def identify(version: str) -> Identity:
    """The identity of a server that reports ``version`` on ``GET /version``."""
    version = version.strip()
    if version.endswith(EMBEDDED_SUFFIX):
        return Identity("embedded", version)
    return Identity("real", version.removeprefix("v"))


def identity_of(client: ToxiproxyClient) -> Identity:
    """Ask the server behind ``client`` (one ``GET /version``)."""
    return identify(client.version())


def parse_version(version: str) -> tuple[int, int, int] | None:
    """``2.12.0`` / ``v2.1.4-rc1`` -> ``(2, 12, 0)`` / ``(2, 1, 4)``; None when not a version."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version.strip())
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)
