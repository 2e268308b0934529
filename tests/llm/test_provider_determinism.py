"""Determinism: the tokenizer, and same seed + same requests => same tokens; nonces unique."""

from __future__ import annotations

import re

import pytest
from llm_provider_support import TOOLS, USER, openai_client

from harness.llm import ProviderClient, ProviderProcess, count_prompt_tokens, count_text_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [("", 0), ("hello", 1), ("Hello, world!", 4), ("a_b c-d", 4), ("520,000", 3), ("  \n", 0)],
)
def test_text_tokens(text: str, tokens: int) -> None:
    assert count_text_tokens(text) == tokens


def test_prompt_tokens_count_roles_contents_tool_calls_and_overheads() -> None:
    assert count_prompt_tokens([{"role": "user", "content": "hi"}]) == 3 + 2 + 3
    tool_call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "search", "arguments": '{"q":1}'}}
    ]}
    # assistant + search + { " q " : 1 }  = 1 + 1 + 7 ; + 3 per message
    assert count_prompt_tokens([tool_call]) == 3 + 9 + 3
    parts = {"role": "user", "content": [{"type": "text", "text": "a b"}]}
    assert count_prompt_tokens([parts]) == 3 + 3 + 3


def _session(url: str) -> tuple[int, list[str]]:
    """A fixed request sequence; returns (tokens billed, nonces) from the ledger."""
    sdk = openai_client(url, "wf-det", step=0)
    sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, tools=TOOLS)
    sdk.chat.completions.create(model="mock-gpt-4o", messages=USER, max_tokens=77)
    openai_client(url, "wf-det", step=1).chat.completions.create(
        model="mock-gpt-4o-mini", messages=[*USER, *USER]
    )
    with ProviderClient(url) as client:
        entries = client.ledger("wf-det")
    return sum(e.tokens for e in entries), [e.nonce or "" for e in entries]


def test_same_seed_same_sequence_same_tokens_and_nonces() -> None:
    runs = []
    for seed in (7, 7, 8):
        with ProviderProcess(seed=seed, tokens_per_second=0, run_id="tests-det") as process:
            runs.append(_session(process.url))
    (tokens_a, nonces_a), (tokens_b, nonces_b), (tokens_c, nonces_c) = runs
    assert tokens_a == tokens_b == tokens_c > 0
    assert nonces_a == nonces_b
    assert not set(nonces_a) & set(nonces_c)
    for nonces in (nonces_a, nonces_c):
        assert len(set(nonces)) == len(nonces)
        assert all(re.fullmatch(r"[0-9a-f]{16}", n) for n in nonces)


def test_nonces_are_unique_across_many_calls(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    sdk = openai_client(provider.url, workflow_id)
    ids = {sdk.chat.completions.create(model="mock-gpt-4o", messages=USER).id for _ in range(20)}
    assert len(ids) == 20
    assert {f"chatcmpl-{e.nonce}" for e in client.ledger(workflow_id)} == ids
