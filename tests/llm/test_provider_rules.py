"""Control rules against a real provider: fail (429/500/503), count, latency, hang + release."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from llm_provider_support import USER, openai_client

from harness.llm import ProviderClient, ProviderProcess, ProviderRequestError


def _call(url: str, workflow_id: str, timeout_s: float = 10.0) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions", timeout=timeout_s,
        headers={"X-Durabench-Workflow-Id": workflow_id},
        json={"model": "mock-gpt-4o", "messages": USER},
    )


def test_429_carries_retry_after_and_bills_nothing(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    client.add_rule("fail", workflow_id=workflow_id, status=429, retry_after_s=2.5)
    response = _call(provider.url, workflow_id)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2.5"
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    [entry] = client.ledger(workflow_id)
    assert (entry.status, entry.tokens, entry.cost_usd) == (429, 0, 0.0)


@pytest.mark.parametrize(("status", "bills_prompt"), [(503, False), (500, True)])
def test_5xx_billing(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str, status: int,
    bills_prompt: bool,
) -> None:
    client.add_rule("fail", workflow_id=workflow_id, status=status)
    assert _call(provider.url, workflow_id).status_code == status
    [entry] = client.ledger(workflow_id)
    assert entry.completion_tokens == 0
    assert (entry.prompt_tokens > 0) is bills_prompt


def test_count_and_call_select_which_calls_fail(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    client.add_rule("fail", workflow_id=workflow_id, call=2, count=2, status=503)
    statuses = [_call(provider.url, workflow_id).status_code for _ in range(5)]
    assert statuses == [200, 503, 503, 200, 200]
    assert [e.tokens > 0 for e in client.ledger(workflow_id)] == [True, False, False, True, True]


def test_step_match(provider: ProviderProcess, client: ProviderClient, workflow_id: str) -> None:
    client.add_rule("fail", step=4, count=3, status=500, workflow_id=workflow_id)
    sdk = openai_client(provider.url, workflow_id, step=3)
    sdk.chat.completions.create(model="mock-gpt-4o", messages=USER)
    with pytest.raises(openai.InternalServerError):
        openai_client(provider.url, workflow_id, step=4).chat.completions.create(
            model="mock-gpt-4o", messages=USER
        )


def test_latency_applies_to_count_calls_only(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    client.add_rule("latency", workflow_id=workflow_id, latency_s=1.0)
    started = time.monotonic()
    assert _call(provider.url, workflow_id).status_code == 200
    assert time.monotonic() - started >= 1.0
    assert _call(provider.url, workflow_id).status_code == 200
    slow, fast = client.ledger(workflow_id)
    assert slow.responded_ns is not None and fast.responded_ns is not None
    assert slow.responded_ns - slow.received_ns >= 1_000_000_000
    assert fast.responded_ns - fast.received_ns < 900_000_000


def test_hang_then_release_answers_a_waiting_client(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    rule = client.add_rule("hang", workflow_id=workflow_id)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(_call, provider.url, workflow_id)
        client.wait_for(workflow_id, 1, "received", timeout_s=10)
        with pytest.raises(TimeoutError, match="not responded"):
            client.wait_for(workflow_id, 1, "responded", timeout_s=0.5)
        assert not pending.done()
        client.release(rule)
        assert pending.result(timeout=10).status_code == 200
    assert client.wait_for(workflow_id, 1, "delivered", timeout_s=5).tokens > 0
    assert _call(provider.url, workflow_id).status_code == 200  # released rules match no more


def test_hang_abandoned_by_its_client_bills_nothing(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    client.add_rule("hang", workflow_id=workflow_id)
    with pytest.raises(httpx.ReadTimeout):
        _call(provider.url, workflow_id, timeout_s=0.5)
    client.reset()
    entry = client.wait_for(workflow_id, 1, "responded", timeout_s=5)
    assert (entry.status, entry.tokens, entry.delivered) == (499, 0, False)


def test_invalid_rule_and_unknown_release_are_rejected(client: ProviderClient) -> None:
    with pytest.raises(ProviderRequestError, match="status"):
        client.add_rule("fail", status=418)
    with pytest.raises(ProviderRequestError, match="no rule"):
        client.release("rule-does-not-exist")


def test_wait_times_out_with_a_clear_error(client: ProviderClient, workflow_id: str) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=f"call 1 of workflow '{workflow_id}' was not received"):
        client.wait_for(workflow_id, 1, "received", timeout_s=0.3)
    assert time.monotonic() - started < 5
