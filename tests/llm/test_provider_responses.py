"""The Responses API of a real provider process, driven by the official openai SDK unchanged."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest
from llm_provider_support import USER, openai_client

from harness.llm import HEADER_ATTEMPT, ProviderClient, ProviderProcess, count_prompt_tokens

RESPONSES_TOOLS = [{"type": "function", "name": "search", "description": "web search",
                    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}]


def _wait_finished(sdk: openai.OpenAI, response_id: str, timeout_s: float = 10.0) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = sdk.responses.retrieve(response_id)
        if response.status in ("completed", "incomplete", "failed", "cancelled"):
            return response
        time.sleep(0.02)
    raise AssertionError(f"{response_id} did not finish within {timeout_s}s")


def test_background_response_is_queued_then_completed_and_billed_once(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id, step=0)
    rule = client.add_rule("hold", workflow_id=workflow_id, call=1)
    created = sdk.responses.create(model="mock-gpt-4o", input=USER, background=True,
                                   max_output_tokens=20)
    assert created.status in ("queued", "in_progress") and created.id.startswith("resp_")
    assert sdk.responses.retrieve(created.id).status in ("queued", "in_progress")
    [entry] = client.ledger(workflow_id)
    assert entry.status == 0 and not entry.delivered  # received, held, not yet generated
    client.release(rule)
    done = _wait_finished(sdk, created.id)
    assert isinstance(done, openai.types.responses.Response)
    assert done.status == "completed" and done.output_text.split()[1] == entry.nonce
    assert done.usage is not None and done.usage.output_tokens == 20
    assert done.usage.input_tokens == count_prompt_tokens(USER)
    for _ in range(3):  # a retrieve is never billed nor counted as a call
        assert sdk.responses.retrieve(created.id).id == created.id
    [entry] = client.ledger(workflow_id)
    assert (entry.status, entry.delivered, entry.step) == (200, True, 0)
    assert entry.tokens == done.usage.total_tokens


def test_background_tool_call_round_trips_as_chat_messages(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id, step=3)
    created = sdk.responses.create(model="mock-gpt-4o", input=USER, tools=RESPONSES_TOOLS,
                                   background=True)  # type: ignore[arg-type]
    done = _wait_finished(sdk, created.id)
    assert isinstance(done, openai.types.responses.Response)
    [call] = [item for item in done.output if item.type == "function_call"]
    assert call.name == "search" and json.loads(call.arguments) == {"query": "query for step 3"}
    # The conversation continued with the call and its output costs what chat messages cost.
    follow = [*USER, {"type": "function_call", "call_id": call.call_id, "name": call.name,
                      "arguments": call.arguments},
              {"type": "function_call_output", "call_id": call.call_id, "output": "Lyon: 522k"}]
    chat = [*USER, {"role": "assistant", "content": None, "tool_calls": [
        {"id": call.call_id, "type": "function",
         "function": {"name": call.name, "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": call.call_id, "content": "Lyon: 522k"}]
    second = sdk.responses.create(model="mock-gpt-4o", input=follow)  # type: ignore[arg-type]
    assert second.status == "completed" and second.usage is not None
    assert second.usage.input_tokens == count_prompt_tokens(chat)
    assert [e.status for e in client.ledger(workflow_id)] == [200, 200]


def test_response_finished_after_its_caller_left_is_billed_once(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    """The caller is gone (its client closed) before generation: the provider finishes it
    anyway, and a successor retrieves it without a second call."""
    rule = client.add_rule("hold", workflow_id=workflow_id, call=1)
    with openai_client(provider.url, workflow_id, step=1) as caller:
        response_id = caller.responses.create(model="mock-gpt-4o", input=USER, background=True,
                                              extra_headers={HEADER_ATTEMPT: "1"}).id
        caller.responses.retrieve(response_id, extra_headers={HEADER_ATTEMPT: "1"})
    client.release(rule)
    successor = openai_client(provider.url, workflow_id, step=1)
    done = _wait_finished(successor, response_id)  # no attempt header: not a resume
    assert isinstance(done, openai.types.responses.Response) and done.status == "completed"
    [entry] = client.ledger(workflow_id)
    assert entry.status == 200 and entry.delivered and entry.tokens > 0
    assert entry.resumed_attempt is None
    successor.responses.retrieve(response_id, extra_headers={HEADER_ATTEMPT: "2"})
    successor.responses.retrieve(response_id, extra_headers={HEADER_ATTEMPT: "3"})
    [entry] = client.ledger(workflow_id)
    assert (entry.attempt, entry.resumed_attempt) == (1, 2)  # the first newer execution


def test_synchronous_response_and_admission_failure(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id, step=0)
    response = sdk.responses.create(model="mock-gpt-4o", input="Hello", max_output_tokens=8)
    assert response.status == "completed" and len(response.output_text.split()) == 8
    assert sdk.responses.retrieve(response.id).output_text == response.output_text
    client.add_rule("fail", workflow_id=workflow_id, status=429, retry_after_s=0.5)
    with pytest.raises(openai.RateLimitError):
        sdk.responses.create(model="mock-gpt-4o", input="Hello", background=True)
    assert [e.status for e in client.ledger(workflow_id)] == [200, 429]


def test_unknown_id_is_404(provider: ProviderProcess) -> None:
    with pytest.raises(openai.NotFoundError, match="not found"):
        openai_client(provider.url).responses.retrieve("resp_0000000000000000")


def test_responses_are_dropped_on_expiry_and_on_restart(tmp_path: Path) -> None:
    with ProviderProcess(tokens_per_second=0, run_id="tests-llm-ttl", response_ttl_s=0.5,
                         ledger_path=tmp_path / "ledger.jsonl", log_dir=tmp_path) as provider:
        sdk = openai_client(provider.url, "wf-ttl", step=0)
        expiring = sdk.responses.create(model="mock-gpt-4o", input="Hi", background=True).id
        time.sleep(0.8)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(expiring)
        with ProviderClient(provider.url) as control:
            [entry] = control.ledger("wf-ttl")
            assert entry.status == 200 and not entry.delivered  # billed, never retrieved
        kept = sdk.responses.create(model="mock-gpt-4o", input="Hi", background=True).id
        _wait_finished(sdk, kept)
        provider.restart()
        sdk = openai_client(provider.url, "wf-ttl", step=0)
        with pytest.raises(openai.NotFoundError):
            sdk.responses.retrieve(kept)


def test_a_background_call_is_awaited_from_its_first_retrieve(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    """The ``awaited`` wait event: the moment the caller waits on the answer (it holds the id)."""
    rule = client.add_rule("hold", workflow_id=workflow_id, call=1)
    sdk = openai_client(provider.url, workflow_id, step=0)
    response_id = sdk.responses.create(model="mock-gpt-4o", input=USER, background=True).id
    client.wait_for(workflow_id, 1, "received", timeout_s=5)
    with pytest.raises(TimeoutError):
        client.wait_for(workflow_id, 1, "awaited", timeout_s=0.3)
    sdk.responses.retrieve(response_id)
    assert client.wait_for(workflow_id, 1, "awaited", timeout_s=5).status == 0  # still held
    client.release(rule)
    _wait_finished(sdk, response_id)
    sync = sdk.responses.create(model="mock-gpt-4o", input="Hi")  # no background: at once
    assert client.wait_for(workflow_id, 2, "awaited", timeout_s=5).nonce == \
        sync.id.removeprefix("resp_")


def test_a_cancelled_queued_response_is_abandoned_unbilled(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    """As a hung chat call whose client left: a background response cancelled while it waits at
    a hang is never generated nor billed, even once the hang is released."""
    client.add_rule("hang", workflow_id=workflow_id, call=1)
    sdk = openai_client(provider.url, workflow_id, step=2)
    response_id = sdk.responses.create(model="mock-gpt-4o", input=USER, background=True).id
    assert sdk.responses.cancel(response_id).status == "cancelled"
    client.release()
    time.sleep(0.2)
    assert sdk.responses.retrieve(response_id).status == "cancelled"
    [entry] = client.ledger(workflow_id)
    assert (entry.status, entry.tokens, entry.delivered) == (499, 0, False)
