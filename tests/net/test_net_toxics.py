"""Contract: each toxic's effect on real TCP through a proxy to an echo server on 127.0.0.1.

Lower bounds are strict (the toxic's delay, minus its jitter): a toxic that did not act fails.
Upper bounds allow scheduling noise of half the expected delay (at least 30 ms): that still tells a
delay applied once from one applied twice, and passes on a loaded machine.
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


def assert_delay(measured: float, expected: float, *, early: float = 0.0) -> None:
    """``measured`` is the toxic's ``expected`` delay: not less (but ``early``), not doubled."""
    late = max(3 * SLACK_S, expected / 2)
    assert expected - early <= measured <= expected + late, (
        f"expected {expected:.3f}s (-{early:.3f}s/+{late:.3f}s), measured {measured:.3f}s"
    )


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
        assert_delay(median_round_trip_s(sock), 0.100, early=0.010)


def test_toxics_change_live_connections(toxiproxy: Target, proxy: ProxyInfo) -> None:
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        toxiproxy.client.add_toxic(proxy.name, "latency", name="lag", latency=80)
        assert_delay(median_round_trip_s(sock), 0.080)
        toxiproxy.client.update_toxic(proxy.name, "lag", latency=150)
        assert_delay(median_round_trip_s(sock), 0.150)
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
    assert_delay(elapsed, 0.5, early=0.05)


def test_slow_close_delays_the_close(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "slow_close", delay=200)
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        started = time.perf_counter()
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_closed(sock) == b""
        elapsed = time.perf_counter() - started
    assert_delay(elapsed, 0.200)


def test_timeout_drops_data_then_closes(toxiproxy: Target, proxy: ProxyInfo) -> None:
    toxiproxy.client.add_toxic(proxy.name, "timeout", timeout=200)
    with connect(proxy) as sock:
        started = time.perf_counter()
        sock.sendall(b"lost")
        assert recv_until_closed(sock) == b""
        elapsed = time.perf_counter() - started
    assert_delay(elapsed, 0.200, early=SLACK_S)


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
    assert_delay(elapsed, 0.100)


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


def test_a_toxic_added_while_disabled_acts_on_every_connection_after_it(
    toxiproxy: Target, proxy: ProxyInfo
) -> None:
    """The ``degrade`` fault's ``cut``: a toxic added while the proxy is down stays through the
    re-enable, so no connection reaches the upstream without it."""
    with connect(proxy) as sock:
        assert median_round_trip_s(sock) < 0.05
        with toxiproxy.client.disabled(proxy.name):
            toxiproxy.client.add_toxic(proxy.name, "latency", name="lag", latency=100)
        with contextlib.suppress(ConnectionResetError):  # the old connection is gone
            assert sock.recv(16) == b""
    with connect(proxy) as sock:
        assert_delay(median_round_trip_s(sock), 0.100)


@pytest.mark.parametrize("second", ["reset_peer", "timeout"])
def test_an_inert_toxic_switched_on_behind_a_latency_catches_what_it_holds(
    toxiproxy: Target, proxy: ProxyInfo, second: str
) -> None:
    """The ack_loss fault's move: the answer held in a latency toxic must not escape when the
    toxic behind it acts. Switching on an inert toxic works on both servers; *adding* one would
    interrupt the latency toxic, and real Toxiproxy then lets what it holds through at once."""
    client = toxiproxy.client
    client.add_toxic(proxy.name, "latency", name="lag", latency=3000)
    client.add_toxic(proxy.name, second, name="cut", toxicity=0.0, timeout=0)
    with connect(proxy, timeout_s=5.0) as sock:
        sock.sendall(b"answer")
        time.sleep(0.5)  # the echo is held in the latency toxic (loopback: well under 0.5 s)
        client.update_toxic(proxy.name, "cut", toxicity=1.0)
        if second == "reset_peer":
            with pytest.raises(ConnectionResetError):
                recv_until_closed(sock)
        else:
            sock.settimeout(4.0)  # past the latency: the answer would be here by now
            with pytest.raises(TimeoutError):
                sock.recv(16)
