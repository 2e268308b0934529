"""``WorkerOptions.store_retry_s``: each built-in SUT says whether it sets a store retry window
(``SutDescription.store_retry``), and the ones that do pass it to their workers' own setting."""

from __future__ import annotations

import importlib.util

import pytest

from harness.sut import WorkerOptions, WorkerSpec, get_sut
from harness.sut._catalog import _entry, _lines
from harness.sut.reference.worker import _parser as reference_worker_parser
from harness.trial import options_label
from reference_runtime._cli import _parser as runtime_cli_parser

BUILT_IN = ("reference", "reference-nockpt", "reference-resume", "dbos", "temporal", "langgraph",
            "langgraph-nockpt", "plain")
SETTING = {"reference": "--db-retry", "reference-nockpt": "--db-retry",
           "reference-resume": "--db-retry", "langgraph": "--write-retry",
           "langgraph-nockpt": "--write-retry"}
"""The worker option each settable SUT maps ``store_retry_s`` onto."""


def _spec(options: WorkerOptions) -> WorkerSpec:
    return WorkerSpec(workload="research_agent", postgres_url="host=x", executor_id="w1",
                      provider_url="http://127.0.0.1:1", options=options)  # fmt: skip


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_sut_says_whether_it_sets_a_store_retry_window(name: str) -> None:
    window = get_sut(name).describe().store_retry
    assert window.settable == (name in SETTING)
    assert len(window.how) > 40, "the setting it maps to, or why there is none, in a sentence"


@pytest.mark.parametrize("name", sorted(SETTING))
def test_a_settable_window_reaches_the_workers_command_line(name: str) -> None:
    sut = get_sut(name)
    default = sut.worker_command(_spec(WorkerOptions())).argv
    assert SETTING[name] not in default, "unset: the worker keeps the runtime's own default"
    argv = sut.worker_command(_spec(WorkerOptions(store_retry_s=4.5))).argv
    assert argv[argv.index(SETTING[name]) + 1] == "4.5"
    assert argv[:len(default)] == default


def test_the_plain_loop_ignores_it() -> None:
    plain = get_sut("plain")
    assert (plain.worker_command(_spec(WorkerOptions(store_retry_s=4.5))).argv
            == plain.worker_command(_spec(WorkerOptions())).argv)  # fmt: skip


def test_the_reference_workers_take_db_retry_with_the_runtimes_default() -> None:
    assert reference_worker_parser().parse_args(["--workload", "research_agent"]).db_retry == 60.0
    args = reference_worker_parser().parse_args(["--workload", "research_agent",
                                                 "--db-retry", "4.5"])  # fmt: skip
    assert args.db_retry == 4.5
    cli = ["worker", "--dsn", "postgresql://u@h/d", "--app", "m:a"]
    assert runtime_cli_parser().parse_args(cli).db_retry == 60.0
    assert runtime_cli_parser().parse_args([*cli, "--db-retry", "3"]).db_retry == 3.0


@pytest.mark.skipif(importlib.util.find_spec("langgraph") is None, reason="langgraph not installed")
def test_the_langgraph_worker_takes_write_retry_with_the_savers_default() -> None:
    from harness.sut.langgraph.worker import WatchedSaver
    from harness.sut.langgraph.worker import _parser as langgraph_worker_parser

    parse = langgraph_worker_parser().parse_args
    assert parse(["--workload", "research_agent"]).write_retry == WatchedSaver.write_retry_s
    assert parse(["--workload", "research_agent", "--write-retry", "4.5"]).write_retry == 4.5


def test_a_store_retry_window_names_its_trial() -> None:
    assert options_label(WorkerOptions(store_retry_s=4.0)) == "opt-store_retry4"
    assert options_label(WorkerOptions()) == ""


def test_durabench_suts_says_whether_the_window_is_settable() -> None:
    lines = _lines(_entry("dbos"))
    assert any(line.startswith("  store retry window set by store_retry_s: no (DBOS ")
               for line in lines), lines  # fmt: skip
    lines = _lines(_entry("reference"))
    assert any("store_retry_s: yes (store_retry_s is the runtime's db_retry_s" in line
               for line in lines), lines  # fmt: skip
