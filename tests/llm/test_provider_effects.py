"""The effect sink applies a key once and records every delivery."""

from __future__ import annotations

from pathlib import Path

import httpx

from harness.llm import ProviderClient, ProviderProcess
from harness.llm._effects import EffectSink


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


def test_an_announced_epoch_fences_lower_ones_whoever_arrives_first(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    url = provider.url
    body = {"key": f"{workflow_id}-pub", "name": "publish", "workflow_id": workflow_id}

    def deliver(attempt: int) -> dict[str, object]:
        headers = {"X-Durabench-Executor": f"w{attempt}", "X-Durabench-Attempt": str(attempt)}
        return dict(httpx.post(url + "/v1/effects", json=body, headers=headers, timeout=5).json())

    announced = httpx.post(url + "/v1/effects/fence", timeout=5,
                           json={"fences": [{"workflow_id": workflow_id, "epoch": 2}]})
    assert announced.json() == {"fences": {workflow_id: 2}}
    # the zombie (epoch 1) arrives before its successor sent anything: refused all the same
    assert deliver(1) == {"applied": False, "fenced": True, "fence": 2}
    assert deliver(2) == {"applied": True}
    lower = httpx.post(url + "/v1/effects/fence", timeout=5,
                       json={"fences": [{"workflow_id": workflow_id, "epoch": 1}]})
    assert lower.json() == {"fences": {workflow_id: 2}}, "a fence never moves down"
    records = client.effects(workflow_id)
    assert [(r.attempt, r.applied, r.fenced) for r in records] == [(1, False, True),
                                                                   (2, True, False)]


def test_without_an_announced_epoch_effects_are_judged_by_key_alone(
    provider: ProviderProcess, workflow_id: str
) -> None:
    body = {"key": f"{workflow_id}-k", "name": "publish", "workflow_id": workflow_id}
    other = {"fences": [{"workflow_id": workflow_id + "-other", "epoch": 9}]}
    httpx.post(provider.url + "/v1/effects/fence", json=other, timeout=5).raise_for_status()
    first = httpx.post(provider.url + "/v1/effects", json=body, timeout=5,
                       headers={"X-Durabench-Attempt": "1"})
    assert first.json() == {"applied": True}


def test_a_fence_announcement_needs_workflow_ids_and_integer_epochs(
    provider: ProviderProcess,
) -> None:
    for bad in ({}, {"fences": [{"workflow_id": "w", "epoch": "2"}]},
                {"fences": [{"epoch": 2}]}, {"fences": [{"workflow_id": "w", "epoch": True}]}):
        response = httpx.post(provider.url + "/v1/effects/fence", json=bad, timeout=5)
        assert response.status_code == 400, bad
        assert "fences" in response.json()["error"]["message"]


def test_fences_survive_a_reopened_sink(tmp_path: Path) -> None:
    sink = EffectSink(tmp_path / "l.effects.jsonl")
    sink.fence([("w", 3)])
    sink.deliver(key="k", name="n", workflow_id="w", payload=None, executor="a", attempt=3)
    sink.close()
    again = EffectSink(tmp_path / "l.effects.jsonl")
    try:
        assert again.fence_of("w") == 3
        late = again.deliver(key="k2", name="n", workflow_id="w", payload=None, executor="z",
                             attempt=2)
        assert (late["applied"], late["fenced"]) == (False, True)
        assert [r["key"] for r in again.records("w")] == ["k", "k2"], "fence lines are no records"
    finally:
        again.close()


def test_a_held_announcement_is_answered_only_once_released(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    import threading

    client.hold_fences(workflow_id)
    answered: list[dict[str, object]] = []
    body = {"fences": [{"workflow_id": workflow_id, "epoch": 4}]}
    claimer = threading.Thread(target=lambda: answered.append(httpx.post(
        provider.url + "/v1/effects/fence", json=body, timeout=10).json()))
    claimer.start()
    assert client.wait_fence(workflow_id, 5.0) == 4
    assert not answered, "held: the announcement is not answered yet"
    refused = httpx.post(provider.url + "/v1/effects", timeout=5, headers={
        "X-Durabench-Attempt": "3"}, json={"key": "k", "name": "n", "workflow_id": workflow_id})
    assert refused.json()["fenced"] is True, "the fence is raised while the answer is held"
    client.release_fences(workflow_id)
    claimer.join(5)
    assert answered == [{"fences": {workflow_id: 4}}]
    for bad in ({"workflow_id": 3}, {}):
        held = httpx.post(provider.url + "/control/fences/hold", json=bad, timeout=5)
        assert held.status_code == 400 and "workflow_id" in held.json()["error"]["message"]
    bad_release = httpx.post(provider.url + "/control/fences/release", json={"workflow_id": 3},
                             timeout=5)
    assert bad_release.status_code == 400


def test_a_held_delivery_from_a_newer_epoch_is_judged_only_once_released(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    import threading

    def send(attempt: int) -> dict[str, object]:
        return dict(httpx.post(provider.url + "/v1/effects", timeout=10, headers={
            "X-Durabench-Attempt": str(attempt)},
            json={"key": "k", "name": "n", "workflow_id": workflow_id}).json())

    client.hold_effects(workflow_id, above=1)
    answered: list[dict[str, object]] = []
    successor = threading.Thread(target=lambda: answered.append(send(2)))
    successor.start()
    successor.join(0.5)
    assert not answered and not client.effects(workflow_id), "held before it is judged"
    assert send(1) == {"applied": True}, "the older epoch's delivery passes and is judged first"
    client.release_effects(workflow_id)
    successor.join(5)
    assert answered == [{"applied": False, "duplicate": True}]
    assert [r.attempt for r in client.effects(workflow_id)] == [1, 2]
    assert send(3) == {"applied": False, "duplicate": True}, "released: no longer held"
    for bad in ({"workflow_id": workflow_id}, {"workflow_id": 3, "above": 1},
                {"workflow_id": workflow_id, "above": True}):
        held = httpx.post(provider.url + "/control/effects/hold", json=bad, timeout=5)
        assert held.status_code == 400 and "above" in held.json()["error"]["message"]
    bad_release = httpx.post(provider.url + "/control/effects/release", json={"workflow_id": 3},
                             timeout=5)
    assert bad_release.status_code == 400
