"""The client wrapper (errors, instance-bound address, timeouts) and the server launcher."""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import Target
from netkit import EchoServer, connect, unique_name
from toxiproxy.api import APIConsumer

from harness.net import (
    MIN_VERSION,
    Identity,
    ProxyConflictError,
    ProxyInfo,
    ProxyNotFoundError,
    ToxicConflictError,
    ToxicNotFoundError,
    ToxiproxyClient,
    ToxiproxyRequestError,
    ToxiproxyServer,
    ToxiproxyUnavailableError,
    find_binary,
    identify,
    identity_of,
    toxiproxy_server,
)
from harness.net._identity import parse_version
from harness.require import skip_or_fail


def test_errors_are_translated(toxiproxy: Target, proxy: ProxyInfo) -> None:
    client = toxiproxy.client
    with pytest.raises(ProxyNotFoundError, match="proxy not found"):
        client.get_proxy(unique_name("missing"))
    with pytest.raises(ProxyConflictError, match="already exists"):
        client.create_proxy(proxy.name, "127.0.0.1:0", proxy.upstream)
    client.add_toxic(proxy.name, "latency", latency=1)
    with pytest.raises(ToxicConflictError, match="toxic already exists"):
        client.add_toxic(proxy.name, "latency", latency=1)
    with pytest.raises(ToxicNotFoundError, match="toxic not found"):
        client.remove_toxic(proxy.name, "missing")
    with pytest.raises(ToxicNotFoundError):
        client.update_toxic(proxy.name, "missing", latency=5)
    with pytest.raises(ToxiproxyRequestError, match="invalid toxic type") as info:
        client.add_toxic(proxy.name, "no_such_toxic")
    assert info.value.status == 400


def test_proxy_and_toxic_round_trip(toxiproxy: Target, proxy: ProxyInfo) -> None:
    client = toxiproxy.client
    assert client.proxies()[proxy.name] == proxy
    assert client.version().startswith("2.")
    added = client.add_toxic(proxy.name, "latency", stream="upstream", latency=10, jitter=2)
    assert (added.name, added.stream, added.toxicity) == ("latency_upstream", "upstream", 1.0)
    updated = client.update_toxic(proxy.name, added.name, toxicity=0.5, latency=20)
    assert updated.attributes == {"latency": 20, "jitter": 2} and updated.toxicity == 0.5
    assert client.toxics(proxy.name) == [updated]
    assert client.get_toxic(proxy.name, added.name) == updated
    with client.toxic(proxy.name, "timeout", timeout=0) as held:
        assert held in client.get_proxy(proxy.name).toxics
    assert held not in client.get_proxy(proxy.name).toxics


def test_populate_and_reset(toxiproxy: Target, echo_server: EchoServer) -> None:
    client = toxiproxy.client
    names = [unique_name("pop"), unique_name("pop")]
    specs = [{"name": n, "listen": "127.0.0.1:0", "upstream": echo_server.address} for n in names]
    try:
        created = client.populate(specs)
        assert [p.name for p in created] == names and all(p.enabled for p in created)
        client.add_toxic(names[0], "latency", latency=5)
        client.set_enabled(names[1], False)
        client.reset()
        after = client.proxies()
        assert all(after[n].enabled and after[n].toxics == () for n in names)
        with connect(after[names[1]]) as sock:
            sock.sendall(b"up")
            assert sock.recv(2) == b"up"
    finally:
        for name in names:
            client.delete_proxy(name)


def test_clients_keep_their_own_address(toxiproxy: Target) -> None:
    before = (APIConsumer.host, APIConsumer.port)
    with ToxiproxyClient(f"http://127.0.0.1:{_closed_port()}", timeout_s=1.0) as dead:
        with pytest.raises(ToxiproxyUnavailableError, match="is the server running"):
            dead.proxies()
        assert isinstance(toxiproxy.client.proxies(), dict)
    assert (APIConsumer.host, APIConsumer.port) == before


def test_requests_time_out(toxiproxy: Target) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with ToxiproxyClient(url, timeout_s=0.3) as client:
            started = time.monotonic()
            with pytest.raises(ToxiproxyUnavailableError, match=r"within 0\.3s"):
                client.version()
            with pytest.raises(ToxiproxyUnavailableError):
                client.reset()
            assert time.monotonic() - started < 3.0


def test_launcher_uses_toxiproxy_url(embedded_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOXIPROXY_URL", embedded_url)
    with toxiproxy_server("t") as server, server.client() as client:
        assert server.mode == "external" and server.url == embedded_url
        assert client.version().startswith("2.")
        assert server.identity is not None and server.identity.label == "embedded"


def test_launcher_explains_an_unreachable_toxiproxy_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("TOXIPROXY_URL", url)
    server = toxiproxy_server("t", start_timeout_s=1.0)
    with pytest.raises(ToxiproxyUnavailableError) as info:
        server.__enter__()
    message = str(info.value)
    assert "\n" not in message, message  # one line
    assert message.startswith(f"TOXIPROXY_URL={url} does not answer"), message
    assert "unset TOXIPROXY_URL" in message


def _fake_binary(tmp_path: Path, body: str) -> Path:
    """An executable named toxiproxy-server that runs ``body`` (Python) with the server's argv."""
    path = tmp_path / "toxiproxy-server"
    path.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    path.chmod(0o755)
    return path


def _without_real_toxiproxy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("TOXIPROXY_URL", "DURABENCH_TOXIPROXY_SERVER", "DURABENCH_REQUIRE"):
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_a_binary_that_does_not_start_shows_its_log_and_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_real_toxiproxy(monkeypatch, tmp_path)
    marker = f"flag provided but not defined: -host {uuid.uuid4().hex}"
    _fake_binary(tmp_path, f"print({marker!r}, flush=True); sys.exit(2)")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    server = toxiproxy_server("t", start_timeout_s=10.0)
    assert server.mode == "binary"
    with pytest.raises(ToxiproxyUnavailableError) as info:
        server.__enter__()
    message = str(info.value)
    assert "exited with code 2" in message and marker in message, message
    assert "DURABENCH_TOXIPROXY_SERVER=embedded" in message  # what to do
    assert server._process is None


def test_a_binary_that_cannot_be_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _without_real_toxiproxy(monkeypatch, tmp_path)
    missing = tmp_path / "no-such-toxiproxy-server"
    monkeypatch.setenv("DURABENCH_TOXIPROXY_SERVER", str(missing))
    with pytest.raises(ToxiproxyUnavailableError, match="cannot be run") as info:
        toxiproxy_server("t").__enter__()
    assert str(missing) in str(info.value)


def test_a_too_old_binary_is_refused_with_its_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_real_toxiproxy(monkeypatch, tmp_path)
    serve_old = (
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'2.0.0')\n"
        "print('Starting old toxiproxy', flush=True)\n"
        "HTTPServer(('127.0.0.1', int(sys.argv[sys.argv.index('-port') + 1])), H).serve_forever()"
    )
    binary = _fake_binary(tmp_path, serve_old)
    monkeypatch.setenv("DURABENCH_TOXIPROXY_SERVER", str(binary))
    server = toxiproxy_server("t", start_timeout_s=10.0)
    with pytest.raises(ToxiproxyUnavailableError) as info:
        server.__enter__()
    message = str(info.value)
    assert "version '2.0.0'" in message and ">= 2.1.0" in message, message
    assert "Starting old toxiproxy" in message  # its log
    assert "scripts/build-toxiproxy.sh" in message
    assert server._process is None  # stopped, not leaked


def test_required_toxiproxy_refuses_the_embedded_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _without_real_toxiproxy(monkeypatch, tmp_path)
    monkeypatch.setenv("DURABENCH_REQUIRE", "toxiproxy")
    with pytest.raises(ToxiproxyUnavailableError, match="no real Toxiproxy here"):
        toxiproxy_server("t")
    assert toxiproxy_server("t", mode="embedded").mode == "embedded"  # explicit still works


def test_embedded_can_be_forced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _without_real_toxiproxy(monkeypatch, tmp_path)
    _fake_binary(tmp_path, "sys.exit(1)")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert toxiproxy_server("t").mode == "binary"
    monkeypatch.setenv("DURABENCH_TOXIPROXY_SERVER", "embedded")
    with toxiproxy_server("t") as server:
        assert server.mode == "embedded"
        assert server.identity == Identity("embedded", "2.12.0+durabench-embedded")
        assert server.identity.label == "embedded"


def test_the_real_binary_identifies_itself() -> None:
    binary = find_binary()
    if binary is None or os.environ.get("DURABENCH_TOXIPROXY_SERVER") == "embedded":
        skip_or_fail("toxiproxy", "no toxiproxy-server (DURABENCH_TOXIPROXY_SERVER or PATH)")
    with toxiproxy_server("t", mode="binary") as server, server.client() as client:
        assert server.identity is not None and server.identity.kind == "real"
        assert server.identity == identity_of(client)
        assert server.identity.label == f"real {server.identity.version}"
        assert parse_version(server.identity.version) >= MIN_VERSION  # type: ignore[operator]


@pytest.mark.parametrize(
    ("version", "label", "parsed"),
    [
        ("2.12.0", "real 2.12.0", (2, 12, 0)),
        ("v2.1.4", "real 2.1.4", (2, 1, 4)),
        ("2.12.0+durabench-embedded", "embedded", (2, 12, 0)),
        ("git", "real git", None),
    ],
)
def test_identity_from_version(version: str, label: str, parsed: tuple[int, ...] | None) -> None:
    assert identify(version).label == label
    assert parse_version(version) == parsed


def test_launcher_starts_and_stops_the_embedded_server() -> None:
    with toxiproxy_server("t", mode="embedded") as server:
        process = server._process
        assert process is not None and process.poll() is None
        with server.client() as client:
            assert client.proxies() == {} or isinstance(client.proxies(), dict)
    assert process.poll() is not None  # stopped, not leaked


def test_launcher_timeout_shows_the_log_and_kills_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    marker = f"booting fake server {uuid.uuid4().hex}"
    script = f"import time; print({marker!r}, flush=True); time.sleep(60)"
    monkeypatch.setattr(
        ToxiproxyServer, "_embedded_command", staticmethod(lambda: [sys.executable, "-c", script])
    )
    server = toxiproxy_server("t", mode="embedded", start_timeout_s=1.0)
    with pytest.raises(ToxiproxyUnavailableError, match=marker):
        server.__enter__()
    assert server._process is None
    assert not _processes_with(marker)
    assert server.log_path is not None
    server.log_path.unlink(missing_ok=True)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and str(os.getpid()) != entry:
            found.append(int(entry))
    return found
