"""bounded_waste: redundant work is at most the work the fault caught in flight.

Only meaningful with checkpointing on (with it off: **unknown**, not promised by such SUTs).
The yardsticks are the harness's own evidence, never the SUT's records (docs/architecture.md,
"The evidence"): a runtime that records late, or pays a step twice, cannot widen its own allowance.

Precisely, with ``paths = workflow_paths(...)`` naming each workflow the same way in the golden
and the faulted run:

- Tokens: ``redundant_tokens = tokens_billed - golden.tokens_billed`` (see harness.figures) and
  ``allowance = sum(golden.tokens_at(paths[wf], step) for (wf, step) in in_flight_calls(h))`` --
  per workflow, the step whose LLM call the ledger shows made at or before ``fault_at`` while
  its successor's was not, valued at the golden run's cost of that (workflow, step); a workflow
  without a path, or a step the golden run did not pay, allows 0. Tokens the provider billed for
  calls it answered with an error (HTTP status >= 400: a 500 bills the prompt) are set aside: such
  a call returned no output, so issuing it again is a retry, not a replay of completed work (still
  counted in ``redundant_tokens``). Holds when ``redundant_tokens - provider_failed <=
  allowance`` exactly (no slack).
- Tool executions (when the golden run's count is known): ``redundant_tool_calls =
  tool_executions - golden.tool_executions``, with tool executions that finished with an error
  (``ok=False``: a retry, like a failed call) set aside; allowed: one per (workflow, step) of
  ``in_flight_tools`` (the in-flight step's tool, started at or before ``fault_at`` or cut off
  unfinished by the fault). Holds when ``redundant - failed <= allowed``.

**true** when both hold, **false** when either does not. **unknown** without a golden baseline or
when the fault never fired.
"""

from __future__ import annotations

from collections import Counter

from harness.checkers._evidence import Clock, clip
from harness.checkers._verdict import Verdict
from harness.figures import in_flight_calls, in_flight_tools
from harness.history import GoldenBaseline, History, Property, workflow_paths

__all__ = ["check"]

PROPERTY: Property = "bounded_waste"


def _allowance(history: History, golden: GoldenBaseline,
               in_flight: list[tuple[str, int]]) -> int:
    paths = workflow_paths(history.workflow_ids, history.workflows)
    return sum(golden.tokens_at(paths[wf], step) for wf, step in in_flight if wf in paths)


def _tool_breach(history: History, golden: GoldenBaseline) -> str | None:
    """Why redundant tool executions exceed the in-flight ones; None when they do not."""
    if golden.tool_executions is None:
        return None
    tools = history.trial_tools()
    failed = sum(1 for t in tools if t.ok is False)
    redundant = len(tools) - golden.tool_executions - failed
    allowed = len(in_flight_tools(history))
    if redundant <= allowed:
        return None
    return (f"{redundant} redundant tool execution(s) (besides {failed} that failed) > "
            f"{allowed} in flight")


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
    allowance = _allowance(history, golden, in_flight)
    clock = Clock(history)
    repeated = Counter((e.workflow_id, e.step) for e in ledger)
    calls = ", ".join(f"{wf} step {step}" for wf, step in in_flight) or "nothing"
    evidence = [f"in flight at the fault (from the ledger): {calls}; allowance {allowance} "
                f"tokens at the golden run's cost",
                f"billed {redundant + golden.tokens_billed} vs golden {golden.tokens_billed}, "
                f"{provider_failed} of it for calls the provider failed"]
    evidence += [clock.ledger(e) for e in ledger if repeated[(e.workflow_id, e.step)] > 1]
    tokens = (f"redundant {replayed} tokens (besides {provider_failed} billed for failed "
              f"calls)")
    if replayed > allowance:
        return Verdict(PROPERTY, "false",
                       f"{tokens} > in-flight allowance {allowance} ({len(in_flight)} call(s) "
                       f"in flight)", clip(evidence))
    tool_breach = _tool_breach(history, golden)
    if tool_breach is not None:
        evidence += [clock.tool(t) for t in history.trial_tools()]
        return Verdict(PROPERTY, "false", f"{tool_breach}; {tokens} <= allowance {allowance}",
                       clip(evidence))
    return Verdict(PROPERTY, "true", f"{tokens} <= in-flight allowance {allowance}",
                   clip(evidence))
