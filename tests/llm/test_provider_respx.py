"""The respx fixture: the openai SDK answered in-process by the server's own response code."""

from __future__ import annotations

import json

import openai
import pytest
from llm_provider_support import TOOLS, USER

from harness.llm import DEFAULT_PRICES, count_prompt_tokens
from harness.llm.respx_fixtures import MOCK_BASE_URL, MockProvider, mock_llm, mock_provider

__all__ = ["mock_llm"]  # the fixture is used by name below


def _sdk(**headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=MOCK_BASE_URL + "/v1", api_key="x", max_retries=0, timeout=5,
                         default_headers=headers)


def test_fixture_answers_like_the_server(mock_llm: MockProvider) -> None:
    sdk = _sdk(**{"X-Durabench-Workflow-Id": "wf-1", "X-Durabench-Step": "2"})
    tool = sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, tools=TOOLS)
    [call] = tool.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert json.loads(call.function.arguments) == {"query": "query for step 2"}
    final = sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, max_tokens=12)
    assert final.usage is not None and final.usage.completion_tokens == 12
    assert final.usage.prompt_tokens == count_prompt_tokens(USER)
    assert [(e.workflow_id, e.step, e.status) for e in mock_llm.entries] == [
        ("wf-1", 2, 200), ("wf-1", 2, 200)
    ]
    assert final.id == f"chatcmpl-{mock_llm.entries[1].nonce}"
    assert mock_llm.tokens_billed == sum(e.tokens for e in mock_llm.entries)


def test_fixture_errors_raise_the_sdk_classes() -> None:
    with mock_provider() as provider:
        with pytest.raises(openai.NotFoundError):
            _sdk().chat.completions.create(model="gpt-unknown", messages=USER)
        with pytest.raises(openai.BadRequestError, match="Streaming"):
            _sdk().chat.completions.create(model="mock-gpt-4o", messages=USER, stream=True)
        assert {m.id for m in _sdk().models.list()} == set(DEFAULT_PRICES)
    assert [e.tokens for e in provider.entries] == [0, 0]
