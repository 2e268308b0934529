"""bounded_waste: redundant tokens are at most the tokens of the calls the fault caught in flight.

Only meaningful with checkpointing on (with it off: **unknown**, not promised by such SUTs).

Precisely: ``redundant_tokens = tokens_billed - golden.tokens_billed`` (see harness.figures) and
``allowance = sum(golden.step_tokens[step] for (workflow, step) in in_flight_calls(history))`` --
one golden call's tokens per in-flight (workflow, logical step) pair; a step missing from
``golden.step_tokens`` allows 0. Tokens the provider billed for calls it answered with an error
(HTTP status >= 400: a 500 bills the prompt) are set aside: such a call returned no output, so
issuing it again is a retry, not a replay of completed work, and what it cost is the provider's
doing (still counted in ``redundant_tokens``). **true** when
``redundant_tokens - provider_failed <= allowance`` exactly (no slack), else **false**.
**unknown** without a golden baseline or when the fault never fired.
"""

from __future__ import annotations

from collections import Counter

from harness.checkers._evidence import Clock, clip
from harness.checkers._verdict import Verdict
from harness.figures import in_flight_calls
from harness.history import History, Property

__all__ = ["check"]

PROPERTY: Property = "bounded_waste"


def check(history: History) -> Verdict:
    if not history.checkpointing:
        return Verdict(PROPERTY, "unknown", "checkpointing is off: waste is not bounded by design")
    golden = history.golden
    if golden is None:
        return Verdict(PROPERTY, "unknown", "no golden baseline to measure waste against")
    if history.fault_at_ns is None:
        return Verdict(PROPERTY, "unknown", "the fault never fired: nothing could be wasted")
    ledger = history.trial_ledger()
    redundant = sum(e.tokens for e in ledger) - golden.tokens_billed
    provider_failed = sum(e.tokens for e in ledger if e.status >= 400)
    replayed = redundant - provider_failed
    in_flight = sorted(in_flight_calls(history))
    allowance = sum(golden.step_tokens.get(step, 0) for _, step in in_flight)
    clock = Clock(history)
    repeated = Counter((e.workflow_id, e.step) for e in ledger)
    calls = ", ".join(f"{wf} step {step}" for wf, step in in_flight) or "nothing"
    evidence = [f"in flight at the fault: {calls}; allowance {allowance} tokens",
                f"billed {redundant + golden.tokens_billed} vs golden {golden.tokens_billed}, "
                f"{provider_failed} of it for calls the provider failed"]
    evidence += [clock.ledger(e) for e in ledger if repeated[(e.workflow_id, e.step)] > 1]
    if replayed <= allowance:
        return Verdict(PROPERTY, "true",
                       f"redundant {replayed} tokens (besides {provider_failed} billed for failed "
                       f"calls) <= in-flight allowance {allowance}", clip(evidence))
    return Verdict(PROPERTY, "false",
                   f"redundant {replayed} tokens (besides {provider_failed} billed for failed "
                   f"calls) > in-flight allowance {allowance} ({len(in_flight)} call(s) in flight)",
                   clip(evidence))
