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
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"house-model": {"input_per_1m": 1.0, "output_per_1m": 1000.0}}))
    with ProviderProcess(tokens_per_second=100, prices=prices, run_id="tests-timing") as prov:
        def call(_: int) -> float:
            started = time.monotonic()
            openai_client(prov.url, "wf-t").chat.completions.create(
                model="house-model", messages=USER, max_tokens=60
            )
            return time.monotonic() - started

        started = time.monotonic()
        with ThreadPoolExecutor(3) as pool:
            durations = list(pool.map(call, range(3)))
        elapsed = time.monotonic() - started
        assert min(durations) >= 0.6  # 60 tokens at 100 tokens/s
        assert elapsed < 1.7  # three 0.6 s generations overlapped: the sleep is asynchronous
        with pytest.raises(openai.NotFoundError):
            openai_client(prov.url).chat.completions.create(model="mock-gpt-4o", messages=USER)
        with ProviderClient(prov.url) as client:
            entry = client.ledger("wf-t")[0]
    assert entry.cost_usd == pytest.approx((entry.prompt_tokens * 1.0 + 60 * 1000.0) / 1e6)


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
