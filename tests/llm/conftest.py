"""Fixtures for the provider's tests: one real provider process per test session (per xdist worker),
a client that resets the rules after each test, and an OpenAI SDK client pointed at the provider."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from harness.llm import ProviderClient, ProviderProcess


@pytest.fixture(scope="session")
def provider() -> Iterator[ProviderProcess]:
    with ProviderProcess(tokens_per_second=0, run_id="tests-llm", seed=1) as process:
        yield process


@pytest.fixture
def client(provider: ProviderProcess) -> Iterator[ProviderClient]:
    with ProviderClient(provider.url, timeout_s=10.0) as control:
        yield control
        control.reset()


@pytest.fixture
def workflow_id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"
