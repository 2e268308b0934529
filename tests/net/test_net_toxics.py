"""Contract: each toxic's effect on real TCP through a proxy to an echo server on 127.0.0.1.

Timing tolerances follow Toxiproxy's own tests: expected delay, +- jitter, + 10 ms (a little more
where a close has to travel through both sockets).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import time

import pytest
from conftest import Target
from netkit import connect, recv_exactly, recv_until_closed

from harness.net import ProxyInfo

SLACK_S = 0.010


def round_trip_s(sock: socket.socket, payload: bytes = b"ping") -> float:
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - started


def median_round_trip_s(sock: socket.socket, count: int = 3) -> float:
    return statistics.median(round_trip_s(sock) for _ in range(count))


def test_no_toxic_echoes(proxy: ProxyInfo) -> None:
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_latency_delays_each_round_trip(toxiproxy: Target, proxy: ProxyInfo, stream: str) -> None:
    toxiproxy.client.add_toxic(proxy.name, "latency", stream=stream, latency=100, jitter=10)
    with connect(proxy) as sock:
        assert 0.100 - 0.010 <= median_round_trip_s(sock) <= 0.100 + 0.010 + SLACK_S


def test_toxics_change_live_connections(toxiproxy: Target, proxy: ProxyInfo) -> None:
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        toxiproxy.client.add_toxic(proxy.name, "latency", name="lag", latency=80)
        assert 0.080 <= median_round_trip_s(sock) <= 0.080 + SLACK_S
        toxiproxy.client.update_toxic(proxy.name, "lag", latency=150)
        assert 0.150 <= median_round_trip_s(sock) <= 0.150 + SLACK_S
        toxiproxy.client.remove_toxic(proxy.name, "lag")
        assert median_round_trip_s(sock) < 0.05


def test_toxicity_zero_has_no_effect(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "latency", toxicity=0.0, latency=300)
    toxiproxy.client.add_toxic(proxy.name, "timeout", stream="upstream", toxicity=0.0)
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05


def test_bandwidth_limits_the_rate(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "bandwidth", rate=100)  # 100 KB/s
    payload = b"x" * 50_000
    with connect(proxy) as sock:
        started = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        elapsed = time.perf_counter() - started
    assert 0.5 - 0.05 <= elapsed <= 0.5 + 0.1


def test_slow_close_delays_the_close(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "slow_close", delay=200)
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        started = time.perf_counter()
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_closed(sock) == b""
        elapsed = time.perf_counter() - started
    assert 0.200 <= elapsed <= 0.200 + 3 * SLACK_S


def test_timeout_drops_data_then_closes(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "timeout", timeout=200)
    with connect(proxy) as sock:
        started = time.perf_counter()
        sock.sendall(b"lost")
        assert recv_until_closed(sock) == b""
        elapsed = time.perf_counter() - started
    assert 0.200 - SLACK_S <= elapsed <= 0.200 + 3 * SLACK_S


def test_timeout_zero_holds_until_removed_then_closes(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "timeout", name="hold", stream="upstream", timeout=0)
    with connect(proxy, timeout_s=0.5) as sock:
        sock.sendall(b"held")
        with pytest.raises(TimeoutError):
            sock.recv(16)  # nothing gets through, and nothing closes
        sock.settimeout(5.0)
        toxiproxy.client.remove_toxic(proxy.name, "hold")
        assert recv_until_closed(sock) == b""


def test_reset_peer_resets_the_connection(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "reset_peer", timeout=100)
    with connect(proxy) as sock:
        started = time.perf_counter()
        sock.sendall(b"reset me")
        with pytest.raises(ConnectionResetError):
            recv_until_closed(sock)
        elapsed = time.perf_counter() - started
    assert 0.100 <= elapsed <= 0.100 + 3 * SLACK_S


def test_limit_data_closes_after_n_bytes(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "limit_data", bytes=10)
    with connect(proxy) as sock:
        sock.sendall(bytes(range(100)))
        assert recv_until_closed(sock) == bytes(range(10))


def test_slicer_delivers_everything_in_delayed_slices(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(
        proxy.name, "slicer", stream="upstream", average_size=10, size_variation=2, delay=20_000
    )
    payload = bytes(range(100))
    with connect(proxy) as sock:
        started = time.perf_counter()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.1  # ~10 slices, 20 ms apart


def test_disable_closes_live_connections_and_reenable_listens_again(
    toxiproxy: Target, proxy: ProxyInfo
) -> None:
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        with toxiproxy.client.disabled(proxy.name) as down:
            assert down.enabled is False
            with contextlib.suppress(ConnectionResetError):  # closed, by FIN or RST
                assert sock.recv(16) == b""
            with pytest.raises(ConnectionRefusedError):
                connect(proxy)
    assert toxiproxy.client.get_proxy(proxy.name).listen == proxy.listen
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
