"""Triggers: when a fault fires.

Kinds (docs/architecture.md): LLM call *n* ``received`` (the call is held at the provider, so the
fault lands mid-step: tokens billed, response lost; it fires once the caller waits on the call,
which for a background response of the Responses API is its first retrieve, not its request), LLM
call *n* ``delivered`` (plus a settle time so the fault lands in the tool work between LLM steps),
step *k* ``checkpointed`` (read from the SUT's own store), ``after`` *t* seconds, and ``random`` (a
seeded time in a window).

Calls are counted per workflow, 1-based, in the order the provider received them, so call *n* is
the same logical point in the golden and the faulted run. A ``received`` trigger may name a
logical ``step`` instead of a call: it fires on that step's first call, however many calls
(failed attempts, retries) came before it.

:class:`ProviderRule` is part of a trial's world rather than of its fault: rules installed before
the workflow starts, in the golden run as in the faulted one (e.g. a step whose LLM call fails
for good), and retired when the trigger fires.

Lifecycle, driven by the trial runner: ``arm`` before the workflow starts, ``wait`` until it fires
(returns who was running the workflow then), ``after_inject`` once the fault is in (releases a held
call so the provider finishes and bills it), ``disarm`` in ``finally``.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Literal

from harness.history import JSONValue
from harness.llm import ProviderClient, WaitEvent
from harness.sut import SutClient

TriggerKind = Literal["received", "delivered", "checkpointed", "after", "random"]
TRIGGER_KINDS: tuple[TriggerKind, ...] = (
    "received", "delivered", "checkpointed", "after", "random",
)


@dataclass(frozen=True)
class ProviderRule:
    """A provider control rule scoped to the trial's workflow (see ``harness/llm/_rules.py``)."""

    action: str
    step: int | None = None
    status: int | None = None
    count: int = 1

    def install(self, provider: ProviderClient, workflow_id: str) -> str:
        return provider.add_rule(self.action, workflow_id=workflow_id, step=self.step,  # type: ignore[arg-type]
                                 status=self.status, count=self.count)  # fmt: skip

    def to_json(self) -> dict[str, JSONValue]:
        return {"action": self.action, "step": self.step, "status": self.status,
                "count": self.count}  # fmt: skip


class TriggerNeverFired(TimeoutError):
    """The trial ended or timed out before its trigger fired; its verdicts are unknown."""


@dataclass(frozen=True)
class Fired:
    """What the runner needs once a trigger fires."""

    at_ns: int
    executor: str | None
    """The executor that made the triggering call, when the trigger knows it."""
    detail: dict[str, JSONValue] = field(default_factory=dict)


@dataclass
class TriggerContext:
    provider: ProviderClient
    sut: SutClient
    workflow_id: str
    started_monotonic: float = 0.0
    rule_id: str | None = None


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    call: int | None = None
    step: int | None = None
    seconds: float | None = None
    settle_s: float = 0.0
    window_s: tuple[float, float] = (0.0, 1.0)
    seed: int = 0

    def __post_init__(self) -> None:
        needs = {"received": "call", "delivered": "call", "checkpointed": "step",
                 "after": "seconds"}  # fmt: skip
        if self.kind == "received" and self.call is None and self.step is not None:
            return  # the first call of a logical step
        if self.kind not in TRIGGER_KINDS:
            raise ValueError(
                f"unknown trigger kind {self.kind!r}; valid: {', '.join(TRIGGER_KINDS)}"
            )
        if self.kind in needs and getattr(self, needs[self.kind]) is None:
            raise ValueError(f"a {self.kind!r} trigger needs {needs[self.kind]}=")

    def to_json(self) -> dict[str, JSONValue]:
        spec: dict[str, JSONValue] = {"kind": self.kind}
        for key in ("call", "step", "seconds"):
            if getattr(self, key) is not None:
                spec[key] = getattr(self, key)
        if self.settle_s:
            spec["settle_s"] = self.settle_s
        if self.kind == "random":
            spec["window_s"] = list(self.window_s)
            spec["seed"] = self.seed
        return spec

    # -- lifecycle -----------------------------------------------------------------------------
    def arm(self, ctx: TriggerContext) -> None:
        ctx.started_monotonic = time.monotonic()
        if self.kind == "received":
            ctx.rule_id = ctx.provider.add_rule("hold", workflow_id=ctx.workflow_id, call=self.call,
                                                step=None if self.call else self.step)  # fmt: skip

    def wait(self, ctx: TriggerContext, timeout_s: float) -> Fired:
        if self.kind == "received" and self.call is None:
            return self._wait_step_call(ctx, timeout_s)
        if self.kind in ("received", "delivered"):
            assert self.call is not None
            # A held call lands the fault once its caller waits on it: at once on the chat path,
            # after the caller's first retrieve of a background response (it has the id then).
            event: WaitEvent = "awaited" if self.kind == "received" else "delivered"
            try:
                entry = ctx.provider.wait_for(ctx.workflow_id, self.call, event, timeout_s)
            except TimeoutError as exc:
                raise TriggerNeverFired(
                    f"LLM call {self.call} of {ctx.workflow_id} was not {self.kind} "
                    f"within {timeout_s:.1f}s"
                ) from exc
            if self.settle_s:
                time.sleep(self.settle_s)
            return Fired(time.time_ns(), entry.executor, {"call": self.call, "step": entry.step})
        if self.kind == "checkpointed":
            return self._wait_checkpoint(ctx, timeout_s)
        delay = self.planned_delay_s()
        remaining = ctx.started_monotonic + delay - time.monotonic()
        if remaining > timeout_s:
            raise TriggerNeverFired(f"trigger at {delay:.2f}s is past the trial timeout")
        time.sleep(max(0.0, remaining))
        return Fired(time.time_ns(), None, {"after_s": round(delay, 3)})

    def after_inject(self, ctx: TriggerContext) -> None:
        if ctx.rule_id is not None:
            ctx.provider.release(ctx.rule_id)
            ctx.rule_id = None

    def disarm(self, ctx: TriggerContext) -> None:
        self.after_inject(ctx)

    def planned_delay_s(self) -> float:
        """Seconds after ``arm`` that an ``after`` or ``random`` trigger fires (the same for the
        same seed)."""
        if self.kind == "after" and self.seconds is not None:
            return self.seconds
        if self.kind == "random":
            lo, hi = self.window_s
            return random.Random(self.seed).uniform(lo, hi)
        raise ValueError(f"a {self.kind!r} trigger fires on an event, not after a delay")

    def _wait_step_call(self, ctx: TriggerContext, timeout_s: float) -> Fired:
        """The first call of logical step ``step``, whatever its call number: a step retried
        before it (a runtime's own retry of a timed-out attempt) shifts call numbers, not steps.
        Like a call trigger, it fires once the caller waits on the held call."""
        assert self.step is not None
        try:
            call, entry = ctx.provider.wait_for_step(ctx.workflow_id, self.step, "awaited",
                                                     timeout_s)
        except TimeoutError as exc:
            raise TriggerNeverFired(
                f"no LLM call of step {self.step} of {ctx.workflow_id} within {timeout_s:.1f}s"
            ) from exc
        if self.settle_s:
            time.sleep(self.settle_s)
        return Fired(time.time_ns(), entry.executor, {"call": call, "step": self.step})

    def _wait_checkpoint(self, ctx: TriggerContext, timeout_s: float) -> Fired:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for record in ctx.sut.step_records([ctx.workflow_id]):
                if record.kind == "llm" and record.step == self.step:
                    return Fired(time.time_ns(), record.executor, {"step": self.step})
            time.sleep(0.01)
        raise TriggerNeverFired(
            f"step {self.step} of {ctx.workflow_id} was not checkpointed within {timeout_s:.1f}s"
            " (a SUT without checkpointing never fires this trigger)"
        )


# -- named crash points for agent loops of ``calls`` LLM calls -----------------------------------

CrashPoint = Literal["between_steps", "mid_step_early", "mid_step_late"]
CRASH_POINTS: tuple[CrashPoint, ...] = ("mid_step_early", "between_steps", "mid_step_late")
"""Ordered by how far into the loop they land."""


def crash_point(name: str, *, calls: int, tool_latency_s: float) -> tuple[Trigger, int]:
    """The trigger for a named crash point, and the logical step it lands in.

    - ``mid_step_early``: step 1's first call (call 2) is held at the provider (step 1 in
      flight);
    - ``between_steps``: call ``calls // 2`` was delivered, and the fault lands half-way through
      the tool that follows it (its LLM step already recorded by a checkpointing SUT);
    - ``mid_step_late``: the second-to-last step's first call is held (step ``calls - 2`` in
      flight).

    The mid-step points name a step, not a call number: a runtime that retries an earlier step
    (a Temporal attempt timed out on a starved machine) makes one call more, and the fault must
    still land in the step the scenario judges.
    """
    if calls < 4:
        raise ValueError(f"named crash points need a loop of at least 4 LLM calls, not {calls}")
    if name == "mid_step_early":
        return Trigger("received", step=1), 1
    if name == "between_steps":
        call = calls // 2
        return Trigger("delivered", call=call, settle_s=tool_latency_s / 2), call - 1
    if name == "mid_step_late":
        return Trigger("received", step=calls - 2), calls - 2
    raise ValueError(f"unknown crash point {name!r}; valid: {', '.join(CRASH_POINTS)}")
