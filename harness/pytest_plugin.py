"""The durabench pytest plugin (entry point ``pytest11: durabench``).

Options (group ``durabench``): ``--env``, ``--sut``, ``--seeds``, ``--results``,
``--trial-timeout``, ``--keep-env``. Fixtures:

- ``durabench_env`` (session): the environment every trial of this pytest process runs in;
- ``trials`` (session): a :class:`TrialRunner` — ``trials.run(spec)`` runs the golden run once per
  key, then the trial, appends both to the results store and returns the :class:`TrialResult`;
  ``trials.require_valid(result)`` fails the test with a readable summary when a promised verdict
  is false or unknown;
- ``seed``: tests that take it run once per seed (``--seeds N`` gives seeds 0..N-1).

Tests parametrized over ``sut`` only run for the SUTs named by ``--sut``.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.env import Environment
from harness.env.lifetime import install_interrupt_signals
from harness.env.local import LocalEnvironment, new_run_id
from harness.faults import FaultUnavailable
from harness.require import required, skip_or_fail
from harness.results import DEFAULT_RESULTS, append_result
from harness.run_plan import RunRecorder
from harness.runner import GoldenCache, run_trial
from harness.sut import SUT_NAMES
from harness.trial import TrialResult, TrialSpec

ENVIRONMENTS = ("local", "docker")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("durabench", "durabench chaos suite")
    group.addoption("--env", default="local", choices=ENVIRONMENTS,
                    help="where the parts run (default: local)")  # fmt: skip
    group.addoption("--sut", default=",".join(SUT_NAMES),
                    help=f"comma-separated SUTs to run (default: all: {', '.join(SUT_NAMES)})")
    group.addoption("--seeds", type=int, default=1, help="seeds per trial (default: 1)")
    group.addoption("--results", default=str(DEFAULT_RESULTS),
                    help=f"results store to append to (default: {DEFAULT_RESULTS})")
    group.addoption("--trial-timeout", type=float, default=90.0,
                    help="seconds before a trial is cut off and judged unknown (default: 90)")
    group.addoption("--keep-env", action="store_true",
                    help="keep the environment's work dir (logs, ledger) after the run")
    group.addoption("--run-id", default=None, metavar="ID",
                    help="label of this run's processes, files and results lines (default: a "
                         "new one); `durabench sweep --run-id ID` removes what a killed run left")


def selected_suts(config: pytest.Config) -> list[str]:
    names = [s.strip() for s in str(config.getoption("--sut")).split(",") if s.strip()]
    unknown = [n for n in names if n not in SUT_NAMES]
    if unknown or not names:
        raise pytest.UsageError(
            f"--sut: unknown SUT(s) {', '.join(unknown) or '(none given)'}; "
            f"valid SUTs: {', '.join(SUT_NAMES)}"
        )
    return names


_RUN_ID = pytest.StashKey[str]()
_RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{5,80}$")


def _validate(config: pytest.Config) -> None:
    if config.getoption("--seeds") < 1:
        raise pytest.UsageError("--seeds must be at least 1")
    timeout = config.getoption("--trial-timeout")
    if not (math.isfinite(timeout) and timeout > 0):
        raise pytest.UsageError(f"--trial-timeout must be a number of seconds > 0, got {timeout}")
    run_id = config.getoption("--run-id")
    if run_id is not None and not _RUN_ID_PATTERN.match(run_id):
        raise pytest.UsageError(
            f"--run-id {run_id!r}: use 6-81 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )


def run_id_of(config: pytest.Config) -> str:
    """This run's id: ``--run-id``, or one made by the controller and shared with xdist workers."""
    return config.stash[_RUN_ID]


def pytest_configure(config: pytest.Config) -> None:
    selected_suts(config)
    required()  # a typo in DURABENCH_REQUIRE is a usage error, not a silent no-op
    _validate(config)
    workerinput = getattr(config, "workerinput", None)
    config.stash[_RUN_ID] = (
        workerinput["durabench_run_id"] if workerinput and "durabench_run_id" in workerinput
        else config.getoption("--run-id") or new_run_id()
    )
    install_interrupt_signals()  # SIGTERM / SIGHUP tear down like Ctrl-C
    if workerinput is None:  # the xdist controller or a plain run
        config.pluginmanager.register(ProgressReporter(config), "durabench-progress")
        config.pluginmanager.register(
            RunRecorder(run_id_of(config), Path(str(config.getoption("--results")))),
            "durabench-run-recorder",
        )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker labels its environment with the controller's run id."""
    node.workerinput["durabench_run_id"] = run_id_of(node.config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed" in metafunc.fixturenames:
        seeds = metafunc.config.getoption("--seeds")
        metafunc.parametrize("seed", range(seeds), ids=[f"seed{s}" for s in range(seeds)])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(selected_suts(config))
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        sut = callspec.params.get("sut") if callspec is not None else None
        (drop if sut is not None and sut not in wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class TrialRunner:
    """Runs trials in one environment, caches them by spec and records them in the store."""

    def __init__(
        self, env: Environment, results: Path, timeout_s: float, config: pytest.Config
    ) -> None:
        self.env = env
        self.config = config
        self.results = results
        self.timeout_s = timeout_s
        self.golden = GoldenCache(env)
        self._done: dict[TrialSpec, TrialResult] = {}
        self._recorded_golden = 0

    def run(self, spec: TrialSpec) -> TrialResult:
        spec = replace(spec, timeout_s=self.timeout_s)
        if spec not in self._done:
            t0 = time.monotonic()
            baseline = self.golden.baseline(spec)
            try:
                result = run_trial(self.env, spec, baseline)
            except FaultUnavailable as exc:
                skip_or_fail(spec.fault.name if spec.fault else "golden", str(exc))
            self._record(result)
            self._done[spec] = result
            self._progress(f"{spec.trial_id}: {result.valid} in {time.monotonic() - t0:.1f}s "
                      f"(redundant tokens {result.figures.redundant_tokens})")  # fmt: skip
        return self._done[spec]

    def _record(self, result: TrialResult) -> None:
        for golden in self.golden.results[self._recorded_golden :]:
            append_result(self.results, golden.to_json())
        self._recorded_golden = len(self.golden.results)
        append_result(self.results, result.to_json())

    def _progress(self, line: str) -> None:
        """One line per trial on the terminal (not captured); silent in xdist workers."""
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"[durabench] {line}")

    def require_suts(self, *names: str) -> None:
        """Skip a comparison test unless ``--sut`` selected every SUT it compares."""
        missing = [n for n in names if n not in selected_suts(self.config)]
        if missing:
            pytest.skip(f"this comparison needs {', '.join(missing)} in --sut")

    @staticmethod
    def require_valid(result: TrialResult) -> None:
        """Fail the test unless every promised verdict is true."""
        if result.valid != "true":
            pytest.fail(
                f"trial {result.spec.trial_id}: verdict {result.valid}\n"
                f"{result.judgement.summary()}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def durabench_env(request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The environment of ``--env``; ``docker`` skips (or fails, with ``DURABENCH_REQUIRE=docker``)
    when no engine answers."""
    run_id = f"{run_id_of(request.config)}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    keep = bool(request.config.getoption("--keep-env"))
    if request.config.getoption("--env") == "docker":
        from harness.env.docker import DockerEnvironment, docker_available

        reason = docker_available()
        if reason is not None:
            skip_or_fail("docker", reason)
        with DockerEnvironment(run_id=run_id.lower(), keep=keep) as docker_env:
            yield docker_env
        return
    with LocalEnvironment(run_id=run_id, keep=keep) as env:
        yield env


@pytest.fixture(scope="session")
def trials(request: pytest.FixtureRequest, durabench_env: Environment) -> TrialRunner:
    return TrialRunner(
        durabench_env,
        Path(str(request.config.getoption("--results"))),
        float(request.config.getoption("--trial-timeout")),
        request.config,
    )



def _is_scenario(nodeid: str) -> bool:
    return nodeid.startswith("scenarios/") or "/scenarios/" in nodeid


class ProgressReporter:
    """``[durabench] trial n of N: <test> <outcome> (<elapsed> elapsed)`` per scenario test, also
    under pytest-xdist (registered in the controller, which sees every report)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.total = 0
        self.done = 0
        self.t0 = time.monotonic()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = sum(_is_scenario(item.nodeid) for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.total = max(self.total, sum(_is_scenario(i) for i in ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        finished = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if not finished or not _is_scenario(report.nodeid) or reporter is None:
            return
        self.done += 1
        name = report.nodeid.split("::", 1)[-1]
        reporter.ensure_newline()
        reporter.write_line(
            f"[durabench] trial {self.done} of {self.total or '?'}: {name} {report.outcome} "
            f"({time.monotonic() - self.t0:.0f}s elapsed)"
        )
