"""``python -m harness.net serve``: loopback unless asked, one-line errors for bad ports, and a
proxy with an impossible listen port is a JSON 400, not a plain-text 500."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.net", "serve", *args],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_a_non_loopback_host_is_refused_without_allow_remote() -> None:
    done = _serve("--host", "0.0.0.0", "--port", "0")
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr and "0.0.0.0" in done.stderr
    assert "listening on" not in done.stdout


def test_allow_remote_binds_and_warns() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.net", "serve", "--host", "0.0.0.0", "--port", "0",
         "--allow-remote"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith("listening on")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "warning: the Toxiproxy API listens on 0.0.0.0" in stderr


def test_a_bad_port_is_one_line() -> None:
    done = _serve("--port", "99999")
    assert done.returncode == 2
    assert "expected a port number 0-65535" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _serve("--port", str(taken.getsockname()[1]))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "cannot listen on 127.0.0.1" in done.stderr


def test_a_proxy_listen_port_out_of_range_is_a_400(embedded_url: str) -> None:
    response = httpx.post(embedded_url + "/proxies", timeout=10, json={
        "name": "bad_port", "listen": "127.0.0.1:99999", "upstream": "127.0.0.1:1"})
    assert response.status_code == 400
    assert "the port must be 0-65535" in response.json()["error"]
