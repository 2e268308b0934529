"""Control rules: the faults and triggers the harness injects into the provider.

A rule is ``{"action", "match", "status", "count", "retry_after_s", "latency_s"}``:

- ``match`` fields are ANDed; a null field matches anything. ``workflow_id`` is the
  ``X-Durabench-Workflow-Id`` header; ``step`` equals the ``X-Durabench-Step`` header; ``call``
  matches the workflow's calls numbered ``>= call`` (1-based arrival order), so
  ``call=3, count=1`` is exactly the third call and ``call=3, count=2`` the third and fourth.
- ``count`` (default 1): how many matching calls the rule applies to; then it stops matching.
- ``hold``: the call waits, after it is recorded as received and before generating, until released;
  then it is generated and billed in full even if its client has gone (``delivered`` false).
- ``hang``: the call waits the same way, but a hung call whose client has gone by the time it is
  released is abandoned: status 499, billed nothing (it never generated). A live client gets its
  answer late.
- ``fail``: answer ``status`` (429, 500 or 503) with an OpenAI error body; 429 carries
  ``Retry-After: retry_after_s`` (default 1). 429 and 503 bill nothing; 500 bills the prompt tokens
  only (the provider read the prompt, then failed).
- ``latency``: add ``latency_s`` before answering (on top of the generation time).

A call claims every matching hold / hang / latency rule, and the oldest matching fail rule.
Releasing a rule (``POST /control/release``) lets its waiting calls continue and retires it: it
matches no later call. ``DELETE /control/rules`` releases and removes every rule.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

RuleAction = Literal["hold", "fail", "hang", "latency"]
RULE_ACTIONS: tuple[RuleAction, ...] = ("hold", "fail", "hang", "latency")
FAIL_STATUSES: frozenset[int] = frozenset({429, 500, 503})


@dataclass(frozen=True)
class RuleMatch:
    workflow_id: str | None = None
    call: int | None = None
    step: int | None = None

    def matches(self, workflow_id: str | None, call: int, step: int | None) -> bool:
        return (
            (self.workflow_id is None or self.workflow_id == workflow_id)
            and (self.call is None or call >= self.call)
            and (self.step is None or self.step == step)
        )


@dataclass(frozen=True)
class RuleSpec:
    action: RuleAction
    match: RuleMatch
    status: int | None = None
    count: int = 1
    retry_after_s: float | None = None
    latency_s: float = 0.0


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"match.{key} must be an integer or null, got {value!r}")
    return value


def _match_from_json(data: Any) -> RuleMatch:
    if data is None:
        return RuleMatch()
    if not isinstance(data, Mapping):
        raise ValueError(f"'match' must be an object, got {data!r}")
    workflow_id = data.get("workflow_id")
    if workflow_id is not None and not isinstance(workflow_id, str):
        raise ValueError(f"match.workflow_id must be a string or null, got {workflow_id!r}")
    return RuleMatch(workflow_id, _optional_int(data, "call"), _optional_int(data, "step"))


def rule_from_json(data: Any) -> RuleSpec:
    """Validate a ``POST /control/rules`` body; ValueError says what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError("a rule must be a JSON object")
    action = data.get("action")
    if action not in RULE_ACTIONS:
        raise ValueError(f"'action' must be one of {list(RULE_ACTIONS)}, got {action!r}")
    status = data.get("status")
    if action == "fail" and status not in FAIL_STATUSES:
        raise ValueError(f"a fail rule needs 'status' in {sorted(FAIL_STATUSES)}, got {status!r}")
    count = data.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"'count' must be a positive integer, got {count!r}")
    try:
        retry_after = data.get("retry_after_s")
        latency = float(data.get("latency_s") or 0.0)
        retry_after_s = None if retry_after is None else float(retry_after)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"'latency_s' and 'retry_after_s' must be numbers: {exc}") from exc
    if latency < 0 or (retry_after_s is not None and retry_after_s < 0):
        raise ValueError("'latency_s' and 'retry_after_s' must not be negative")
    return RuleSpec(action, _match_from_json(data.get("match")), status, count, retry_after_s,
                    latency)


@dataclass(frozen=True)
class Gate:
    """A hold or hang a call must pass: it opens when its rule is released."""

    rule_id: str
    action: Literal["hold", "hang"]
    released: asyncio.Event


@dataclass(frozen=True)
class CallPlan:
    """What the rules do to one call."""

    gates: tuple[Gate, ...] = ()
    fail: RuleSpec | None = None
    latency_s: float = 0.0


class _Rule:
    def __init__(self, rule_id: str, spec: RuleSpec) -> None:
        self.rule_id = rule_id
        self.spec = spec
        self.remaining = spec.count
        self.released = asyncio.Event()


class RuleBook:
    """The provider's active rules, in the order they were added."""

    def __init__(self) -> None:
        self._rules: dict[str, _Rule] = {}
        self._ids = itertools.count(1)

    def add(self, spec: RuleSpec) -> str:
        rule_id = f"rule-{next(self._ids)}"
        self._rules[rule_id] = _Rule(rule_id, spec)
        return rule_id

    def claim(self, workflow_id: str | None, call: int, step: int | None) -> CallPlan:
        """Consume one use of every rule that applies to this call; returns what to do."""
        gates: list[Gate] = []
        fail: RuleSpec | None = None
        latency = 0.0
        for rule in self._rules.values():
            spec = rule.spec
            if rule.remaining < 1 or not spec.match.matches(workflow_id, call, step):
                continue
            if spec.action == "fail" and fail is not None:
                continue
            rule.remaining -= 1
            if spec.action in ("hold", "hang"):
                action: Literal["hold", "hang"] = "hold" if spec.action == "hold" else "hang"
                gates.append(Gate(rule.rule_id, action, rule.released))
            elif spec.action == "fail":
                fail = spec
            else:
                latency += spec.latency_s
        return CallPlan(tuple(gates), fail, latency)

    def release(self, rule_id: str | None = None) -> list[str]:
        """Open the gates of one rule (or all) and retire it; KeyError for an unknown id."""
        if rule_id is not None and rule_id not in self._rules:
            raise KeyError(rule_id)
        chosen = [self._rules[rule_id]] if rule_id is not None else list(self._rules.values())
        for rule in chosen:
            rule.remaining = 0
            rule.released.set()
        return [r.rule_id for r in chosen]

    def reset(self) -> None:
        """Release and remove every rule."""
        self.release()
        self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The rules as JSON (``GET /control/rules``)."""
        return [
            {"rule_id": r.rule_id, **asdict(r.spec), "remaining": r.remaining,
             "released": r.released.is_set()}
            for r in self._rules.values()
        ]
