"""Simulated generation time (non-blocking) and a --prices table."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest
from llm_provider_support import USER, openai_client

from harness.llm import ProviderClient, ProviderProcess


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
