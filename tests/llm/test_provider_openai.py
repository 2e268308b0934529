"""The official openai SDK parses every response shape of a real provider process."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from llm_provider_support import TOOLS, USER, openai_client

from harness.llm import DEFAULT_PRICES, ProviderClient, ProviderProcess, count_prompt_tokens


def test_final_answer_parses_and_is_billed(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id, step=0)
    completion = sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, max_tokens=20)
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant" and choice.message.content
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 20
    assert completion.usage.prompt_tokens == count_prompt_tokens(USER)
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 20
    [entry] = client.ledger(workflow_id)
    assert completion.id == f"chatcmpl-{entry.nonce}"
    assert (entry.status, entry.step, entry.delivered) == (200, 0, True)
    assert entry.tokens == completion.usage.total_tokens
    assert entry.cost_usd == pytest.approx((entry.prompt_tokens * 2.5 + 20 * 10.0) / 1e6)


def test_tool_call_parses(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id, step=3)
    completion = sdk.chat.completions.create(model="mock-gpt-4o-mini", messages=USER, tools=TOOLS)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "search"
    assert json.loads(call.function.arguments) == {"query": "query for step 3"}
    assert completion.usage is not None and completion.usage.completion_tokens == 32


def test_tool_choice_none_gives_a_final_answer(provider: ProviderProcess) -> None:
    sdk = openai_client(provider.url)
    completion = sdk.chat.completions.create(
        model="mock-gpt-4o", messages=USER, tools=TOOLS, tool_choice="none"
    )
    assert completion.choices[0].finish_reason == "stop"
    assert not completion.choices[0].message.tool_calls


@pytest.mark.parametrize(
    ("status", "exception"),
    [(429, openai.RateLimitError), (500, openai.InternalServerError),
     (503, openai.InternalServerError)],
)
def test_injected_errors_raise_the_sdk_classes(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str, status: int,
    exception: type[openai.APIStatusError],
) -> None:
    client.add_rule("fail", workflow_id=workflow_id, status=status)
    with pytest.raises(exception) as raised:
        openai_client(provider.url, workflow_id).chat.completions.create(
            model="mock-gpt-4o", messages=USER
        )
    assert raised.value.status_code == status
    assert "durabench fail rule" in raised.value.message


def test_bad_requests_raise_the_sdk_classes(provider: ProviderProcess) -> None:
    sdk = openai_client(provider.url)
    with pytest.raises(openai.NotFoundError, match="mock-gpt-9"):
        sdk.chat.completions.create(model="mock-gpt-9", messages=USER)
    with pytest.raises(openai.BadRequestError, match="Streaming is not supported"):
        sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, stream=True)


def test_models_lists_the_price_table(provider: ProviderProcess) -> None:
    ids = {m.id for m in openai_client(provider.url).models.list()}
    assert ids == set(DEFAULT_PRICES)


def test_healthz(provider: ProviderProcess, client: ProviderClient) -> None:
    assert client.healthy()
    assert httpx.get(provider.url + "/healthz", timeout=5).status_code == 200
    assert not ProviderClient("http://127.0.0.1:9", timeout_s=1).healthy()
