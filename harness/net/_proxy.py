"""Proxies: a listener, its live connections (pairs of links), and its toxic chains.

Lifecycle of a :class:`Proxy`:
1. ``start()`` listens on ``listen`` (``host:port``; port 0 picks one, and ``listen`` becomes the
   bound address, so a later re-enable listens on the same address);
2. each accepted client gets an upstream connection (TCP_NODELAY on both), then two links:
   client -> upstream (``upstream`` stream) and upstream -> client (``downstream`` stream);
3. toxics added, updated or removed apply to live connections at once;
4. ``stop()`` closes the listener and every live connection.

An address with an empty host (``":8080"`` or ``""``) binds 127.0.0.1, never all interfaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable

from ._apierror import ApiError
from ._link import Direction, Link, ToxicEntry

_log = logging.getLogger(__name__)
_CONNECT_TIMEOUT_S = 10.0


def split_address(address: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"host:port"`` (IPv6 in brackets) -> ``(host, port)``."""
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, "0"
    host = host.strip("[]") or default_host
    try:
        number = int(port or "0")
    except ValueError:
        raise ApiError(400, f"bad address {address!r}: expected host:port") from None
    if not 0 <= number <= 65535:
        raise ApiError(400, f"bad address {address!r}: the port must be 0-65535")
    return host, number


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Side(asyncio.Protocol):
    """One socket of a connection; its reads feed ``link``, its writes come from the other link."""

    def __init__(self, on_made: Callable[[_Side], None] | None = None) -> None:
        self._on_made = on_made
        self.transport: asyncio.Transport | None = None
        self.link: Link | None = None
        self.conn: Connection | None = None
        self._pauses: set[str] = set()
        self._early: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        if self.link is not None:
            self.link.feed(data)
        else:
            # Some Python versions (Debian 12's 3.11.2) start reading a new socket despite a
            # pause_reading() in connection_made; bytes that come before the upstream exists
            # wait here instead of being dropped.
            self._early.append(data)

    def feed_early(self) -> None:
        """Hand the bytes that arrived before the link existed to the link, in order."""
        early, self._early = self._early, []
        if self.link is not None:
            for data in early:
                self.link.feed(data)

    def eof_received(self) -> bool:
        if self.link is not None:
            self.link.feed_eof()
        return True  # keep the socket: the connection decides when to close it

    def connection_lost(self, exc: Exception | None) -> None:
        if self.link is not None:
            self.link.feed_eof()

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn.other(self).set_paused("write", True)

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn.other(self).set_paused("write", False)

    def set_paused(self, reason: str, paused: bool) -> None:
        before = bool(self._pauses)
        if paused:
            self._pauses.add(reason)
        else:
            self._pauses.discard(reason)
        if self.transport is None or before == bool(self._pauses):
            return
        if self._pauses:
            self.transport.pause_reading()
        elif not self.transport.is_closing():
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)


class Connection:
    """A client socket and its upstream socket, joined by two links."""

    def __init__(self, proxy: Proxy, client: _Side, upstream: _Side) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.links: dict[Direction, Link] = {
            "upstream": Link(self, "upstream", upstream, self._pauser(client)),
            "downstream": Link(self, "downstream", client, self._pauser(upstream)),
        }
        client.conn = upstream.conn = self
        client.link = self.links["upstream"]
        upstream.link = self.links["downstream"]

    @staticmethod
    def _pauser(side: _Side) -> Callable[[bool], None]:
        return lambda paused: side.set_paused("queue", paused)

    def other(self, side: _Side) -> _Side:
        return self.upstream if side is self.client else self.client

    def start(self, chains: dict[Direction, list[ToxicEntry]]) -> None:
        for direction, link in self.links.items():
            for entry in chains[direction]:
                link.add_toxic(entry)
        self.client.feed_early()
        self.client.set_paused("connecting", False)

    def link_finished(self, link: Link) -> None:
        # One direction ended: close its destination, which ends the other direction too.
        dest = self.upstream if link.direction == "upstream" else self.client
        if dest.transport is not None:
            dest.transport.close()
        other = self.links["downstream" if link.direction == "upstream" else "upstream"]
        other.feed_eof()
        if other.finished:
            self._forget()

    def reset(self) -> None:
        """Close both sockets with SO_LINGER 0, so both peers see a TCP RST."""
        for side in (self.client, self.upstream):
            if side.transport is None:
                continue
            sock = side.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.abort()

    def abort(self) -> None:
        """Drop both sockets now, with whatever is unsent (proxy disabled or deleted)."""
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()
        self._forget()

    def _forget(self) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links.values():
            link.finished = True
            link.stop()
        self.proxy.connections.discard(self)


class Proxy:
    """A named listener forwarding to ``upstream``, with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str) -> None:
        self.name = name
        self.listen = listen or "127.0.0.1:0"
        self.upstream = upstream
        self.enabled = False
        self.connections: set[Connection] = set()
        self.chains: dict[Direction, list[ToxicEntry]] = {"upstream": [], "downstream": []}
        self._server: asyncio.Server | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        if self.enabled:
            return
        host, port = split_address(self.listen)
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                self._accepted, host, port, reuse_address=True, backlog=512
            )
        except OSError as exc:
            raise ApiError(500, f"listen tcp {self.listen}: {exc.strerror or exc}") from exc
        bound = self._server.sockets[0].getsockname()
        self.listen = join_address(str(bound[0]), int(bound[1]))
        self.enabled = True

    def stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self.connections):
            conn.abort()

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Toxiproxy's update: a new address restarts the proxy (dropping its connections)."""
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled and not self.enabled:
            await self.start()
        elif not enabled:
            self.stop()

    # -- connections ----------------------------------------------------------------------------
    def _accepted(self) -> _Side:
        return _Side(on_made=self._on_client)

    def _on_client(self, client: _Side) -> None:
        # Nothing is read from the client until its upstream connection exists.
        client.set_paused("connecting", True)
        asyncio.get_running_loop().create_task(self._connect_upstream(client))

    async def _connect_upstream(self, client: _Side) -> None:
        assert client.transport is not None
        host, port = split_address(self.upstream)
        upstream = _Side()
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(lambda: upstream, host, port),
                _CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            _log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, exc)
            client.transport.abort()
            return
        conn = Connection(self, client, upstream)
        if not self.enabled or client.transport.is_closing():
            conn.abort()
            return
        self.connections.add(conn)
        conn.start(self.chains)

    # -- toxics ---------------------------------------------------------------------------------
    def toxics(self) -> list[ToxicEntry]:
        return [*self.chains["upstream"], *self.chains["downstream"]]

    def find_toxic(self, name: str) -> ToxicEntry | None:
        return next((entry for entry in self.toxics() if entry.name == name), None)

    def add_toxic(self, entry: ToxicEntry) -> None:
        self.chains[entry.stream].append(entry)
        for conn in list(self.connections):
            conn.links[entry.stream].add_toxic(entry)

    def toxic_updated(self, entry: ToxicEntry) -> None:
        for conn in list(self.connections):
            conn.links[entry.stream].update_toxic(entry)

    def remove_toxic(self, entry: ToxicEntry) -> None:
        self.chains[entry.stream].remove(entry)
        for conn in list(self.connections):
            conn.links[entry.stream].remove_toxic(entry)

    def reset_toxics(self) -> None:
        for entry in self.toxics():
            self.remove_toxic(entry)
