"""What the embedded Toxiproxy adds to a loopback round trip with no toxics.

Run: ``python benchmarks/proxy_overhead.py [--rounds 2000] [--size 64]``. It starts an echo server
(a thread) and the embedded server (a subprocess, through ``toxiproxy_server``), then ping-pongs
small messages directly and through a proxy, interleaving the two in batches so machine noise hits
both alike. The target is ``added_ms <= 0.3`` (median). The last line is machine-readable::

    direct_median_us=<n> proxied_median_us=<n> added_ms=<n> ratio=<n>
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.net import toxiproxy_server

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
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
    listener.close()
    d, p = statistics.median(direct_us), statistics.median(proxied_us)
    print(f"rounds={len(direct_us)} size={args.size}B server={server.mode}")
    print(f"direct  p50={d:.1f}us p95={statistics.quantiles(direct_us, n=20)[18]:.1f}us")
    print(f"proxied p50={p:.1f}us p95={statistics.quantiles(proxied_us, n=20)[18]:.1f}us")
    added_ms = (p - d) / 1000
    print(
        f"direct_median_us={d:.1f} proxied_median_us={p:.1f} "
        f"added_ms={added_ms:.3f} ratio={p / d:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
