"""Bad input gets OpenAI-style errors; a non-loopback bind is refused without --allow-remote."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from llm_provider_support import USER

from harness.llm import ProviderClient, ProviderProcess


def _post(url: str, content: bytes) -> httpx.Response:
    return httpx.post(url + "/v1/chat/completions", content=content, timeout=5,
                      headers={"Content-Type": "application/json"})


def _is_openai_error(body: dict[str, object]) -> bool:
    error = body.get("error")
    return isinstance(error, dict) and set(error) == {"message", "type", "param", "code"}


def test_malformed_json_is_400_and_billed_nothing(
    provider: ProviderProcess, client: ProviderClient
) -> None:
    response = _post(provider.url, b'{"model": "mock-gpt-4o", "messages": [')
    assert response.status_code == 400 and _is_openai_error(response.json())
    assert "could not parse the JSON" in response.json()["error"]["message"]
    last = client.ledger()[-1]
    assert (last.status, last.tokens) == (400, 0)


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b'{"model": "nope", "messages": [{"role": "user", "content": "x"}]}', 404, "nope"),
        (b'{"model": "mock-gpt-4o", "stream": true, "messages": [{"role": "user"}]}', 400,
         "Streaming is not supported"),
        (b'{"model": "mock-gpt-4o", "messages": []}', 400, "messages"),
        (b'[1, 2]', 400, "JSON object"),
        (b'{"model": "mock-gpt-4o", "max_tokens": 0, "messages": [{"role": "user"}]}', 400,
         "max_tokens"),
    ],
)
def test_invalid_requests(provider: ProviderProcess, body: bytes, status: int, needle: str) -> None:
    response = _post(provider.url, body)
    assert response.status_code == status and _is_openai_error(response.json())
    assert needle in response.json()["error"]["message"]


def test_non_integer_step_header_is_400(provider: ProviderProcess) -> None:
    response = httpx.post(provider.url + "/v1/chat/completions", timeout=5,
                          headers={"X-Durabench-Step": "two"},
                          json={"model": "mock-gpt-4o", "messages": USER})
    assert response.status_code == 400
    assert "X-Durabench-Step" in response.json()["error"]["message"]


def test_non_loopback_host_is_refused_without_allow_remote() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.llm", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr and "0.0.0.0" in done.stderr
    assert "listening on" not in done.stdout
