"""Listen ports outside the ephemeral range: a proxy disabled and enabled again, or a Postgres
restarted, must find its port free (no outgoing connection is ever given one of them)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from conftest import Target
from netkit import EchoServer, unique_name

from harness.env.postgres import free_port
from harness.net import ports


def _ephemeral_low() -> int:
    return int(ports.RANGE_FILE.read_text().split()[0])


def test_the_stable_range_ends_where_the_ephemeral_range_starts(tmp_path: Path) -> None:
    range_file = tmp_path / "ip_local_port_range"
    range_file.write_text("32768\t60999\n")
    assert ports.stable_range(range_file) == range(32768 - ports.WIDTH, 32768)
    range_file.write_text("2000 60999\n")
    assert ports.stable_range(range_file) == range(ports.LOWEST, 2000)
    assert ports.stable_range(tmp_path / "missing") == range(0)


def test_listen_ports_are_below_the_ephemeral_range_free_and_never_given_twice() -> None:
    low = _ephemeral_low()
    given = [free_port() for _ in range(50)]
    assert len(set(given)) == 50
    for port in given:
        assert low - ports.WIDTH <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free: raises if not


def test_a_proxy_listens_outside_the_ephemeral_range_and_can_be_enabled_again(
    toxiproxy: Target, echo_server: EchoServer
) -> None:
    info = toxiproxy.client.create_proxy(unique_name(), "127.0.0.1:0", echo_server.address)
    try:
        assert info.listen_port < _ephemeral_low()
        with toxiproxy.client.disabled(info.name):
            # Outgoing connections while it is down: none of them can be given its port.
            socks = [socket.create_connection(("127.0.0.1", echo_server.port)) for _ in range(20)]
            assert all(s.getsockname()[1] != info.listen_port for s in socks)
            for s in socks:
                s.close()
        assert toxiproxy.client.get_proxy(info.name).enabled
    finally:
        toxiproxy.client.delete_proxy(info.name)


def test_a_proxy_whose_chosen_port_is_taken_gets_another(
    toxiproxy: Target, echo_server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taker:
        taker.bind(("127.0.0.1", 0))
        taker.listen()
        taken = taker.getsockname()[1]
        chosen = iter([taken, ports.listen_port()])
        monkeypatch.setattr(ports, "listen_port", lambda host, check=True: next(chosen))
        info = toxiproxy.client.create_proxy(unique_name(), "127.0.0.1:0", echo_server.address)
        try:
            assert info.listen_port != taken
        finally:
            toxiproxy.client.delete_proxy(info.name)
