"""Fixtures for the Toxiproxy contract tests: servers, an echo upstream, and throwaway proxies.

``toxiproxy`` is parametrized over the embedded server (always) and a real Toxiproxy: the one at
``TOXIPROXY_URL`` (it must reach 127.0.0.1 of this host, e.g. ``docker run --net=host``), else a
``toxiproxy-server`` binary (``DURABENCH_TOXIPROXY_SERVER`` or PATH) started for the session.
Without either, the real half skips -- and fails when ``DURABENCH_REQUIRE`` names ``toxiproxy``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from netkit import EchoServer, unique_name

from harness.net import (
    ProxyInfo,
    ToxiproxyClient,
    ToxiproxyError,
    find_binary,
    identify,
    toxiproxy_server,
)
from harness.require import required, skip_or_fail


@dataclass(frozen=True)
class Target:
    """A server under test and a client for it."""

    kind: str
    """``real`` or ``embedded``: what the server's ``GET /version`` says."""
    url: str
    client: ToxiproxyClient
    http: httpx.Client
    """For raw API calls (one client: creating one per request costs ~60 ms of TLS setup)."""


@pytest.fixture(scope="session")
def echo_server() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="session")
def embedded_url() -> Iterator[str]:
    with toxiproxy_server("tests-net", mode="embedded") as server:
        yield server.url


@pytest.fixture(scope="session")
def external_url() -> Iterator[str]:
    """The server to compare with: ``TOXIPROXY_URL``, else a real binary started for the session."""
    url = os.environ.get("TOXIPROXY_URL")
    if url:
        yield url
        return
    if find_binary() is None:
        skip_or_fail(
            "toxiproxy",
            "no real Toxiproxy to check the contract against: set TOXIPROXY_URL, or put "
            "toxiproxy-server on PATH / in DURABENCH_TOXIPROXY_SERVER (scripts/build-toxiproxy.sh)",
        )
    with toxiproxy_server("tests-net-real", mode="binary") as server:
        yield server.url


@pytest.fixture(params=["embedded", "external"])
def toxiproxy(request: pytest.FixtureRequest) -> Iterator[Target]:
    """``embedded``: the embedded server started here; ``external``: ``TOXIPROXY_URL`` or the
    real binary. ``Target.kind`` is what the server says it is (``real`` or ``embedded``)."""
    fixture = "external_url" if request.param == "external" else "embedded_url"
    url = request.getfixturevalue(fixture).rstrip("/")
    with ToxiproxyClient(url, timeout_s=5.0) as client, httpx.Client(timeout=5.0) as http:
        kind = identify(client.version()).kind
        if request.param == "external" and kind != "real" and "toxiproxy" in required():
            skip_or_fail("toxiproxy", f"the server at {url} is the embedded one, not Toxiproxy")
        yield Target(kind, url, client, http)


@pytest.fixture
def proxy(toxiproxy: Target, echo_server: EchoServer) -> Iterator[ProxyInfo]:
    """A fresh proxy to the echo server, deleted afterwards."""
    info = toxiproxy.client.create_proxy(unique_name(), "127.0.0.1:0", echo_server.address)
    try:
        yield info
    finally:
        with contextlib.suppress(ToxiproxyError):  # the test may have deleted it
            toxiproxy.client.delete_proxy(info.name)
