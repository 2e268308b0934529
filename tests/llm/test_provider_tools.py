"""The tool log: a tool execution announced by a worker is recorded, attributed and survives the
worker; ``run_tool`` records through it; a provider restarted on the same ledger remembers it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.llm import ProviderClient, ProviderProcess
from harness.workloads import attribution, run_tool


def test_run_tool_records_start_and_finish(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    headers = attribution(workflow_id, 3, 2, "worker-a")
    result = run_tool("search", {"query": "q"}, 0.0, 5, provider_url=provider.url,
                      headers=headers)
    assert result == run_tool("search", {"query": "q"}, 0.0, 5)  # recording changes no answer
    (execution,) = client.tools(workflow_id)
    assert (execution.name, execution.step, execution.attempt, execution.executor) == (
        "search", 3, 2, "worker-a")
    assert execution.ok is True
    assert execution.finished_ns is not None and execution.finished_ns >= execution.started_ns


_HANG = """
import sys
from harness.workloads import attribution, run_tool
run_tool("search", {"query": "q"}, 60.0, 5, provider_url=sys.argv[1],
         headers=attribution(sys.argv[2], 1, 1, "doomed"))
"""


def test_a_worker_killed_mid_tool_leaves_an_unfinished_execution(
    provider: ProviderProcess, client: ProviderClient, workflow_id: str
) -> None:
    worker = subprocess.Popen([sys.executable, "-c", _HANG, provider.url, workflow_id])
    try:
        # Kill only once the provider recorded the start (the tool then runs for 60 s): the
        # order is pinned by the harness's own evidence, not by a sleep.
        deadline = time.monotonic() + 120
        while not client.tools(workflow_id) and worker.poll() is None:
            assert time.monotonic() < deadline, "the worker never announced its tool"
            time.sleep(0.05)
        assert worker.poll() is None, f"the worker exited early ({worker.returncode})"
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(30)
    (execution,) = client.tools(workflow_id)
    assert execution.executor == "doomed"
    assert (execution.finished_ns, execution.ok) == (None, None)


def test_bad_tool_requests_are_refused(provider: ProviderProcess) -> None:
    no_name = httpx.post(provider.url + "/v1/tools", json={}, timeout=5)
    assert no_name.status_code == 400 and "name" in no_name.json()["error"]["message"]
    bad_step = httpx.post(provider.url + "/v1/tools", json={"name": "search"},
                          headers={"X-Durabench-Step": "two"}, timeout=5)
    assert bad_step.status_code == 400
    unknown = httpx.post(provider.url + "/v1/tools/tool-nope/finish", json={"ok": True},
                         timeout=5)
    assert unknown.status_code == 404


def test_the_unreachable_tool_log_fails_the_tool() -> None:
    with pytest.raises(httpx.HTTPError):
        run_tool("search", {}, 0.0, 1, provider_url="http://127.0.0.1:9",
                 headers=attribution("wf", 0, 1, "w"))


def test_a_restarted_provider_remembers_its_tool_log(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with ProviderProcess(ledger_path=ledger, run_id="tests-tools") as first:
        run_tool("search", {}, 0.0, 1, provider_url=first.url,
                 headers=attribution("wf-r", 0, 1, "w"))
    with ProviderProcess(ledger_path=ledger, run_id="tests-tools") as second, \
            ProviderClient(second.url) as client:
        assert [t.workflow_id for t in client.tools("wf-r")] == ["wf-r"]
