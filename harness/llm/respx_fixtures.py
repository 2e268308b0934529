"""respx fixtures: a workload's LLM calls answered in-process, with no provider server.

The answers come from the very code the server uses (``_responses.respond_to_chat``), so a unit test
sees the same bodies, token counts and errors as a trial. There are no control rules here and every
answer counts as delivered; use :class:`harness.llm.ProviderProcess` for faults.

Usage::

    from harness.llm.respx_fixtures import MOCK_BASE_URL, mock_provider

    with mock_provider() as provider:
        client = OpenAI(base_url=MOCK_BASE_URL + "/v1", api_key="x", max_retries=0)
        client.chat.completions.create(model="mock-gpt-4o", messages=[...])
        assert provider.entries[0].delivered

or, in a test module or conftest: ``from harness.llm.respx_fixtures import mock_llm  # noqa: F401``
and take the ``mock_llm`` fixture (a :class:`MockProvider` with respx active).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import respx

from harness.history import LedgerEntry
from harness.llm._prices import DEFAULT_PRICES, PriceTable
from harness.llm._responses import (
    Attribution,
    ChatRequestError,
    attribution_from_headers,
    models_body,
    nonce_for,
    respond_to_chat,
)
from harness.llm._respx_httpx2 import HTTPX2_AVAILABLE, MOCKER_NAME
from harness.llm._script import Script, load_script

MOCK_BASE_URL = "http://mock-provider.durabench.test"


class MockProvider:
    """Answers chat completions like the server and keeps an in-memory ledger (``entries``)."""

    def __init__(
        self, base_url: str = MOCK_BASE_URL, *, script: Script | Path | None = None,
        prices: PriceTable | None = None, seed: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.script = load_script(script) if isinstance(script, Path) else script
        self.prices = dict(DEFAULT_PRICES) if prices is None else dict(prices)
        self.seed = seed
        self.entries: list[LedgerEntry] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        """respx side effect for ``POST <base>/v1/chat/completions``."""
        received_ns = time.time_ns()
        nonce = nonce_for(self.seed, len(self.entries))
        reply = respond_to_chat(
            request.content, request.headers, prices=self.prices, script=self.script,
            nonce=nonce, created=int(time.time()),
        )
        self._record(request, reply.status, reply.prompt_tokens, reply.completion_tokens,
                     nonce, received_ns)
        return httpx.Response(reply.status, json=reply.body, headers=dict(reply.headers))

    def _record(self, request: httpx.Request, status: int, prompt: int, completion: int,
                nonce: str, received_ns: int) -> None:
        try:
            attribution = attribution_from_headers(request.headers)
        except ChatRequestError:
            attribution = Attribution()
        try:
            model = str(json.loads(request.content).get("model", ""))
        except (ValueError, AttributeError):
            model = ""
        price = self.prices.get(model)
        self.entries.append(LedgerEntry(
            request_id=f"req-{uuid.uuid4().hex}", workflow_id=attribution.workflow_id,
            step=attribution.step, attempt=attribution.attempt, executor=attribution.executor,
            model=model,
            received_ns=received_ns, responded_ns=time.time_ns(), status=status,
            prompt_tokens=prompt, completion_tokens=completion,
            cost_usd=price.cost_usd(prompt, completion) if price else 0.0,
            delivered=True, nonce=nonce,
        ))

    def route(self, router: respx.MockRouter) -> None:
        """Add this provider's routes to a respx router."""
        router.post(f"{self.base_url}/v1/chat/completions").mock(side_effect=self.handle)
        router.get(f"{self.base_url}/v1/models").mock(
            return_value=httpx.Response(200, json=models_body(self.prices))
        )

    @property
    def tokens_billed(self) -> int:
        return sum(e.tokens for e in self.entries)


@contextmanager
def mock_provider(
    base_url: str = MOCK_BASE_URL, *, script: Script | Path | None = None,
    prices: PriceTable | None = None, seed: int = 0,
) -> Iterator[MockProvider]:
    """Route ``base_url`` to a :class:`MockProvider` while the block runs.

    Both ``httpx`` and ``httpx2`` (the openai SDK's client) are mocked meanwhile; a request to any
    other URL raises respx's ``AllMockedAssertionError``.
    """
    provider = MockProvider(base_url, script=script, prices=prices, seed=seed)
    mockers = ["httpx", MOCKER_NAME] if HTTPX2_AVAILABLE else ["httpx"]
    with ExitStack() as stack:
        for using in mockers:
            provider.route(stack.enter_context(respx.mock(assert_all_called=False, using=using)))
        yield provider


@pytest.fixture
def mock_llm() -> Iterator[MockProvider]:
    """A :class:`MockProvider` at :data:`MOCK_BASE_URL`, respx active for the test."""
    with mock_provider() as provider:
        yield provider
