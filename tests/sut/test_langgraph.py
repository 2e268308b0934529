"""The ``langgraph`` SUTs end to end: real Postgres with LangGraph's own ``PostgresSaver``, real
provider and worker processes, real SIGKILL.

Skipped (with what to install) when LangGraph is not installed; ``DURABENCH_REQUIRE=langgraph``
is for the scenario suite (the trial skips there), here the skip names the extra.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from harness.env.local import LocalEnvironment
from harness.faults import KillFault
from harness.net import toxiproxy_server
from harness.runner import golden_baseline, run_trial
from harness.sut import get_sut
from harness.sut.langgraph import (
    LANGGRAPH,
    META_ATTEMPT,
    META_EXECUTOR,
    final_output,
    step_record,
)
from harness.trial import Recovery, TrialResult, TrialSpec, canonical_params
from harness.triggers import Trigger
from harness.workloads import ResearchParams

PARAMS = ResearchParams(turns=2, tokens_per_turn=50, tool_result_tokens=40, tool_latency_s=0.05)

needs_langgraph = pytest.mark.skipif(LANGGRAPH.available() is not None,
                                     reason=str(LANGGRAPH.available()))  # fmt: skip


class _Env(LocalEnvironment):
    """The local environment, remembering each trial database's DSN so a test can read
    LangGraph's tables after the trial."""

    databases: list[str]

    def create_database(self, label: str) -> str:
        dsn = super().create_database(label)
        self.databases.append(dsn)
        return dsn

    def drop_database(self, url: str) -> None:
        """Kept: the tests read them after the trial (dropped with the cluster)."""


@pytest.fixture(scope="module")
def env() -> Iterator[_Env]:
    with _Env(run_id="langgraph-sut-test") as env:
        env.databases = []
        yield env


def spec(sut: str = "langgraph", **kwargs: object) -> TrialSpec:
    base: dict[str, object] = dict(
        scenario="test", sut=sut, params_json=canonical_params(PARAMS.to_json()), timeout_s=60.0
    )
    base.update(kwargs)
    return TrialSpec(**base)  # type: ignore[arg-type]


def killed_at_call(env: LocalEnvironment, sut: str, call: int) -> TrialResult:
    golden = golden_baseline(run_trial(env, spec(sut).golden()))
    trial = spec(sut, trigger=Trigger("received", call=call), trigger_name=f"held{call}",
                 fault=KillFault(), recovery=Recovery("restart"))  # fmt: skip
    return run_trial(env, trial, golden)


def checkpoint_metadata(dsn: str, thread_id: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT metadata FROM checkpoints WHERE thread_id = %s "
                            "ORDER BY checkpoint_id", (thread_id,)).fetchall()  # fmt: skip
    return [r[0] for r in rows]


@needs_langgraph
def test_a_thread_runs_and_its_history_is_read_back_from_the_checkpoint_tables(
    env: _Env,
) -> None:
    result = run_trial(env, spec().golden())
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 1, root
    llm = [s for s in history.steps if s.kind == "llm"]
    assert [s.step for s in llm] == list(range(PARAMS.llm_calls))
    assert [s.seq for s in history.steps] == sorted(s.seq for s in history.steps)
    assert {(s.executor, s.epoch) for s in history.steps} == {(root.executor, 1)}
    assert all(s.recorded_ns > 0 for s in history.steps), "every write's landing time is known"
    assert [s.nonce for s in llm] == [e.nonce for e in history.trial_ledger()]
    assert root.output["llm_nonces"] == {str(s.step): s.nonce for s in llm}
    assert [s.kind for s in history.steps].count("effect") == 1
    metadata = checkpoint_metadata(env.databases[-1], root.workflow_id)
    assert metadata and all(m[META_EXECUTOR] == root.executor and m[META_ATTEMPT] == 1
                            for m in metadata), metadata  # fmt: skip


@needs_langgraph
def test_the_pools_check_of_a_connection_whose_answers_are_black_holed_is_cut(env: _Env) -> None:
    """The pool checks each connection it hands the saver with a query of its own, inside
    ``getconn``: under the saver's lock and before the saver's watch has a connection. Black-hole
    the check's answer (a Toxiproxy ``timeout`` toxic: the link stays open, no TCP timeout fires):
    the check must be cut like any query, so that ``getconn`` ends -- here with the pool's own
    timeout, as no new connection can open either -- instead of hanging until the link closes."""
    from psycopg_pool import PoolTimeout

    from harness.sut.langgraph.worker import _pool

    dsn = env.create_database("pool-check")
    pg = conninfo_to_dict(dsn)
    errors: list[BaseException] = []
    with toxiproxy_server(f"lg-{uuid.uuid4().hex[:6]}") as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy(f"lg_pg_{uuid.uuid4().hex[:6]}", "127.0.0.1:0",
                                      f"{pg.get('host') or '127.0.0.1'}:{pg.get('port') or 5432}")
        proxied = make_conninfo(dsn, host=link.listen_host, port=str(link.listen_port))
        with _pool(proxied, lease_s=2.0, op_timeout_s=0.5) as pool:
            with pool.connection():
                pass  # an idle connection in the pool, checked when it is handed out next

            def take() -> None:
                try:
                    pool.putconn(pool.getconn(timeout=3.0))
                except BaseException as exc:
                    errors.append(exc)

            with toxiproxy.toxic(link.name, "timeout", stream="downstream", timeout=0):
                taker = threading.Thread(target=take, daemon=True)
                taker.start()
                taker.join(60.0)  # ~3.5 s expected; removing the toxic below closes the link
                hung = taker.is_alive()
    assert not hung, "getconn hung on the pool's check of a black-holed connection: it was not cut"
    assert len(errors) == 1 and isinstance(errors[0], PoolTimeout), errors


@needs_langgraph
def test_a_task_write_whose_commit_answer_is_black_holed_is_cut_after_it_committed(
    env: _Env,
) -> None:
    """The saver's pipeline sync waits for the answer to a task write's commit; black-holed (the
    write reaches Postgres and commits, its answer never comes back, the link stays open), the
    watch of :class:`WatchedSaver` must cut it: ``put_writes`` fails with OperationalError --
    the loop then resumes and finds the write -- instead of waiting until the link closes."""
    from psycopg.rows import dict_row

    from harness.sut.langgraph import connect, ensure_schema
    from harness.sut.langgraph.worker import WatchedSaver

    dsn = env.create_database("saver-cut")
    ensure_schema(dsn)
    pg = conninfo_to_dict(dsn)
    errors: list[BaseException] = []
    config: Any = {"configurable": {"thread_id": "t1", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    with toxiproxy_server(f"lg-{uuid.uuid4().hex[:6]}") as server, server.client() as toxiproxy:
        link = toxiproxy.create_proxy(f"lg_pg_{uuid.uuid4().hex[:6]}", "127.0.0.1:0",
                                      f"{pg.get('host') or '127.0.0.1'}:{pg.get('port') or 5432}")
        proxied = make_conninfo(dsn, host=link.listen_host, port=str(link.listen_port))
        conn = psycopg.connect(proxied, autocommit=True, prepare_threshold=0,
                               row_factory=dict_row)  # fmt: skip
        saver = WatchedSaver(conn)
        saver.op_timeout_s = 0.5
        saver.write_retry_s = 0.0  # the watch alone: no retry (on this one connection, cut)

        def write() -> None:
            try:
                saver.put_writes(config, [("__return__", {"x": 1})], "task-1", "~, 0")
            except BaseException as exc:
                errors.append(exc)

        try:
            with toxiproxy.toxic(link.name, "timeout", stream="downstream", timeout=0):
                writer = threading.Thread(target=write, daemon=True)
                writer.start()
                writer.join(60.0)  # ~0.5 s expected; removing the toxic below closes the link
                hung = writer.is_alive()
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.close()
    assert not hung, "put_writes hung on its black-holed commit: the saver's watch did not cut it"
    assert len(errors) == 1 and isinstance(errors[0], psycopg.OperationalError), errors
    with connect(dsn) as direct:
        rows = direct.execute("SELECT count(*) FROM checkpoint_writes WHERE thread_id = 't1'")
        assert rows.fetchone() == (1,), "the write committed: only its answer was lost"


@needs_langgraph
def test_a_task_write_that_meets_a_crashed_database_is_retried_until_it_is_back(
    env: _Env,
) -> None:
    """LangGraph submits a task's result write in the background and does not stop the run when
    it fails (the run finishes and the error surfaces only at its end: the result is lost for
    good). The adapter's saver retries the write: with Postgres crashed (real immediate shutdown)
    the write fails, and once Postgres is back the retry lands it."""
    from harness.sut.langgraph import connect, ensure_schema
    from harness.sut.langgraph.worker import WatchedSaver, _pool

    dsn = env.create_database("saver-retry")
    ensure_schema(dsn)
    failed = threading.Event()

    class _Failed(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "task write failed" in record.getMessage():
                failed.set()

    handler = _Failed()
    logging.getLogger("langgraph_worker").addHandler(handler)
    errors: list[BaseException] = []
    config: Any = {"configurable": {"thread_id": "t2", "checkpoint_ns": "", "checkpoint_id": "c1"}}
    try:
        with _pool(dsn, lease_s=2.0, op_timeout_s=5.0) as pool:
            saver = WatchedSaver(pool)

            def write() -> None:
                try:
                    saver.put_writes(config, [("__return__", {"x": 2})], "task-2", "~, 0")
                except BaseException as exc:
                    errors.append(exc)
                    failed.set()

            env.crash_postgres()
            try:
                writer = threading.Thread(target=write, daemon=True)
                writer.start()
                assert failed.wait(60.0), "the write did not fail against a crashed database"
            finally:
                env.start_postgres()
            writer.join(120.0)
            assert not writer.is_alive(), "the write was not retried to its end"
    finally:
        logging.getLogger("langgraph_worker").removeHandler(handler)
    assert not errors, f"the task write was given up: {errors}"
    with connect(dsn) as direct:
        rows = direct.execute("SELECT count(*) FROM checkpoint_writes WHERE thread_id = 't2'")
        assert rows.fetchone() == (1,), "the retried write landed once"


@needs_langgraph
def test_a_kill_mid_step_resumes_from_the_last_checkpoint(env: _Env) -> None:
    # Held at LLM call 3 (step 2): step 0's result was saved a whole step (LLM call and tool)
    # before, so its write has landed whatever the machine's load (LangGraph submits task
    # writes in the background, even with durability="sync").
    result = killed_at_call(env, "langgraph", 3)
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 2
    calls = [(e.step, e.attempt) for e in history.trial_ledger()]
    assert calls.count((0, 1)) == 1 and (0, 2) not in calls, "step 0 is not run again"
    assert (2, 1) in calls and (2, 2) in calls, "the step in flight is"
    epochs = {s.step: s.epoch for s in history.steps if s.kind == "llm"}
    assert epochs[0] == 1 and epochs[2] == epochs[3] == 2, epochs
    assert {s.executor for s in history.steps} == {root.executor}, "same executor id"
    metadata = checkpoint_metadata(env.databases[-1], root.workflow_id)
    assert {m[META_ATTEMPT] for m in metadata} == {1, 2}, metadata
    assert any(e.exit_code == -9 for e in history.events_of("worker_exited"))


@needs_langgraph
def test_the_checkpointing_off_twin_restarts_the_thread_from_its_input(env: _Env) -> None:
    assert LANGGRAPH.twin == "langgraph-nockpt"
    result = killed_at_call(env, "langgraph-nockpt", 2)
    assert result.valid == "true", result.judgement.summary()
    history = result.history
    root = history.workflows[0]
    assert root.status == "SUCCESS" and root.epoch == 2
    calls = [(e.step, e.attempt) for e in history.trial_ledger()]
    assert (0, 1) in calls and (0, 2) in calls, "the plan is made again"
    second = {str(e.step): e.nonce for e in history.trial_ledger() if e.attempt == 2}
    assert root.output["llm_nonces"] == second, "the output is the re-run's own"
    metadata = checkpoint_metadata(env.databases[-1], root.workflow_id)
    assert metadata and {m[META_ATTEMPT] for m in metadata} == {2}, (
        f"durability='exit' saved only the finished run: {metadata}")


@needs_langgraph
def test_fan_out_runs_each_sub_agent_as_a_child_thread(env: _Env) -> None:
    params = canonical_params({"agents": 2, "child_turns": 1, "tokens_per_turn": 30,
                               "tool_latency_s": 0.0})  # fmt: skip
    result = run_trial(env, TrialSpec(scenario="test", sut="langgraph", workload="multi_agent",
                                      params_json=params, timeout_s=60.0))  # fmt: skip
    workflows = result.history.workflows
    root = next(w for w in workflows if w.workflow_id in result.history.workflow_ids)
    children = [w for w in workflows if w.parent_id == root.workflow_id]
    assert root.status == "SUCCESS" and len(children) == 2
    assert all(c.status == "SUCCESS" for c in children)
    child_steps = {s.workflow_id for s in result.history.steps if s.kind == "llm"}
    assert {c.workflow_id for c in children} <= child_steps


def test_without_langgraph_the_sut_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None
                        if name.startswith("langgraph") else real(name, *a))  # fmt: skip
    for name in ("langgraph", "langgraph-nockpt"):
        reason = get_sut(name).available()
        assert reason is not None and "pip install 'durabench[langgraph]'" in reason
        assert get_sut(name).describe().install == "pip install 'durabench[langgraph]'"


def test_the_twins_differ_only_in_durability_and_promises() -> None:
    ckpt, nockpt = get_sut("langgraph"), get_sut("langgraph-nockpt")
    assert ckpt.checkpointing and not nockpt.checkpointing and nockpt.twin is None
    assert nockpt.promises < ckpt.promises
    assert "single_active_execution" not in ckpt.promises, "LangGraph has no fencing"
    assert "--durability" in ckpt.worker_command(_worker_spec()).argv
    assert "sync" in ckpt.worker_command(_worker_spec()).argv
    assert "exit" in nockpt.worker_command(_worker_spec()).argv
    assert "adapter" in ckpt.describe().summary, "the resume loop is the adapter's, said so"


def _worker_spec() -> Any:
    from harness.sut import WorkerSpec

    return WorkerSpec(workload="research_agent", postgres_url="host=x password=secret",
                      provider_url="http://127.0.0.1:1", executor_id="w1")


def test_secrets_travel_in_the_environment_not_argv() -> None:
    command = LANGGRAPH.worker_command(_worker_spec())
    assert not any("secret" in a for a in command.argv)
    assert "secret" in "".join(command.env.values())


@pytest.mark.parametrize(("values", "expected"), [
    ({"__start__": {"x": 1}}, (False, None)),
    ({"__end__": {"report": "r"}}, (True, {"report": "r"})),
    ({}, (False, None)),
])  # fmt: skip
def test_a_checkpoint_is_final_when_its_end_channel_holds_the_return_value(
    values: dict[str, Any], expected: tuple[bool, Any]
) -> None:
    assert final_output({"channel_values": values}) == expected


def test_writes_of_langgraphs_own_are_not_step_records() -> None:
    def decode(typed: tuple[str, bytes]) -> Any:
        return {"durabench_kind": "llm", "step": 3, "executor": "w1", "epoch": 2,
                "nonce": "n"} if typed[1] == b"ours" else {"some": "state"}  # fmt: skip

    path = "~__pregel_push, ~__pregel_pull, durabench_research_agent, 0000000004, 0000000001"
    ours = step_record(("t", path, "msgpack", b"ours", 123), decode)
    assert ours is not None and (ours.seq, ours.step, ours.epoch, ours.nonce) == (4, 3, 2, "n")
    assert step_record(("t", path, "msgpack", b"theirs", 123), decode) is None
