"""Fixtures for the Toxiproxy contract tests: servers, an echo upstream, and throwaway proxies.

``toxiproxy`` is parametrized over the embedded server (always) and a real Toxiproxy (only when
``TOXIPROXY_URL`` is set; it must reach 127.0.0.1 of this host, e.g. ``docker run --net=host``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from netkit import EchoServer, unique_name

from harness.net import ProxyInfo, ToxiproxyClient, ToxiproxyError, toxiproxy_server


@dataclass(frozen=True)
class Target:
    """A server under test and a client for it."""

    kind: str
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


@pytest.fixture(params=["embedded", "real"])
def toxiproxy(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == "real":
        url = os.environ.get("TOXIPROXY_URL")
        if not url:
            pytest.skip("TOXIPROXY_URL is not set: no real Toxiproxy to check the contract against")
    else:
        url = request.getfixturevalue("embedded_url")
    url = url.rstrip("/")
    with ToxiproxyClient(url, timeout_s=5.0) as client, httpx.Client(timeout=5.0) as http:
        yield Target(request.param, url, client, http)


@pytest.fixture
def proxy(toxiproxy: Target, echo_server: EchoServer) -> Iterator[ProxyInfo]:
    """A fresh proxy to the echo server, deleted afterwards."""
    info = toxiproxy.client.create_proxy(unique_name(), "127.0.0.1:0", echo_server.address)
    try:
        yield info
    finally:
        with contextlib.suppress(ToxiproxyError):  # the test may have deleted it
            toxiproxy.client.delete_proxy(info.name)
