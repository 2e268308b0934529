"""Network faults through Toxiproxy: a client, a launcher, and an embedded compatible server.

Every link (``worker→postgres``, ``worker→provider``) passes through a Toxiproxy proxy; faults add
toxics to it or disable it. The harness speaks Toxiproxy 2.x's HTTP API only, so the same scenarios
run against either server:

**Real Toxiproxy** (users with Docker or the Go binary). Either point the harness at a running
server, e.g. ``docker run --rm --net=host ghcr.io/shopify/toxiproxy`` then
``export TOXIPROXY_URL=http://127.0.0.1:8474``, or put ``toxiproxy-server`` on PATH and the
launcher starts it on a free 127.0.0.1 port for each run.

**Embedded server** (the default where Toxiproxy cannot be installed):
``python -m harness.net serve [--host 127.0.0.1] [--port 8474] [--seed N]`` runs an asyncio
reimplementation of the same API and toxics (latency, bandwidth, slow_close, timeout, reset_peer,
slicer, limit_data) with Toxiproxy's semantics; it prints ``listening on http://127.0.0.1:<port>``
first. Known differences: a proxy ``listen`` with no host binds 127.0.0.1 (Toxiproxy binds every
interface); ``/version`` reports ``2.12.0+durabench-embedded``; the HTTP-only toxics of later
Toxiproxy releases are not implemented (the API answers 400 invalid toxic type).

Usage::

    with toxiproxy_server(run_id) as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy("worker_postgres", "127.0.0.1:0", postgres_address)
        with toxiproxy.toxic(link.name, "latency", latency=200, jitter=20):
            ...                     # the worker talks to link.listen
        with toxiproxy.disabled(link.name):
            ...                     # partition: connections dropped, new ones refused

``toxiproxy_server`` picks ``TOXIPROXY_URL``, else ``toxiproxy-server`` on PATH, else the embedded
server (force one with ``mode=``). Errors are :mod:`harness.net.errors` exceptions.
"""

from __future__ import annotations

from ._launcher import ENV_URL, ToxiproxyServer, toxiproxy_server
from .client import ProxyInfo, Stream, ToxicInfo, ToxicType, ToxiproxyClient
from .errors import (
    ConflictError,
    NotFoundError,
    ProxyConflictError,
    ProxyNotFoundError,
    ToxicConflictError,
    ToxicNotFoundError,
    ToxiproxyError,
    ToxiproxyRequestError,
    ToxiproxyUnavailableError,
)

__all__ = [
    "ENV_URL",
    "ConflictError",
    "NotFoundError",
    "ProxyConflictError",
    "ProxyInfo",
    "ProxyNotFoundError",
    "Stream",
    "ToxicConflictError",
    "ToxicInfo",
    "ToxicNotFoundError",
    "ToxicType",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyRequestError",
    "ToxiproxyServer",
    "ToxiproxyUnavailableError",
    "toxiproxy_server",
]
