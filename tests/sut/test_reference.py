"""The ``reference`` SUT's client against a real Postgres: it reports its runtime's claim log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.env.postgres import postgres_from_env
from harness.history import Claim
from harness.sut import WorkerOptions, WorkerSpec
from harness.sut._protocol import ReportsClaims
from harness.sut.reference import (
    REFERENCE,
    REFERENCE_RESUME,
    ReferenceClient,
    claim_record,
    step_record,
)
from harness.workloads import WORKLOADS
from reference_runtime import StepInfo


@pytest.fixture(scope="module")
def client() -> Iterator[ReferenceClient]:
    with postgres_from_env(run_id="ref-client-tests") as pg, ReferenceClient(pg.url) as client:
        yield client


def test_the_client_reports_every_claim_with_its_epoch_executor_and_time(
    client: ReferenceClient,
) -> None:
    assert isinstance(client, ReportsClaims)
    workload = next(iter(WORKLOADS))
    client.start(workload, "claimed", {})
    runtime = client._rt  # claim as a worker would, without running the workflow
    for _ in range(2):  # a first claim, then a restart's (the same executor, not held)
        runtime.store.claim("w-1", names=[workload], held=[], limit=1, lease_s=30.0,
                            max_recovery_attempts=10, detect=False, locked=True)  # fmt: skip
    log = runtime.list_claims("claimed")
    assert [(c.reason, c.previous_owner) for c in log] == [("unowned", None), ("own", "w-1")]
    claims = client.claims(["claimed", "never-started"])
    assert claims == [Claim("claimed", 1, "w-1", log[0].claimed_ns),
                      Claim("claimed", 2, "w-1", log[1].claimed_ns)]  # fmt: skip
    assert claims == [claim_record(c) for c in log]
    assert claims[0].claimed_ns < claims[1].claimed_ns


def test_reference_resume_runs_resumable_llm_steps_recorded_as_llm_steps() -> None:
    spec = WorkerSpec(executor_id="w-1", workload="research_agent", postgres_url="pg",
                      provider_url="http://p", options=WorkerOptions())
    for sut, llm in ((REFERENCE, "chat"), (REFERENCE_RESUME, "responses")):
        argv = sut.worker_command(spec).argv
        assert argv[argv.index("--llm") + 1] == llm and "--checkpointing" in argv
    info = StepInfo("wf", 3, "llm_resume", {"step": 2, "nonce": "abc"}, None, "w-1", 2, 7)
    record = step_record(info)
    assert (record.kind, record.step, record.nonce) == ("llm", 2, "abc")
