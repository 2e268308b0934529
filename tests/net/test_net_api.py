"""Contract: Toxiproxy 2.x's HTTP API, status codes and JSON shapes, endpoint by endpoint."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import Target
from netkit import EchoServer, unique_name

from harness.net import ToxiproxyClient

PROXY_KEYS = {"name", "listen", "upstream", "enabled", "toxics"}
TOXIC_KEYS = {"name", "type", "stream", "toxicity", "attributes"}
REAL_ONLY_KEYS = {"Logger"}  # Toxiproxy's Go struct leaks it; the embedded server does not copy it


def assert_proxy_keys(target: Target, proxy: dict[str, Any]) -> None:
    extra = set(proxy) - PROXY_KEYS
    assert set(proxy) >= PROXY_KEYS, proxy
    assert extra <= (REAL_ONLY_KEYS if target.kind == "real" else set()), proxy


def call(target: Target, method: str, path: str, body: Any = None) -> httpx.Response:
    return target.http.request(method, target.url + path, json=body)


def assert_error(response: httpx.Response, status: int, message_start: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()  # JSON, whatever the content type (the real server says text/plain)
    assert body["status"] == status
    assert body["error"].startswith(message_start), body


@pytest.fixture
def created(toxiproxy: Target, echo_server: EchoServer) -> Any:
    name = unique_name("api")
    body = {"name": name, "listen": "127.0.0.1:0", "upstream": echo_server.address}
    response = call(toxiproxy, "POST", "/proxies", body)
    assert response.status_code == 201, response.text
    yield response.json()
    call(toxiproxy, "DELETE", f"/proxies/{name}")


def test_version_answers_200(toxiproxy: Target) -> None:
    response = call(toxiproxy, "GET", "/version")
    assert response.status_code == 200
    if response.headers["content-type"].startswith("application/json"):
        assert response.json()["version"].startswith("2.")
    else:  # Toxiproxy before 2.1 answers plain text
        assert response.text.startswith("2.")


def test_create_proxy_is_201_with_the_proxy(toxiproxy: Target, created: dict[str, Any]) -> None:
    assert_proxy_keys(toxiproxy, created)
    assert created["enabled"] is True
    assert created["toxics"] == []
    host, _, port = created["listen"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0


def test_create_existing_proxy_is_409(toxiproxy: Target, created: dict[str, Any]) -> None:
    body = {k: created[k] for k in ("name", "upstream")} | {"listen": "127.0.0.1:0"}
    assert_error(call(toxiproxy, "POST", "/proxies", body), 409, "proxy already exists")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x", "listen": "127.0.0.1:0"}, "missing required field: upstream"),
        ("not json", "bad request body"),
    ],
)
def test_create_bad_proxy_is_400(toxiproxy: Target, body: Any, message: str) -> None:
    if isinstance(body, str):
        response = toxiproxy.http.post(toxiproxy.url + "/proxies", content=body)
    else:
        response = call(toxiproxy, "POST", "/proxies", body)
    assert_error(response, 400, message)


def test_proxy_index_maps_names_to_proxies(toxiproxy: Target, created: dict[str, Any]) -> None:
    response = call(toxiproxy, "GET", "/proxies")
    assert response.status_code == 200
    assert response.json()[created["name"]] == created


def test_show_proxy(toxiproxy: Target, created: dict[str, Any]) -> None:
    response = call(toxiproxy, "GET", f"/proxies/{created['name']}")
    assert response.status_code == 200 and response.json() == created


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/proxies/{missing}"),
        ("POST", "/proxies/{missing}"),
        ("DELETE", "/proxies/{missing}"),
        ("GET", "/proxies/{missing}/toxics"),
        ("POST", "/proxies/{missing}/toxics"),
        ("GET", "/proxies/{missing}/toxics/latency_downstream"),
    ],
)
def test_unknown_proxy_is_404(toxiproxy: Target, method: str, path: str) -> None:
    body = {"enabled": True} if method == "POST" and path.endswith("}") else None
    if path.endswith("/toxics") and method == "POST":
        body = {"type": "latency", "attributes": {"latency": 1}}
    response = call(toxiproxy, method, path.format(missing=unique_name("missing")), body)
    assert_error(response, 404, "proxy not found")


def test_update_proxy_disables_and_reenables_on_same_address(
    toxiproxy: Target, created: dict[str, Any]
) -> None:
    path = f"/proxies/{created['name']}"
    disabled = call(toxiproxy, "POST", path, {"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    enabled = call(toxiproxy, "PATCH", path, {"enabled": True})
    assert enabled.status_code == 200
    assert enabled.json() == created


def test_update_proxy_with_bad_body_is_400(toxiproxy: Target, created: dict[str, Any]) -> None:
    response = toxiproxy.http.post(f"{toxiproxy.url}/proxies/{created['name']}", content="{")
    assert_error(response, 400, "bad request body")


def test_delete_proxy_is_204_then_404(toxiproxy: Target, created: dict[str, Any]) -> None:
    path = f"/proxies/{created['name']}"
    first = call(toxiproxy, "DELETE", path)
    assert first.status_code == 204 and first.content == b""
    assert_error(call(toxiproxy, "DELETE", path), 404, "proxy not found")


def test_create_toxic_defaults(toxiproxy: Target, created: dict[str, Any]) -> None:
    body = {"type": "latency", "attributes": {"latency": 50}}
    response = call(toxiproxy, "POST", f"/proxies/{created['name']}/toxics", body)
    assert response.status_code == 200, response.text
    toxic = response.json()
    assert set(toxic) == TOXIC_KEYS
    assert toxic["name"] == "latency_downstream"
    assert toxic["stream"] == "downstream"
    assert toxic["toxicity"] == 1.0
    assert toxic["attributes"] == {"latency": 50, "jitter": 0}


def test_toxic_errors(toxiproxy: Target, created: dict[str, Any]) -> None:
    path = f"/proxies/{created['name']}/toxics"
    body = {"type": "latency", "stream": "upstream", "attributes": {"latency": 5}}
    assert call(toxiproxy, "POST", path, body).status_code == 200
    assert_error(call(toxiproxy, "POST", path, body), 409, "toxic already exists")
    assert_error(call(toxiproxy, "POST", path, {"type": "nope"}), 400, "invalid toxic type")
    bad_stream = {"type": "latency", "stream": "sideways"}
    assert_error(call(toxiproxy, "POST", path, bad_stream), 400, "stream was invalid")
    bad_attr = {"type": "latency", "name": "x", "attributes": {"latency": "slow"}}
    assert_error(call(toxiproxy, "POST", path, bad_attr), 400, "bad request body")
    assert_error(call(toxiproxy, "GET", f"{path}/missing"), 404, "toxic not found")
    assert_error(call(toxiproxy, "DELETE", f"{path}/missing"), 404, "toxic not found")
    assert_error(call(toxiproxy, "POST", f"{path}/missing", {}), 404, "toxic not found")


def test_toxic_list_show_update_delete(toxiproxy: Target, created: dict[str, Any]) -> None:
    path = f"/proxies/{created['name']}/toxics"
    body = {"name": "lag", "type": "latency", "attributes": {"latency": 50, "jitter": 5}}
    toxic = call(toxiproxy, "POST", path, body).json()
    assert call(toxiproxy, "GET", path).json() == [toxic]
    assert call(toxiproxy, "GET", f"{path}/lag").json() == toxic
    assert call(toxiproxy, "GET", f"/proxies/{created['name']}").json()["toxics"] == [toxic]

    updated = call(toxiproxy, "PATCH", f"{path}/lag", {"attributes": {"latency": 80}})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"latency": 80, "jitter": 5}  # merged
    assert updated.json()["toxicity"] == 1.0  # unchanged when not given
    posted = call(toxiproxy, "POST", f"{path}/lag", {"toxicity": 0.5})
    assert posted.json()["toxicity"] == 0.5
    assert posted.json()["attributes"] == {"latency": 80, "jitter": 5}

    deleted = call(toxiproxy, "DELETE", f"{path}/lag")
    assert deleted.status_code == 204 and deleted.content == b""
    assert call(toxiproxy, "GET", path).json() == []


def test_reset_enables_proxies_and_removes_toxics(
    toxiproxy: Target, created: dict[str, Any]
) -> None:
    name = created["name"]
    call(toxiproxy, "POST", f"/proxies/{name}/toxics", {"type": "timeout"})
    call(toxiproxy, "POST", f"/proxies/{name}", {"enabled": False})
    response = call(toxiproxy, "POST", "/reset")
    assert response.status_code == 204 and response.content == b""
    after = call(toxiproxy, "GET", f"/proxies/{name}").json()
    assert after["enabled"] is True and after["toxics"] == []


def test_populate_creates_then_keeps_identical_proxies(
    toxiproxy: Target, echo_server: EchoServer
) -> None:
    listens = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    specs = [
        {"name": unique_name("pop"), "listen": listen, "upstream": echo_server.address}
        for listen in listens
    ]
    try:
        first = call(toxiproxy, "POST", "/populate", specs)
        assert first.status_code == 201, first.text
        proxies = first.json()["proxies"]
        assert [p["name"] for p in proxies] == [s["name"] for s in specs]
        for p in proxies:
            assert_proxy_keys(toxiproxy, p)
            assert p["enabled"] is True
        again = call(toxiproxy, "POST", "/populate", specs)
        assert again.status_code == 201 and again.json()["proxies"] == proxies
    finally:
        for spec in specs:
            call(toxiproxy, "DELETE", f"/proxies/{spec['name']}")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"name": "pop_x"}], "missing required field: upstream at proxy 1"),
        ({"name": "pop_x"}, "bad request body"),
        ("[", "bad request body"),
    ],
)
def test_populate_rejects_a_bad_body_with_null_proxies(
    toxiproxy: Target, body: Any, message: str
) -> None:
    if isinstance(body, str):
        response = toxiproxy.http.post(toxiproxy.url + "/populate", content=body)
    else:
        response = call(toxiproxy, "POST", "/populate", body)
    assert_error(response, 400, message)
    assert response.json()["proxies"] is None
    assert "pop_x" not in call(toxiproxy, "GET", "/proxies").json()


def test_populate_failing_part_way_lists_what_it_made(
    toxiproxy: Target, echo_server: EchoServer
) -> None:
    made, taken = unique_name("pop"), unique_name("pop")
    specs = [
        {"name": made, "listen": "127.0.0.1:0", "upstream": echo_server.address},
        {"name": taken, "listen": echo_server.address, "upstream": echo_server.address},
    ]
    try:
        response = call(toxiproxy, "POST", "/populate", specs)
        assert_error(response, 500, f"listen tcp {echo_server.address}")
        assert [p["name"] for p in response.json()["proxies"]] == [made]
    finally:
        call(toxiproxy, "DELETE", f"/proxies/{made}")


def test_whole_toxicity_is_an_integer_on_the_wire(
    toxiproxy: Target, created: dict[str, Any]
) -> None:
    path = f"/proxies/{created['name']}/toxics"
    whole = call(toxiproxy, "POST", path, {"type": "latency", "name": "one", "toxicity": 1.0})
    half = call(toxiproxy, "POST", path, {"type": "latency", "name": "half", "toxicity": 0.5})
    assert re.search(r'"toxicity":\s*1[,}]', whole.text), whole.text
    assert re.search(r'"toxicity":\s*0\.5[,}]', half.text), half.text


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/no/such/route", 404, b"404 page not found\n"),
        ("PUT", "/proxies", 405, b""),
        ("GET", "/populate", 405, b""),
        ("DELETE", "/version", 405, b""),
    ],
)
def test_unknown_routes_and_methods(
    toxiproxy: Target, method: str, path: str, status: int, body: bytes
) -> None:
    response = call(toxiproxy, method, path)
    assert (response.status_code, response.content) == (status, body)


def test_browsers_are_refused(toxiproxy: Target) -> None:
    response = toxiproxy.http.get(toxiproxy.url + "/version", headers={"User-Agent": "Mozilla/5"})
    assert response.status_code == 403 and response.text.startswith("User agent not allowed")


def test_embedded_listen_without_host_binds_loopback(
    embedded_url: str, echo_server: EchoServer
) -> None:
    """The documented difference: Toxiproxy binds every interface here, the embedded server not."""
    with ToxiproxyClient(embedded_url) as client:
        info = client.create_proxy(unique_name("lo"), ":0", echo_server.address)
        try:
            assert info.listen_host == "127.0.0.1" and info.listen_port > 0
        finally:
            client.delete_proxy(info.name)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
