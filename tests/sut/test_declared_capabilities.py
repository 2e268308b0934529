"""What each built-in SUT declares it can do: which queue limits it maps from
``WorkerOptions.queue_concurrency`` / ``worker_concurrency`` (``SutDescription.queue_limits``),
passed to its workers' own settings; and whether its sleep is durable
(``SutDescription.durable_sleep``)."""

from __future__ import annotations

import pytest

from harness.sut import WorkerOptions, WorkerSpec, get_sut
from harness.sut._catalog import _entry, _lines
from harness.sut.reference.worker import _parser as reference_worker_parser
from harness.trial import options_label

BUILT_IN = ("reference", "reference-nockpt", "reference-resume", "dbos", "temporal", "langgraph",
            "langgraph-nockpt", "plain")
PER_WORKER = {"reference": "--max-concurrency", "reference-nockpt": "--max-concurrency",
              "reference-resume": "--max-concurrency", "dbos": "--worker-concurrency"}
ACROSS_WORKERS = {"dbos": "--queue-concurrency"}


def _argv(name: str, options: WorkerOptions) -> tuple[str, ...]:
    spec = WorkerSpec(workload="research_agent", postgres_url="host=x", executor_id="w1",
                      provider_url="http://127.0.0.1:1", options=options,
                      service_urls={"temporal": "127.0.0.1:2"})  # fmt: skip
    return get_sut(name).worker_command(spec).argv


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_sut_says_which_queue_limits_it_sets(name: str) -> None:
    limits = get_sut(name).describe().queue_limits
    assert limits.per_worker == (name in PER_WORKER)
    assert limits.across_workers == (name in ACROSS_WORKERS)
    assert limits.settable("per_worker") == limits.per_worker
    assert len(limits.how) > 40, "the settings it maps to, or why there are none, in a sentence"
    entry = _entry(name)
    assert any("queue concurrency limits" in line for line in _lines(entry))


@pytest.mark.parametrize(("name", "field", "flag"), [
    *[(n, "worker_concurrency", f) for n, f in PER_WORKER.items()],
    *[(n, "queue_concurrency", f) for n, f in ACROSS_WORKERS.items()],
])  # fmt: skip
def test_a_limit_reaches_the_workers_command_line(name: str, field: str, flag: str) -> None:
    argv = _argv(name, WorkerOptions(**{field: 1}))  # type: ignore[arg-type]
    assert argv[argv.index(flag) + 1] == "1"


def test_a_sut_without_limits_ignores_them() -> None:
    for name in ("temporal", "langgraph", "plain"):
        assert _argv(name, WorkerOptions(worker_concurrency=1, queue_concurrency=1)) == _argv(
            name, WorkerOptions())


def test_limits_name_the_trial_and_reach_the_reference_runtime() -> None:
    assert options_label(WorkerOptions(queue_concurrency=1)) == "opt-queue_concurrency1"
    args = reference_worker_parser().parse_args(["--workload", "research_agent",
                                                 "--max-concurrency", "1"])  # fmt: skip
    assert args.max_concurrency == 1
    default = reference_worker_parser().parse_args(["--workload", "research_agent"])
    assert default.max_concurrency == 16


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_built_in_sut_says_whether_its_sleep_is_durable(name: str) -> None:
    sut = get_sut(name)
    sleep = sut.describe().durable_sleep
    # a sleep is durable where the wake-up time is recorded: checkpointing on, a loop that
    # records something
    assert sleep.durable == (sut.checkpointing and name != "plain")
    assert len(sleep.how) > 40
    assert any(line.startswith("  durable sleep: ") for line in _lines(_entry(name)))
