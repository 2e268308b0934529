"""The provider's price table: which models exist and what a token costs.

Input (prompt) and output (completion) tokens are priced separately, in US dollars per 1M tokens.
A ``--prices FILE`` replaces the default table entirely; its JSON shape is::

    {"my-model": {"input_per_1m": 1.0, "output_per_1m": 4.0, "max_output_tokens": 16384}, ...}

A model absent from the table does not exist for the provider (404 ``model_not_found``).
``max_output_tokens`` (optional, default 16,384: GPT-4o's and GPT-4o mini's documented limit) caps
``max_tokens`` (a larger one is a 400, as OpenAI answers) and the length of any answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per 1M prompt tokens and per 1M completion tokens."""

    input_per_1m: float
    output_per_1m: float
    max_output_tokens: int = 16_384

    def cost_usd(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_per_1m + completion_tokens * self.output_per_1m) / 1e6


PriceTable = Mapping[str, ModelPrice]

DEFAULT_PRICES: PriceTable = {
    "mock-gpt-4o": ModelPrice(input_per_1m=2.50, output_per_1m=10.00),
    "mock-gpt-4o-mini": ModelPrice(input_per_1m=0.15, output_per_1m=0.60),
}


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
            table[str(model)] = ModelPrice(
                input_per_1m=float(price["input_per_1m"]),
                output_per_1m=float(price["output_per_1m"]),
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
