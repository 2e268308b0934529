"""Simulated generation time (non-blocking) and a --prices table."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from llm_provider_support import USER, openai_client

from harness.llm import HEADER_TOKENS_PER_SECOND, ProviderClient, ProviderProcess


def test_generation_time_is_tokens_over_speed_and_does_not_block(tmp_path: Path) -> None:
    """Three 300-token generations at 100 tokens/s: each takes at least 3 s, and while they are
    generating the provider answers a ledger read that shows all three received and none
    answered -- with a blocking sleep it would serve one request at a time. No upper bound on
    any time: the evidence is what the provider says while the calls are in flight."""
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"house-model": {"input_per_1m": 1.0, "output_per_1m": 1000.0}}))
    with ProviderProcess(tokens_per_second=100, prices=prices, run_id="tests-timing") as prov, \
            ProviderClient(prov.url) as client:
        def call(_: int) -> float:
            started = time.monotonic()
            openai_client(prov.url, "wf-t").chat.completions.create(
                model="house-model", messages=USER, max_tokens=300
            )
            return time.monotonic() - started

        with ThreadPoolExecutor(3) as pool:
            calls = pool.map(call, range(3))
            in_flight = _three_in_flight(client)
            durations = list(calls)
        assert in_flight, "the provider never had the three generations in flight at once"
        assert min(durations) >= 3.0  # 300 tokens at 100 tokens/s
        with pytest.raises(openai.NotFoundError):
            openai_client(prov.url).chat.completions.create(model="mock-gpt-4o", messages=USER)
        entry = client.ledger("wf-t")[0]
    assert entry.cost_usd == pytest.approx((entry.prompt_tokens * 1.0 + 300 * 1000.0) / 1e6)


def _three_in_flight(client: ProviderClient) -> bool:
    """Whether a ledger read, answered by the provider, ever showed three calls of ``wf-t``
    received and not yet answered (polled until the first of them is answered)."""
    while True:
        entries = client.ledger("wf-t")
        if len(entries) == 3 and all(e.responded_ns is None for e in entries):
            return True
        if any(e.responded_ns is not None for e in entries):
            return False
        time.sleep(0.01)


def test_a_request_may_set_its_own_generation_speed(tmp_path: Path) -> None:
    """``X-Durabench-Tokens-Per-Second`` overrides the provider's speed for that request only;
    a non-positive value is a 400 naming the header."""
    with ProviderProcess(tokens_per_second=0, run_id="tests-speed") as prov:
        client = openai.OpenAI(base_url=prov.url + "/v1", api_key="x", max_retries=0, timeout=10)
        started = time.monotonic()
        client.chat.completions.create(
            model="mock-gpt-4o", messages=USER, max_tokens=30,
            extra_headers={HEADER_TOKENS_PER_SECOND: "100"},
        )
        assert time.monotonic() - started >= 0.3  # 30 tokens at 100 tokens/s
        with pytest.raises(openai.BadRequestError, match=HEADER_TOKENS_PER_SECOND):
            client.chat.completions.create(
                model="mock-gpt-4o", messages=USER, extra_headers={HEADER_TOKENS_PER_SECOND: "0"}
            )
