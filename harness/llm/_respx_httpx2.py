"""Teach respx to intercept ``httpx2``, the HTTP client of recent ``openai`` SDKs.

respx patches ``httpx`` only, while ``openai`` 3.x sends through ``httpx2`` (pydantic's fork). This
module registers a respx :class:`~respx.mocks.Mocker` named ``"httpx2"`` that swaps an httpx2
client's transport for a mock transport, bridging each request to httpx, through respx's routers,
and the answer back to httpx2. Use it with ``respx.mock(using="httpx2")``.

Importing this module registers the mocker (respx's registry is keyed by name, once per process);
``HTTPX2_AVAILABLE`` is False, and nothing is registered, when httpx2 is not installed. Unmatched
requests raise respx's ``AllMockedAssertionError``; pass-through to the network is not supported.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
from respx.mocks import Mocker

HTTPX2_AVAILABLE = importlib.util.find_spec("httpx2") is not None
MOCKER_NAME = "httpx2"


def _to_httpx(request: Any) -> httpx.Request:
    return httpx.Request(
        request.method, str(request.url), headers=list(request.headers.raw),
        content=request.content,
    )


if HTTPX2_AVAILABLE:
    import httpx2

    def _to_httpx2(response: httpx.Response) -> httpx2.Response:
        return httpx2.Response(
            response.status_code, headers=list(response.headers.raw), content=response.content
        )

    class HTTPX2Mocker(Mocker):
        """respx mocker for ``httpx2.Client`` / ``httpx2.AsyncClient``."""

        name: ClassVar[str] = MOCKER_NAME
        targets: ClassVar[list[str]] = ["httpx2._client.Client", "httpx2._client.AsyncClient"]
        target_methods: ClassVar[list[str]] = ["_transport_for_url"]

        @classmethod
        def mock(cls, spec: Callable[..., Any]) -> Callable[..., Any]:
            def sync_bridge(request: Any) -> Any:
                request.read()
                return _to_httpx2(cls.handler(_to_httpx(request)))

            async def async_bridge(request: Any) -> Any:
                await request.aread()
                return _to_httpx2(await cls.async_handler(_to_httpx(request)))

            def _transport_for_url(self: Any, *args: Any, **kwargs: Any) -> Any:
                is_async = inspect.iscoroutinefunction(self.request)
                return httpx2.MockTransport(async_bridge if is_async else sync_bridge)

            return _transport_for_url
