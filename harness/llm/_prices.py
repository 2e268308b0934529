"""The provider's price table: which models exist and what a token costs.

Input (prompt) and output (completion) tokens are priced separately, in US dollars per 1M tokens;
the ledger's ``cost_usd`` of a request is ``prompt * input + completion * output`` at the price of
the model the request named. A ``--prices FILE`` replaces the default table entirely; its JSON
shape is::

    {"my-model": {"input_per_1m": 1.0, "output_per_1m": 4.0, "cached_input_per_1m": 0.1,
                  "max_output_tokens": 16384}, ...}

(``cached_input_per_1m`` and ``max_output_tokens`` are optional.) A model absent from the table
does not exist for the provider (404 ``model_not_found``). ``max_output_tokens`` (default 16,384:
GPT-4o's and GPT-4o mini's documented limit) caps ``max_tokens`` (a larger one is a 400, as OpenAI
answers) and the length of any answer.

The default table (:data:`DEFAULT_PRICES`) maps mock model names to the list prices of real
commercial models, standard tier, short context, as the vendors publish them; see
:data:`PRICE_SOURCES` for each page and the date it was read. The mock provider has no prompt
cache, so every prompt token is billed at the input price (an upper bound for agents whose
growing prompt would partly hit a real provider's cache); the cached-input price is kept in the
table for reference and reports.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per 1M prompt tokens and per 1M completion tokens (and per 1M cached prompt
    tokens, where the vendor publishes it)."""

    input_per_1m: float
    output_per_1m: float
    cached_input_per_1m: float | None = None
    max_output_tokens: int = 16_384

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


PriceTable = Mapping[str, ModelPrice]

PRICES_READ_ON = "2026-11-30"
"""When the vendor pages below were read (stored copies, through the project's search tool)."""

DEFAULT_MODEL = "mock-gpt-6.2-sol"
"""The mainstream default of the long workloads: OpenAI's "go-to model for everyday work, from
coding to powering agents at scale" on the day the table was read."""

DEFAULT_PRICES: PriceTable = {
    "mock-gpt-6.2-sol": ModelPrice(2.00, 10.00, 0.10),
    "mock-gpt-6-luna": ModelPrice(0.10, 0.50, 0.01),
    "mock-claude-sonnet-5.5": ModelPrice(2.00, 10.00, 0.20),
    "mock-claude-opus-5.5": ModelPrice(4.00, 20.00, None),
    # Legacy names kept for the short suite scenarios (GPT-4o's last published list prices).
    "mock-gpt-4o": ModelPrice(2.50, 10.00, 1.25),
    "mock-gpt-4o-mini": ModelPrice(0.15, 0.60, 0.075),
}

PRICE_SOURCES: Mapping[str, tuple[str, str]] = {
    "mock-gpt-6.2-sol": ("OpenAI gpt-6.2-sol",
                         "https://developers.openai.com/api/docs/models/gpt-6.2-sol"),
    "mock-gpt-6-luna": ("OpenAI gpt-6-luna",
                        "https://developers.openai.com/api/docs/models/gpt-6-luna"),
    "mock-claude-sonnet-5.5": ("Anthropic Claude Sonnet 5.5 (cached = cache read)",
                               "https://platform.claude.com/docs/en/models/sonnet-5-5/overview"),
    "mock-claude-opus-5.5": ("Anthropic Claude Opus 5.5 (cache read not recorded here)",
                             "https://platform.claude.com/docs/en/models/sonnet-5-5/overview"),
    "mock-gpt-4o": ("OpenAI gpt-4o (legacy)", "https://developers.openai.com/api/docs/pricing"),
    "mock-gpt-4o-mini": ("OpenAI gpt-4o-mini (legacy)",
                         "https://developers.openai.com/api/docs/pricing"),
}
"""Mock model -> (the real model it stands for, the vendor page its prices were read from)."""


def check_model(model: str, prices: PriceTable = DEFAULT_PRICES) -> str:
    """``model`` when the price table knows it; ValueError naming the known models otherwise."""
    if model not in prices:
        raise ValueError(f"unknown model {model!r}; the price table has: {', '.join(prices)}")
    return model


def prices_from_json(data: Any, *, source: str = "price table") -> PriceTable:
    """Build a price table from its JSON form; ValueError says which entry is wrong."""
    if not isinstance(data, Mapping) or not data:
        raise ValueError(
            f"{source}: expected a non-empty JSON object of "
            '{"model": {"input_per_1m": N, "output_per_1m": N}}'
        )
    table: dict[str, ModelPrice] = {}
    for model, price in data.items():
        try:
            cached = price.get("cached_input_per_1m")
            table[str(model)] = ModelPrice(
                input_per_1m=float(price["input_per_1m"]),
                output_per_1m=float(price["output_per_1m"]),
                cached_input_per_1m=None if cached is None else float(cached),
                max_output_tokens=int(price.get("max_output_tokens", 16_384)),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"{source}: model {model!r} needs numeric 'input_per_1m' and 'output_per_1m' "
                f"(and an integer 'max_output_tokens' if given) (got {price!r})"
            ) from exc
        if table[str(model)].max_output_tokens < 1:
            raise ValueError(f"{source}: model {model!r}: 'max_output_tokens' must be >= 1")
    return table


def load_prices(path: Path) -> PriceTable:
    """Read a ``--prices`` file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read price table {path}: {exc}") from exc
    return prices_from_json(data, source=str(path))
