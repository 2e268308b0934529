"""Network faults through Toxiproxy: a client, a launcher, and an embedded compatible server.

Every link (``worker→postgres``, ``worker→provider``) passes through a Toxiproxy proxy; faults add
toxics to it or disable it. The harness speaks Toxiproxy 2.x's HTTP API only, so the same scenarios
run against either server:

**Real Toxiproxy** (the default wherever one can be had). Either point the harness at a running
server, e.g. ``docker run --rm --net=host ghcr.io/shopify/toxiproxy`` then
``export TOXIPROXY_URL=http://127.0.0.1:8474``, or give it a ``toxiproxy-server`` binary
(``DURABENCH_TOXIPROXY_SERVER=/path/to/toxiproxy-server``, or the binary on PATH) and the launcher
starts it on a free 127.0.0.1 port for each run. ``scripts/build-toxiproxy.sh TARBALL OUT_DIR``
builds one from a Toxiproxy source tarball (README, "Toxiproxy"). Servers older than 2.1.0 are
refused with their version and what to do.

**Embedded server** (the fallback where no real Toxiproxy can be had; force it with
``DURABENCH_TOXIPROXY_SERVER=embedded``):
``python -m harness.net serve [--host 127.0.0.1] [--port 8474] [--seed N]`` runs an asyncio
reimplementation of the same API and toxics (latency, bandwidth, slow_close, timeout, reset_peer,
slicer, limit_data) with Toxiproxy's semantics; it prints ``listening on http://127.0.0.1:<port>``
first. The contract tests (``tests/net``) run every check against it and, when a real server is
available, against Toxiproxy 2.12.0 too.

Differences from Toxiproxy 2.12.0, measured against the real server, and what the embedded
server does about each:

- every proxy object carries an extra ``"Logger": {}`` -- **not copied**: a Go struct field
  leaking into the JSON, not API; clients ignore unknown keys (ours does; the contract tests allow
  exactly this extra key);
- error bodies are JSON sent as ``text/plain`` -- **not copied** (``application/json``): the body
  is the same JSON, and the client reads bodies, never content types;
- ``/populate`` with a rejected body answers ``"proxies": null`` beside the error -- **copied**;
- a proxy ``listen`` with no host binds every interface -- **not copied**: the embedded server
  binds 127.0.0.1 (the harness binds servers to loopback only); give a host to choose;
- unknown routes answer 404 ``404 page not found`` (plain text), a known route with another
  method 405 with no body -- **copied**;
- a whole-number ``toxicity`` is printed as an integer (``1``, not ``1.0``) -- **copied** (the same
  JSON number; byte-for-byte like the real server);
- ``/version`` says ``2.12.0`` -- the embedded one says ``2.12.0+durabench-embedded``, so every
  run can tell which server it had (:class:`Identity`);
- an API call (create, update, delete) takes the same time on both: ~1.5 ms idle, ~5 ms on a
  loaded 2-core machine (``benchmarks/proxy_overhead.py`` measures them side by side: ``api_ms``
  vs ``real_api_ms``). The 70-90 ms once seen per call was the caller's, not the server's: every
  ``httpx.get`` (and new ``httpx.Client``) builds a TLS context, 20 ms idle and ~100 ms loaded,
  even for plain HTTP; the client and the launcher use ``requests`` for that reason;
- adding a toxic interrupts the one in front of it, and an interrupted ``latency`` toxic lets
  what it holds through at once (``LatencyToxic.Pipe``: "exit fast without applying latency")
  -- **not copied** (the embedded server appends a stage and leaves the others alone). A fault
  that must catch data held by a latency toxic adds the toxic behind it inert (toxicity 0) and
  switches it on with an update, which interrupts only that toxic: the same on both servers
  (``ack_loss``; contract test ``test_an_inert_toxic_switched_on_behind_a_latency_...``);
- later releases' HTTP-only toxics, ``-config``, ``-proxy-metrics`` and ``/metrics`` -- **not
  implemented** (400 invalid toxic type; durabench's faults do not use them).

Which server served a run: :attr:`ToxiproxyServer.identity` for a started one, or
:func:`identity_of` for any client; its ``label`` (``real 2.12.0`` / ``embedded``) goes into
every trial's results line.

Usage::

    with toxiproxy_server(run_id) as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy("worker_postgres", "127.0.0.1:0", postgres_address)
        with toxiproxy.toxic(link.name, "latency", latency=200, jitter=20):
            ...                     # the worker talks to link.listen
        with toxiproxy.disabled(link.name):
            ...                     # partition: connections dropped, new ones refused

``toxiproxy_server`` picks ``TOXIPROXY_URL``, else ``DURABENCH_TOXIPROXY_SERVER``, else
``toxiproxy-server`` on PATH, else the embedded server (force one with ``mode=``). Errors are
:mod:`harness.net.errors` exceptions.
"""

from __future__ import annotations

from ._identity import MIN_VERSION, Identity, identify, identity_of
from ._launcher import ENV_SERVER, ENV_URL, ToxiproxyServer, find_binary, toxiproxy_server
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
    "ENV_SERVER",
    "ENV_URL",
    "MIN_VERSION",
    "ConflictError",
    "Identity",
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
    "find_binary",
    "identify",
    "identity_of",
    "toxiproxy_server",
]
