"""Billing survives the client: a held call whose worker is SIGKILLed is billed in full and
recorded as not delivered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from llm_provider_support import USER, openai_client

from harness.llm import CallNotDeliveredError, ProviderClient, ProviderProcess

_WORKER = textwrap.dedent("""
    import sys
    from openai import OpenAI
    url, workflow_id = sys.argv[1], sys.argv[2]
    sdk = OpenAI(base_url=url + "/v1", api_key="x", max_retries=0, timeout=30,
                 default_headers={"X-Durabench-Workflow-Id": workflow_id,
                                  "X-Durabench-Step": "1", "X-Durabench-Attempt": "7",
                                  "X-Durabench-Executor": "worker-a"})
    sdk.chat.completions.create(model="mock-gpt-4o", messages=[{"role": "user", "content": "x"}])
    sdk.chat.completions.create(model="mock-gpt-4o", messages=[{"role": "user", "content": "x"}])
    print("unreachable: the second call is held and the worker killed", flush=True)
""")


def test_held_call_of_a_killed_worker_is_billed_in_full_and_not_delivered(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    rule = client.add_rule("hold", workflow_id=workflow_id, call=2)
    worker = subprocess.Popen(
        [sys.executable, "-c", _WORKER, provider.url, workflow_id],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        held = client.wait_for(workflow_id, 2, "received", timeout_s=20)
        assert held.responded_ns is None and held.tokens == 0
        with pytest.raises(TimeoutError):
            client.wait_for(workflow_id, 2, "responded", timeout_s=0.3)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        output, _ = worker.communicate(timeout=10)
    assert b"unreachable" not in output
    client.release(rule)
    with pytest.raises(CallNotDeliveredError) as lost:
        client.wait_for(workflow_id, 2, "delivered", timeout_s=10)
    entry = lost.value.entry
    assert entry.status == 200 and not entry.delivered
    assert entry.prompt_tokens > 0 and entry.completion_tokens == 32 and entry.cost_usd > 0
    assert (entry.step, entry.attempt, entry.executor) == (1, 7, "worker-a")
    first, second = client.ledger(workflow_id)
    assert first.delivered and first.tokens == second.tokens
    assert first.nonce != second.nonce


def test_a_normal_call_is_delivered(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    openai_client(provider.url, workflow_id).chat.completions.create(
        model="mock-gpt-4o", messages=USER
    )
    entry = client.wait_for(workflow_id, 1, "delivered", timeout_s=5)
    assert entry.delivered and entry.status == 200 and entry.responded_ns is not None
    assert entry.received_ns <= entry.responded_ns
