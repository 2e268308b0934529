"""What the embedded Toxiproxy adds to a loopback round trip, and what its API calls cost.

Run: ``python benchmarks/proxy_overhead.py [--rounds 2000] [--size 64] [--api-rounds 30]``.

1. data path: an echo server (a thread) and the embedded server (a subprocess, through
   ``toxiproxy_server``); small messages ping-pong directly and through a proxy, interleaved in
   batches so machine noise hits both alike. Target: ``added_ms <= 0.3`` (median).
2. API: one create + update (add a toxic, change it) + delete cycle timed call by call through
   :class:`ToxiproxyClient`, median ms per call; the same, interleaved, on a real Toxiproxy when
   one is available (``TOXIPROXY_URL``, ``DURABENCH_TOXIPROXY_SERVER`` or ``toxiproxy-server``
   on PATH). Target: ``api_ms <= 2 * real_api_ms``.

The last line is machine-readable (``real_api_ms=none`` without a real server)::

    direct_median_us=<n> proxied_median_us=<n> added_ms=<n> ratio=<n> api_ms=<n> real_api_ms=<n>
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.net import ENV_URL, ToxiproxyClient, find_binary, toxiproxy_server

_BATCH = 100


def _echo_server() -> tuple[socket.socket, int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, int(listener.getsockname()[1])


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _round_trips_us(sock: socket.socket, payload: bytes, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter_ns()
        sock.sendall(payload)
        got = 0
        while got < len(payload):
            got += len(sock.recv(65536))
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def _api_cycle_ms(client: ToxiproxyClient, upstream: str, index: int) -> list[float]:
    """create, add toxic, update toxic, delete: milliseconds per call."""
    name = f"bench_api_{index}"
    calls = (
        lambda: client.create_proxy(name, "127.0.0.1:0", upstream),
        lambda: client.add_toxic(name, "latency", latency=5),
        lambda: client.update_toxic(name, "latency_downstream", latency=10),
        lambda: client.delete_proxy(name),
    )
    samples = []
    for call in calls:
        started = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def _api_ms(upstream: str, rounds: int) -> tuple[float, float | None, str]:
    """Median ms per API call on the embedded server and on a real one (None: not available)."""
    real_mode = "external" if os.environ.get(ENV_URL) else "binary" if find_binary() else None
    with contextlib.ExitStack() as stack:
        embedded = stack.enter_context(toxiproxy_server("bench-api", mode="embedded"))
        clients = {"embedded": stack.enter_context(embedded.client())}
        real_label = "none"
        if real_mode is not None:
            real = stack.enter_context(toxiproxy_server("bench-api-real", mode=real_mode))
            clients["real"] = stack.enter_context(real.client())
            real_label = str(real.identity)
        samples: dict[str, list[float]] = {kind: [] for kind in clients}
        for client in clients.values():  # warm up: connections, first-call setup
            _api_cycle_ms(client, upstream, -1)
        for index in range(rounds):
            for kind, client in clients.items():
                samples[kind] += _api_cycle_ms(client, upstream, index)
    real_ms = statistics.median(samples["real"]) if "real" in samples else None
    return statistics.median(samples["embedded"]), real_ms, real_label


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--api-rounds", type=int, default=30)
    args = parser.parse_args()
    payload = b"p" * args.size
    listener, echo_port = _echo_server()
    with toxiproxy_server("bench", mode="embedded") as server, server.client() as client:
        proxy = client.create_proxy("bench", "127.0.0.1:0", f"127.0.0.1:{echo_port}")
        direct, proxied = _connect(echo_port), _connect(proxy.listen_port)
        _round_trips_us(direct, payload, 200)  # warm up both paths
        _round_trips_us(proxied, payload, 200)
        direct_us: list[float] = []
        proxied_us: list[float] = []
        for _ in range(max(args.rounds // _BATCH, 1)):
            direct_us += _round_trips_us(direct, payload, _BATCH)
            proxied_us += _round_trips_us(proxied, payload, _BATCH)
        direct.close()
        proxied.close()
    api_ms, real_api_ms, real_label = _api_ms(f"127.0.0.1:{echo_port}", args.api_rounds)
    listener.close()
    d, p = statistics.median(direct_us), statistics.median(proxied_us)
    print(f"rounds={len(direct_us)} size={args.size}B server={server.mode}")
    print(f"direct  p50={d:.1f}us p95={statistics.quantiles(direct_us, n=20)[18]:.1f}us")
    print(f"proxied p50={p:.1f}us p95={statistics.quantiles(proxied_us, n=20)[18]:.1f}us")
    real_api = "none" if real_api_ms is None else f"{real_api_ms:.2f}"
    print(f"api: embedded {api_ms:.2f} ms/call, real ({real_label}) {real_api} ms/call")
    added_ms = (p - d) / 1000
    print(
        f"direct_median_us={d:.1f} proxied_median_us={p:.1f} "
        f"added_ms={added_ms:.3f} ratio={p / d:.2f} api_ms={api_ms:.2f} real_api_ms={real_api}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
