"""The mock LLM provider and its token ledger.

The provider is an OpenAI-compatible HTTP server (``python -m harness.llm serve``) in its own
process. It bills every chat request in a ledger that outlives any worker, injects faults on command
(control API), and hosts the effect sink. This facade is what the rest of the harness uses:

- :class:`ProviderProcess` — run the provider as a subprocess (context manager);
- :class:`ProviderClient`  — control rules, long-poll triggers, ledger and effects (context
  manager);
- the attribution header names a workload must send on every LLM request:
  ``X-Durabench-Workflow-Id``, ``X-Durabench-Step`` (logical step index, int),
  ``X-Durabench-Attempt`` (execution attempt = the runtime's fencing epoch, int),
  ``X-Durabench-Executor``.

Contracts live in the private modules' docstrings: tokenizer (``_tokenizer``), answers
(``_responses``, ``_script``), ledger phases (``_ledger``), rules (``_rules``), the server and what
"delivered" means (``_server``), prices (``_prices``), effects (``_effects``). In-process unit tests
of a workload's LLM calls use :mod:`harness.llm.respx_fixtures` (imports respx; not re-exported).
"""

from __future__ import annotations

from harness.llm._client import ProviderClient, WaitEvent
from harness.llm._errors import (
    CallNotDeliveredError,
    ProviderError,
    ProviderRequestError,
    ProviderStartError,
)
from harness.llm._ledger import entry_from_json
from harness.llm._prices import (
    DEFAULT_MODEL,
    DEFAULT_PRICES,
    PRICE_SOURCES,
    PRICES_READ_ON,
    ModelPrice,
    PriceTable,
    check_model,
    load_prices,
)
from harness.llm._process import ProviderProcess
from harness.llm._responses import (
    HEADER_ATTEMPT,
    HEADER_EXECUTOR,
    HEADER_NONCE,
    HEADER_STEP,
    HEADER_TOKENS_PER_SECOND,
    HEADER_WORKFLOW_ID,
)
from harness.llm._rules import RuleAction
from harness.llm._tokenizer import count_prompt_tokens, count_text_tokens

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_PRICES",
    "HEADER_ATTEMPT",
    "HEADER_EXECUTOR",
    "HEADER_NONCE",
    "HEADER_STEP",
    "HEADER_TOKENS_PER_SECOND",
    "HEADER_WORKFLOW_ID",
    "PRICES_READ_ON",
    "PRICE_SOURCES",
    "CallNotDeliveredError",
    "ModelPrice",
    "PriceTable",
    "ProviderClient",
    "ProviderError",
    "ProviderProcess",
    "ProviderRequestError",
    "ProviderStartError",
    "RuleAction",
    "WaitEvent",
    "check_model",
    "count_prompt_tokens",
    "count_text_tokens",
    "entry_from_json",
    "load_prices",
]
