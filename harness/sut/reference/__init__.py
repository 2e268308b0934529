"""The ``reference``, ``reference-nockpt`` and ``reference-resume`` SUTs: workloads on
``reference_runtime``.

Each context call becomes one durable step of the runtime (``llm``, ``tool``, ``effect``), and
``fan_out`` becomes child workflows. The SUTs are one runtime with checkpointing on or off, and,
for ``reference-resume``, checkpointing on with resumable LLM steps (``llm_resume``): the call
goes through the Responses API in background mode, its response id is recorded before the step
waits (``reference_runtime.record_pending_ref``), and an execution that replays the step
retrieves that response instead of calling again (:func:`llm_resume_step`).

Registered as :data:`REFERENCE`, :data:`REFERENCE_NOCKPT` and :data:`REFERENCE_RESUME` (entry
points ``durabench.suts``). Worker side: ``python -m harness.sut.reference.worker
--checkpointing on|off [--llm chat|responses] ...`` sets the provider URL and runs :data:`app` in
a runtime worker loop. Harness side: :class:`ReferenceClient` starts workflows and reads the
runtime's store through its public API (``get_workflow``, ``list_steps``, ``list_claims``, ...):
it reports claims (``ReportsClaims``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from harness.history import (
    Claim,
    JSONValue,
    Outcome,
    Property,
    StepKind,
    StepRecord,
    WorkflowRecord,
)
from harness.sut import ALL_PROPERTIES
from harness.sut._protocol import (
    ClaimRecords,
    ClientContext,
    DurableSleep,
    EffectFencing,
    QueueLimits,
    RecoveryPolicyName,
    Service,
    ServiceContext,
    StoreRetry,
    SutClient,
    SutDescription,
    WorkerCommand,
    WorkerSpec,
)
from harness.sut._worker_cli import ENV_POSTGRES, ENV_PROVIDER
from harness.workloads import (
    WORKLOADS,
    AgentContext,
    ChildSpec,
    EffectFencedError,
    LlmReply,
    LlmRequest,
    ResponseNotReadyError,
    announce_fences,
    attribution,
    await_response,
    call_llm,
    cancel_response,
    post_effect,
    run_tool,
    start_response,
)
from reference_runtime import (
    App,
    ClaimInfo,
    FencedError,
    Runtime,
    StepInfo,
    WorkflowInfo,
    current_context,
    pending_ref,
    record_pending_ref,
)

NOCKPT_PROMISES: frozenset[Property] = frozenset(
    {"terminates", "single_outcome", "output_consistency", "effects_once"}
)
"""Without step records nothing fences a zombie before its outcome write (docs/architecture.md)."""

app = App("durabench-reference")


@dataclass
class _WorkerConfig:
    provider_url: str = ""
    runtime: Runtime | None = None
    resumable_llm: bool = False
    """``--llm responses``: LLM steps are resumable background responses (``reference-resume``)."""


WORKER = _WorkerConfig()
"""Set once by the worker entrypoint before the runtime starts claiming workflows."""


def _headers(step: int) -> dict[str, str]:
    ctx = current_context()
    if ctx is None:
        raise RuntimeError("a durabench step ran outside a reference_runtime workflow")
    return attribution(ctx.workflow_id, step, ctx.epoch, ctx.executor_id)


@app.step(name="llm", retries=4, backoff_s=0.2, backoff_max_s=2.0)
def llm_step(step: int, request: dict[str, Any]) -> dict[str, Any]:
    return dict(call_llm(WORKER.provider_url, step, request, _headers(step)))  # type: ignore[arg-type]


@app.step(name="llm_resume", retries=4, backoff_s=0.2, backoff_max_s=2.0, resumable=True)
def llm_resume_step(step: int, request: dict[str, Any]) -> dict[str, Any]:
    """A resumable LLM step: resume the response this step recorded, else start one, record
    its id (one fenced write), and wait for it."""
    headers = _headers(step)
    known = pending_ref()
    if isinstance(known, str):
        reply = _await_or_give_up(step, known, headers)
        if reply is not None:
            return dict(reply)
        # The provider no longer holds it (expired, restarted): call again, and pay again.
    response_id = start_response(WORKER.provider_url, request, headers)  # type: ignore[arg-type]
    try:
        record_pending_ref(response_id)
    except FencedError:
        # Superseded between the call and its record: nobody will ever retrieve this response.
        cancel_response(WORKER.provider_url, response_id, headers)
        raise
    reply = _await_or_give_up(step, response_id, headers)
    if reply is None:
        raise ResponseNotReadyError(f"response {response_id} of step {step} was dropped by the "
                                    "provider before it could be retrieved")
    return dict(reply)


def _await_or_give_up(step: int, response_id: str, headers: dict[str, str]) -> LlmReply | None:
    """The response's reply (None: the provider dropped it); past the LLM timeout the response
    is given up on -- cancelled, its reference cleared so the step's retry starts a new one."""
    try:
        return await_response(WORKER.provider_url, step, response_id, headers)
    except ResponseNotReadyError:
        cancel_response(WORKER.provider_url, response_id, headers)
        record_pending_ref(None)
        raise


@app.step(name="tool", retries=4, backoff_s=0.2, backoff_max_s=2.0)
def tool_step(
    step: int, name: str, arguments: dict[str, Any], latency_s: float, result_tokens: int
) -> dict[str, Any]:
    # Recorded in the provider's tool log, so it reaches the provider like an LLM call and
    # shares the LLM step's retry policy.
    result = run_tool(name, arguments, latency_s, result_tokens,
                      provider_url=WORKER.provider_url, headers=_headers(step))
    return {"step": step, "result": result}


@app.step(name="effect", retries=4, backoff_s=0.2, backoff_max_s=2.0)
def effect_step(step: int, name: str, key: str, payload: Any) -> dict[str, Any]:
    try:
        applied = post_effect(WORKER.provider_url, name, key, payload, _headers(step))
    except EffectFencedError as exc:
        # The sink knows a newer epoch (announced in its claim): stop like a fenced step write.
        raise FencedError(str(exc)) from exc
    return {"step": step, "applied": applied}


@app.step(name="sleep_until")
def sleep_deadline_step(step: int, seconds: float) -> dict[str, Any]:
    """A durable sleep on reference_runtime's public API: the wake-up time, recorded as a step,
    so a recovered execution waits out what is left of it, not the whole sleep again."""
    return {"step": step, "wake_at": time.time() + seconds}


def announce_epochs(fences: Sequence[tuple[str, int]]) -> None:
    """The runtime's claim hook: the effect sink learns each new epoch before the claim commits,
    so it refuses a superseded execution's effects from then on (docs/architecture.md)."""
    announce_fences(WORKER.provider_url, fences)


class _ReferenceContext:
    """AgentContext on reference_runtime: every call is one step."""

    @property
    def workflow_id(self) -> str:
        ctx = current_context()
        assert ctx is not None
        return ctx.workflow_id

    def llm(self, step: int, request: LlmRequest) -> LlmReply:
        if WORKER.resumable_llm:
            return llm_resume_step(step, dict(request))  # type: ignore[return-value]
        return llm_step(step, dict(request))  # type: ignore[return-value]

    def tool(
        self,
        step: int,
        name: str,
        arguments: Mapping[str, JSONValue],
        *,
        latency_s: float = 0.0,
        result_tokens: int = 100,
    ) -> JSONValue:
        return tool_step(step, name, dict(arguments), latency_s, result_tokens)["result"]

    def effect(self, step: int, name: str, key: str, payload: JSONValue) -> bool:
        return bool(effect_step(step, name, key, payload)["applied"])

    def fan_out(self, step: int, children: Sequence[ChildSpec]) -> list[JSONValue]:
        runtime = WORKER.runtime
        if runtime is None:
            raise RuntimeError(
                "fan_out needs the worker's runtime (set by harness.sut.reference.worker)")
        handles = [runtime.start_child(c.workload, dict(c.params)) for c in children]
        return [h.result() for h in handles]

    def sleep(self, step: int, seconds: float) -> None:
        wake_at = float(sleep_deadline_step(step, seconds)["wake_at"])
        time.sleep(max(0.0, wake_at - time.time()))


_CONTEXT: AgentContext = _ReferenceContext()


def _register(name: str) -> None:
    workload = WORKLOADS[name]

    def body(params: dict[str, Any]) -> Any:
        return workload(_CONTEXT, params)

    body.__name__ = name
    app.workflow(name=name)(body)


for _name in WORKLOADS:
    _register(_name)


# -- harness side ------------------------------------------------------------------------------

_KINDS: dict[str, StepKind] = {"llm": "llm", "llm_resume": "llm", "tool": "tool",
                               "effect": "effect"}


def step_record(info: StepInfo) -> StepRecord:
    output = info.output if isinstance(info.output, dict) else {}
    kind = _KINDS.get(info.name, "child" if "child" in info.name else "other")
    return StepRecord(
        workflow_id=info.workflow_id,
        seq=info.seq,
        name=info.name,
        kind=kind,
        step=output.get("step") if kind != "other" else None,
        executor=info.executor_id,
        epoch=info.epoch,
        recorded_ns=info.recorded_ns,
        nonce=output.get("nonce") if kind == "llm" else None,
        error=info.error is not None,
    )


def claim_record(info: ClaimInfo) -> Claim:
    """The runtime's claim log row as evidence (its reason and previous owner stay in the
    runtime's log; property 7 needs who took which epoch, and when)."""
    return Claim(
        workflow_id=info.workflow_id,
        epoch=info.epoch,
        executor=info.executor_id,
        claimed_ns=info.claimed_ns,
    )


def workflow_record(info: WorkflowInfo) -> WorkflowRecord:
    return WorkflowRecord(
        workflow_id=info.workflow_id,
        parent_id=info.parent_id,
        status=info.status,
        executor=info.executor_id,
        epoch=info.epoch,
        output=info.output if info.status == "SUCCESS" else info.error,
        recovery_attempts=info.recovery_attempts,
        created_ns=info.created_ns,
        updated_ns=info.updated_ns,
        # getattr: a runtime before schema 3 keeps no outcome writer (then None, not judged)
        outcome_epoch=getattr(info, "outcome_epoch", None),
        outcome_executor=getattr(info, "outcome_executor", None),
    )


CLIENT_DB_RETRY_S = 300.0
"""How long the harness's own client keeps retrying the store: it only drives and observes, so it
outwaits a Postgres that is slow to come back from a crash on a loaded machine (the workers keep
the runtime's own bound; their behaviour is what is judged)."""


class ReferenceClient:
    """Starts workflows and reads the runtime's store; never runs a workflow itself."""

    def __init__(self, postgres_url: str, observer: str = "harness") -> None:
        self._observer = observer
        self._rt = Runtime(app, postgres_url, executor_id=f"durabench-{observer}",
                           db_retry_s=CLIENT_DB_RETRY_S)

    def __enter__(self) -> ReferenceClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._rt.close()

    def start(self, workload: str, workflow_id: str, params: Mapping[str, JSONValue]) -> None:
        self._rt.start_workflow(workload, dict(params), workflow_id=workflow_id)

    def wait(self, workflow_id: str, timeout_s: float) -> Outcome:
        deadline = time.monotonic() + timeout_s
        while True:
            info = self._rt.get_workflow(workflow_id)
            if info is not None and info.status != "PENDING":
                record = workflow_record(info)
                return Outcome(workflow_id, self._observer, record.status, record.output,
                               time.time_ns())
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"workflow {workflow_id} still {info.status if info else 'missing'} "
                    f"after {timeout_s:.1f}s"
                )
            time.sleep(0.05)

    def workflows(self, root_ids: Sequence[str]) -> list[WorkflowRecord]:
        found: list[WorkflowRecord] = []
        frontier = list(root_ids)
        while frontier:
            wid = frontier.pop()
            info = self._rt.get_workflow(wid)
            if info is None:
                continue
            found.append(workflow_record(info))
            frontier.extend(c.workflow_id for c in self._rt.list_workflows(parent_id=wid))
        return found

    def step_records(self, workflow_ids: Sequence[str]) -> list[StepRecord]:
        return [step_record(s) for wid in workflow_ids for s in self._rt.list_steps(wid)]

    def claims(self, workflow_ids: Sequence[str]) -> list[Claim]:
        """``ReportsClaims``: the runtime's claim log, written by each claim's own statement."""
        return [claim_record(c) for wid in workflow_ids for c in self._rt.list_claims(wid)]


@dataclass(frozen=True)
class ReferenceSut:
    """``reference`` (checkpointing on), ``reference-nockpt`` (off) or ``reference-resume`` (on,
    LLM steps resumable): one runtime, three modes."""

    name: str
    checkpointing: bool
    promises: frozenset[Property]
    twin: str | None = None
    resumable_llm: bool = False
    recovery_policies: frozenset[RecoveryPolicyName] = frozenset(
        {"restart", "delayed", "standby", "rolling"}
    )
    durable_store: str = "postgres"

    def available(self) -> str | None:
        return None

    def describe(self) -> SutDescription:
        mode = "checkpointing on" if self.checkpointing else "checkpointing off (re-runs all)"
        if self.resumable_llm:
            mode += ", LLM steps resumable (Responses API, background; id recorded first)"
        notes: tuple[str, ...] = (
            "leases with heartbeats and fencing epochs; a standby takes over as soon as "
            "the owner's Postgres session ends (process death), else when its lease "
            "expires (pause, partition)",)
        if self.resumable_llm:
            notes += ("an LLM step records the provider's response id before it waits (one more "
                      "fenced write per LLM step); a replay retrieves that response instead of "
                      "calling again, and calls again (paying again) when the provider dropped "
                      "it",)
        return SutDescription(
            summary=f"reference_runtime (this project), {mode}",
            install="",
            notes=notes,
            effect_fencing=EffectFencing(
                True, "each claim announces its new epoch to the effect sink inside the claim's "
                "transaction, before it commits; the sink refuses lower epochs from then on and "
                "a refused effect stops the execution like a fenced step write"),
            claim_records=ClaimRecords(
                True, "a claim's transaction raises workflows.epoch and sets workflows.executor "
                "before the execution runs a step"),
            claim_poll=r"UPDATE \S+\.workflows w SET\s+epoch = w\.epoch \+ 1",  # _store.CLAIM
            store_retry=StoreRetry(
                True, "store_retry_s is the runtime's db_retry_s (default 60 s): each store "
                "operation retries a lost connection that long, then the execution gives up "
                "without an outcome and the workflow's own worker claims it again once the "
                "store answers (another worker, after its lease)"),
            durable_sleep=DurableSleep(
                self.checkpointing,
                "a step (sleep_until) records the wake-up time; a recovered execution replays it "
                "and sleeps only what is left" if self.checkpointing else "checkpointing off: "
                "the wake-up time is not kept, and a rerun sleeps the whole sleep again"),
            queue_limits=QueueLimits(
                True, False, "worker_concurrency is the runtime's max_concurrency (default 16): "
                "a worker claims no more workflows than it has free slots, a workflow blocked on "
                "its children giving its slot back; there is no limit across workers"),
        )

    def services(self, ctx: ServiceContext) -> Sequence[Service]:
        return ()

    def worker_command(self, spec: WorkerSpec) -> WorkerCommand:
        o = spec.options
        argv: tuple[str, ...] = (
            sys.executable, "-m", "harness.sut.reference.worker",
            "--checkpointing", "on" if self.checkpointing else "off",
            "--workload", spec.workload,
            "--executor-id", spec.executor_id,
            "--lease", str(o.lease_s),
            "--heartbeat", str(o.heartbeat_s),
            "--poll", str(o.poll_s),
            "--grace", str(o.grace_s),
            "--max-recovery-attempts", str(o.max_recovery_attempts),
            "--llm", "responses" if self.resumable_llm else "chat",
        )  # fmt: skip
        if o.store_retry_s is not None:
            argv += ("--db-retry", str(o.store_retry_s))
        if o.worker_concurrency:
            argv += ("--max-concurrency", str(o.worker_concurrency))
        return WorkerCommand(argv, {ENV_POSTGRES: spec.postgres_url,
                                    ENV_PROVIDER: spec.provider_url})

    def connect(self, ctx: ClientContext) -> SutClient:
        return ReferenceClient(ctx.postgres_url)


REFERENCE = ReferenceSut("reference", checkpointing=True, promises=ALL_PROPERTIES,
                         twin="reference-nockpt")
"""Entry point ``durabench.suts: reference``."""
REFERENCE_NOCKPT = ReferenceSut("reference-nockpt", checkpointing=False,
                                promises=NOCKPT_PROMISES, twin=None)
"""Entry point ``durabench.suts: reference-nockpt``."""
REFERENCE_RESUME = ReferenceSut("reference-resume", checkpointing=True, promises=ALL_PROPERTIES,
                                twin="reference-nockpt", resumable_llm=True)
"""Entry point ``durabench.suts: reference-resume``."""
