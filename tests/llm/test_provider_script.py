"""Scripted mode: turns chosen by the step header or the assistant-message count; exhaustion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from llm_provider_support import USER, openai_client

from harness.llm import ProviderProcess

SCRIPT = {"turns": [
    {"content": "Searching.", "tool_calls": [{"name": "search", "arguments": {"q": "lyon"}}],
     "completion_tokens": 40},
    {"content": "Lyon has 520,000 inhabitants."},
]}


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderProcess]:
    path = tmp_path_factory.mktemp("script") / "research.json"
    path.write_text(json.dumps(SCRIPT))
    with ProviderProcess(script=path, tokens_per_second=0, run_id="tests-script") as process:
        yield process


def test_turns_follow_the_assistant_message_count(scripted: ProviderProcess) -> None:
    sdk = openai_client(scripted.url)
    first = sdk.chat.completions.create(model="mock-gpt-4o", messages=USER)
    [call] = first.choices[0].message.tool_calls or []
    assert call.type == "function"
    assert (call.function.name, json.loads(call.function.arguments)) == ("search", {"q": "lyon"})
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.usage is not None and first.usage.completion_tokens == 40
    history = [*USER, {"role": "assistant", "content": "Searching."}]
    second = sdk.chat.completions.create(model="mock-gpt-4o", messages=history)
    assert second.choices[0].message.content == "Lyon has 520,000 inhabitants."
    # Lyon has 520 , 000 inhabitants .
    assert second.usage is not None and second.usage.completion_tokens == 7


def test_step_header_chooses_the_turn_and_max_tokens_cuts(scripted: ProviderProcess) -> None:
    cut = openai_client(scripted.url, step=0).chat.completions.create(
        model="mock-gpt-4o", messages=USER, max_tokens=5
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 5
    assert not cut.choices[0].message.tool_calls


def test_exhausted_script_names_the_file_and_turn(scripted: ProviderProcess) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        openai_client(scripted.url, step=5).chat.completions.create(
            model="mock-gpt-4o", messages=USER
        )
    message = raised.value.message
    assert "script exhausted" in message and "research.json" in message and "turn 5" in message


def test_invalid_script_fails_the_start_with_the_log(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"turns": [{"completion_tokens": 3}]}')
    with pytest.raises(Exception, match="turn 0"), ProviderProcess(script=path):
        pass
