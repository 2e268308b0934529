"""The provider's state inside its process: config, ledger, effect sink, rules, stored Responses,
nonce counter.

One :class:`ProviderState` per aiohttp application, created on startup and closed on cleanup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.llm._effects import EffectGate, EffectSink, FenceGate, effects_path_for
from harness.llm._ledger import Ledger
from harness.llm._prices import DEFAULT_PRICES, PriceTable
from harness.llm._response_store import ResponseStore
from harness.llm._responses import error_body, nonce_for
from harness.llm._rules import RuleBook
from harness.llm._script import Script

DEFAULT_TOKENS_PER_SECOND = 5000.0
DEFAULT_RESPONSE_TTL_S = 600.0
"""How long a stored Response (Responses API) can be retrieved: ``--response-ttl``."""


@dataclass(frozen=True)
class ProviderConfig:
    """Everything ``python -m harness.llm serve`` was told."""

    ledger_path: Path
    prices: PriceTable = field(default_factory=lambda: dict(DEFAULT_PRICES))
    script: Script | None = None
    seed: int = 0
    tokens_per_second: float = DEFAULT_TOKENS_PER_SECOND
    response_ttl_s: float = DEFAULT_RESPONSE_TTL_S


class ProviderState:
    """Live state of one provider; ``close()`` on shutdown."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.ledger = Ledger(config.ledger_path)
        self.effects = EffectSink(effects_path_for(config.ledger_path))
        self.fence_gate = FenceGate()
        self.effect_gate = EffectGate()
        self.rules = RuleBook()
        self.responses = ResponseStore(config.response_ttl_s)
        # Continue the nonce sequence of a reused ledger so nonces stay unique within the file.
        self._nonces = len(self.ledger)

    def next_nonce(self) -> str:
        nonce = nonce_for(self.config.seed, self._nonces)
        self._nonces += 1
        return nonce

    def generation_delay_s(self, completion_tokens: int, tokens_per_second: float | None = None
                           ) -> float:
        """Simulated generation time: the request's own speed when it sent one, else the
        provider's ``--tokens-per-second`` (0 = no delay)."""
        tps = self.config.tokens_per_second if tokens_per_second is None else tokens_per_second
        return completion_tokens / tps if tps > 0 else 0.0

    def close(self) -> None:
        self.responses.close()
        self.ledger.close()
        self.effects.close()


PROVIDER_STATE = web.AppKey("provider_state", ProviderState)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def error_response(status: int, message: str, *, type: str = "invalid_request_error",
                   code: str | None = None, param: str | None = None) -> web.Response:
    """An OpenAI-style error response (also used by the control API)."""
    return json_response(status, error_body(message, type=type, code=code, param=param))
