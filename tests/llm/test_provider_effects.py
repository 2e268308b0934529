"""The effect sink applies a key once and records every delivery."""

from __future__ import annotations

import httpx

from harness.llm import ProviderClient, ProviderProcess


def test_first_delivery_applies_later_ones_are_duplicates(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    body = {"key": f"{workflow_id}-pub", "name": "publish", "workflow_id": workflow_id,
            "payload": {"report": "r"}}
    headers = {"X-Durabench-Executor": "worker-a", "X-Durabench-Attempt": "1"}
    first = httpx.post(provider.url + "/v1/effects", json=body, headers=headers, timeout=5)
    assert first.json() == {"applied": True}
    headers = {"X-Durabench-Executor": "worker-b", "X-Durabench-Attempt": "2"}
    again = httpx.post(provider.url + "/v1/effects", json=body, headers=headers, timeout=5)
    assert again.json() == {"applied": False, "duplicate": True}
    records = client.effects(workflow_id)
    assert [(r.applied, r.executor, r.attempt) for r in records] == [
        (True, "worker-a", 1), (False, "worker-b", 2)
    ]
    assert records[0].received_ns <= records[1].received_ns
    raw = httpx.get(provider.url + "/v1/effects", params={"workflow_id": workflow_id}, timeout=5)
    assert raw.json()["effects"][0]["payload"] == {"report": "r"}


def test_effect_without_key_is_rejected(provider: ProviderProcess) -> None:
    response = httpx.post(provider.url + "/v1/effects", json={"name": "x"}, timeout=5)
    assert response.status_code == 400
    assert "key" in response.json()["error"]["message"]
