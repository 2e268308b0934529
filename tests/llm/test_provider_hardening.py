"""The provider under hostile or careless input: length caps, a loop that keeps serving, a control
API that refuses browsers and validates every parameter, one-line start-up errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import uuid

import httpx
import pytest
from llm_provider_support import USER

from harness.llm import ProviderClient, ProviderProcess


def _chat(url: str, **fields: object) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", timeout=30,
                      json={"model": "mock-gpt-4o", "messages": USER, **fields})  # fmt: skip


def test_max_tokens_over_the_model_limit_is_an_openai_400(provider: ProviderProcess) -> None:
    response = _chat(provider.url, max_tokens=100_000_000_000)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (
        "max_tokens", "invalid_value", "invalid_request_error")
    assert "at most 16384 completion tokens" in error["message"]
    assert httpx.get(provider.url + "/healthz", timeout=5).status_code == 200


def test_the_longest_answer_does_not_stop_the_loop(provider: ProviderProcess) -> None:
    """A call at the limit is answered, and while it is in flight (held by a rule, then generated)
    the provider keeps answering others."""
    client, wid = ProviderClient(provider.url), f"long-{uuid.uuid4().hex}"
    rule = client.add_rule("hold", workflow_id=wid)
    result: dict[str, httpx.Response] = {}
    caller = threading.Thread(target=lambda: result.setdefault("r", httpx.post(
        provider.url + "/v1/chat/completions", timeout=60,
        headers={"X-Durabench-Workflow-Id": wid},
        json={"model": "mock-gpt-4o", "messages": USER, "max_tokens": 16_384})))
    caller.start()
    client.wait_for(wid, 1, "received", timeout_s=30)
    assert httpx.get(provider.url + "/healthz", timeout=5).status_code == 200
    client.release(rule)
    caller.join(60)
    assert result["r"].status_code == 200
    assert result["r"].json()["usage"]["completion_tokens"] == 16_384
    client.close()


def test_a_scripted_turn_longer_than_the_limit_is_cut(tmp_path: object) -> None:
    from pathlib import Path

    script = Path(str(tmp_path)) / "script.json"
    script.write_text('{"turns": [{"content": "long", "completion_tokens": 10000000}]}')
    with ProviderProcess(script=script, tokens_per_second=0) as provider:
        response = _chat(provider.url)
    assert response.status_code == 200
    body = response.json()
    assert body["usage"]["completion_tokens"] == 16_384
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize("headers", [
    {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"},
    {"Origin": "http://evil.example"},
])
@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/control/release"), ("GET", "/control/rules"), ("POST", "/control/rules"),
    ("POST", "/v1/chat/completions"),
])
def test_browser_like_requests_get_403(
    provider: ProviderProcess, headers: dict[str, str], method: str, path: str
) -> None:
    response = httpx.request(method, provider.url + path, headers=headers, json={}, timeout=5)
    assert response.status_code == 403
    assert "browsers are not allowed" in response.json()["error"]["message"]


def test_release_with_a_list_body_releases_nothing(provider: ProviderProcess) -> None:
    client = ProviderClient(provider.url)
    rule = client.add_rule("hold", workflow_id=f"held-{uuid.uuid4().hex}")
    try:
        response = httpx.post(provider.url + "/control/release", json=[1], timeout=5)
        assert response.status_code == 400
        assert "rule_id" in response.json()["error"]["message"]
        listed = httpx.get(provider.url + "/control/rules", timeout=5).json()["rules"]
        states = {r["rule_id"]: r for r in listed}
        assert rule in states and not states[rule]["released"]
    finally:
        client.release(rule)
        client.close()


@pytest.mark.parametrize(("method", "path", "body", "needle"), [
    ("POST", "/control/release", b'{"rule_id": [1]}', "'rule_id' must be a string"),
    ("POST", "/control/release", b'{"rule_id": 1}', "'rule_id' must be a string"),
    ("POST", "/control/rules", b'{"action": "hold", "latency_s": NaN}', "NaN"),
    ("POST", "/control/rules", b'{"action": "hold", "latency_s": [1]}', "must be numbers"),
    ("POST", "/control/rules", b'{"action": "hold", "match": 7}', "invalid rule"),
    ("GET", "/control/wait?call=1&timeout=nan", b"", "finite"),
    ("GET", "/control/wait?call=1&timeout=inf", b"", "finite"),
    ("GET", "/control/wait?call=1&timeout=-1", b"", "finite"),
    ("GET", "/control/wait?call=-2", b"", "'call' must be >= 0"),
    ("GET", "/control/wait?call=x", b"", "'call' must be an integer"),
    ("GET", "/control/wait?step=-1", b"", "'step' must be >= 0"),
    ("GET", "/control/wait?call=1&step=1", b"", "exactly one of 'call' and 'step'"),
    ("GET", "/control/wait", b"", "exactly one of 'call' and 'step'"),
])
def test_control_parameters_are_validated(
    provider: ProviderProcess, method: str, path: str, body: bytes, needle: str
) -> None:
    response = httpx.request(method, provider.url + path, content=body, timeout=10,
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]["message"]


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.llm", "serve", *args],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def test_a_bad_port_is_one_line() -> None:
    done = _serve("--port", "99999")
    assert done.returncode == 2
    assert "expected a port number 0-65535" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = _serve("--port", str(taken.getsockname()[1]))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "cannot listen on 127.0.0.1" in done.stderr


def test_allow_remote_warns() -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.llm", "serve", "--host", "0.0.0.0", "--allow-remote"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith("listening on")
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    assert "warning: the provider listens on 0.0.0.0" in stderr
