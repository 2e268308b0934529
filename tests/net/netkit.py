"""Socket helpers for the Toxiproxy contract tests: an echo upstream and blocking clients."""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid

from harness.net import ProxyInfo

IO_TIMEOUT_S = 5.0


class EchoServer:
    """A threaded TCP echo server on 127.0.0.1; it counts the connections it accepted."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = int(self._sock.getsockname()[1])
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self._stopping = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(timeout=IO_TIMEOUT_S)

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        conn.settimeout(60)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            try:
                while data := conn.recv(65536):
                    conn.sendall(data)
            except OSError:
                return


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def connect(info: ProxyInfo, timeout_s: float = IO_TIMEOUT_S) -> socket.socket:
    sock = socket.create_connection((info.listen_host, info.listen_port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        part = sock.recv(size - len(data))
        if not part:
            break
        data += part
    return bytes(data)


def recv_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while part := sock.recv(65536):
        data += part
    return bytes(data)
