"""The durabench pytest plugin (entry point ``pytest11: durabench``).

It changes nothing for tests that did not ask for it: only tests that use its fixtures are
parametrized, selected or marked, so installing durabench leaves other projects' tests (their own
``seed`` or ``sut`` arguments included) untouched.

Options (group ``durabench``): ``--env``, ``--sut``, ``--seeds``, ``--results``,
``--trial-timeout``, ``--keep-env``, ``--model``, ``--run-id``, ``--shard K/N`` (run only shard K of
N of the collected tests, whole scenario groups at a time: :mod:`harness.shard`; the others are
reported deselected, and every results line says which shard wrote it). Fixtures:

- ``durabench_sut``: the name of a SUT; a test that takes it runs once per SUT selected by
  ``--sut`` (any registered name, a comma list, or ``all``: every registered SUT that can run
  here). A selected SUT that cannot run here skips with its install command (fails when
  ``DURABENCH_REQUIRE`` names it);
- ``durabench_seed``: a test that takes it runs once per seed (``--seeds N``: seeds 0..N-1);
- ``durabench_env`` (session): the environment every trial of this pytest process runs in;
- ``trials`` (session): a :class:`TrialRunner` — ``trials.run(spec)`` runs the golden run once per
  key, then the trial, appends both to the results store and returns the :class:`TrialResult`;
  ``trials.require_valid(result)`` fails the test with a readable summary when a promised verdict
  is false or unknown;
- ``durabench_model``: the ``--model`` of the long workloads (``deep_research``).

Every test that uses one of these fixtures carries the ``durabench`` marker (``-m durabench``).
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.env import CapabilityUnavailable, Environment
from harness.env.lifetime import install_interrupt_signals
from harness.env.local import LocalEnvironment, new_run_id
from harness.env.postgres import ENV_URL, PostgresStartError, postgres_bin_dir
from harness.env.statements import statements_unavailable
from harness.faults import FaultUnavailable
from harness.followups import followups_unsupported
from harness.llm import DEFAULT_MODEL, DEFAULT_PRICES, check_model
from harness.require import required, skip_or_fail
from harness.results import DEFAULT_RESULTS, append_result
from harness.run_plan import RunRecorder
from harness.runner import GoldenCache, run_trial, with_golden
from harness.schedule import longest_groups_first
from harness.services import ServicePool
from harness.shard import Shard, group_of, parse_shard, split
from harness.sut import (
    ReleaseError,
    SutLoadError,
    SystemUnderTest,
    get_sut,
    parse_sut_spec,
    postgres_extensions_of,
    sut_names,
)
from harness.trial import TrialResult, TrialSpec

ENVIRONMENTS = ("local", "docker")
ALL_SUTS = "all"
DURABENCH_FIXTURES = frozenset({"durabench_sut", "durabench_seed", "durabench_env", "trials"})
"""Using any of these opts a test into the plugin's parametrization and the ``durabench`` mark."""
_SELECTED = pytest.StashKey[list[str]]()
_SELECTION_ERROR = pytest.StashKey[pytest.UsageError]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("durabench", "durabench chaos suite")
    group.addoption("--env", default="local", choices=ENVIRONMENTS,
                    help="where the parts run (default: local)")  # fmt: skip
    group.addoption("--sut", default=ALL_SUTS,
                    help="SUTs for tests that take durabench_sut: a registered name, a comma "
                         "list, or 'all' (every registered SUT that can run here; the default)."
                         " `durabench suts` lists them")  # fmt: skip
    group.addoption("--seeds", type=int, default=1, help="seeds per trial (default: 1)")
    group.addoption("--results", default=str(DEFAULT_RESULTS),
                    help=f"results store to append to (default: {DEFAULT_RESULTS})")
    group.addoption("--trial-timeout", type=float, default=90.0,
                    help="seconds before a trial is cut off and judged unknown (default: 90)")
    group.addoption("--keep-env", action="store_true",
                    help="keep the environment's work dir (logs, ledger) after the run")
    group.addoption("--model", default=DEFAULT_MODEL,
                    help="mock model of the long workloads, priced as the real model it stands "
                         f"for (default: {DEFAULT_MODEL}; one of {', '.join(DEFAULT_PRICES)})")
    group.addoption("--run-id", default=None, metavar="ID",
                    help="label of this run's processes, files and results lines (default: a "
                         "new one); `durabench sweep --run-id ID` removes what a killed run left")
    group.addoption("--shard", default=None, metavar="K/N",
                    help="run shard K of N: whole scenario groups, split the same way on every "
                         "machine (give each shard the same paths and --run-id; merge their "
                         "stores with `durabench report/gate A.jsonl B.jsonl ...`)")


def resolve_suts(text: str) -> list[str]:
    """``--sut`` -> SUT names. ``all``: every registered SUT that can run here, plus those
    ``DURABENCH_REQUIRE`` names (so that their absence fails instead of vanishing).
    ``NAME==VERSION`` runs that release of the SUT's runtime (installed once, cached).

    Raises :class:`pytest.UsageError` for an unknown name, a SUT that cannot be loaded, or a
    release it cannot run.
    """
    try:
        registered = sut_names()
        names: list[str] = []
        for name in (s.strip() for s in text.split(",")):
            if name == ALL_SUTS:
                wanted = required()
                names += [n for n in registered
                          if n in wanted or get_sut(n).available() is None]  # fmt: skip
            elif name:
                names.append(str(parse_sut_spec(name)))
        unknown = [n for n in names if parse_sut_spec(n).name not in registered]
        if unknown or not names:
            raise pytest.UsageError(
                f"--sut: unknown SUT(s) {', '.join(unknown) or '(none given)'}; valid SUTs: "
                f"{', '.join(registered)} or {ALL_SUTS} (`durabench suts` lists them)"
            )
        for name in names:
            get_sut(name)  # load and validate now, not in the middle of a trial
    except (SutLoadError, ReleaseError) as exc:
        raise pytest.UsageError(f"--sut: {exc}") from None
    return list(dict.fromkeys(names))


def check_postgres(suts: Sequence[str]) -> None:
    """A pinned SUT that needs a Postgres extension the embedded Postgres lacks, with no Postgres
    here that has it, is a usage error (one line: what to install)."""
    extensions = postgres_extensions_of(suts)
    if not extensions or os.environ.get(ENV_URL):
        return
    try:
        postgres_bin_dir(extensions, ", ".join(sorted(set(extensions.values()))))
    except PostgresStartError as exc:
        raise pytest.UsageError(f"--sut: {exc}") from None


def selected_suts(config: pytest.Config) -> list[str]:
    """The SUTs ``--sut`` selects, resolved on first use (a run without durabench tests never
    loads a SUT)."""
    if _SELECTED not in config.stash:
        config.stash[_SELECTED] = resolve_suts(str(config.getoption("--sut")))
    return config.stash[_SELECTED]


_RUN_ID = pytest.StashKey[str]()
_SHARD = pytest.StashKey[Shard | None]()
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
    text = config.getoption("--shard")
    try:
        config.stash[_SHARD] = None if text is None else parse_shard(str(text))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def shard_of(config: pytest.Config) -> str | None:
    """This run's ``--shard`` as written in results lines (``"1/2"``), or None."""
    shard = config.stash.get(_SHARD, None)
    return None if shard is None else str(shard)


def run_id_of(config: pytest.Config) -> str:
    """This run's id: ``--run-id``, or one made by the controller and shared with xdist workers."""
    return config.stash[_RUN_ID]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "durabench: a durabench trial test (set on every test using its fixtures)")
    config.addinivalue_line(
        "markers", "durabench_group_per_sut: the module's xdist_group runs as one group per SUT "
        "on xdist workers (its tests share nothing across SUTs; without the mark: one per SUT "
        "family, a SUT with its checkpointing-off twin); shards keep it whole")
    config.addinivalue_line(
        "markers", "durabench_case_s(seconds): what one case of the module takes on one worker of "
        "the 2-core CI machine, all SUTs included; --shard weighs a group's cases by it")
    if config.getoption("--sut") != ALL_SUTS:
        selected_suts(config)  # a typo in an explicit --sut is a usage error at once
        if config.getoption("--env") == "local":
            check_postgres(selected_suts(config))
    required()  # a typo in DURABENCH_REQUIRE is a usage error, not a silent no-op
    _validate(config)
    workerinput = getattr(config, "workerinput", None)
    config.stash[_RUN_ID] = (
        workerinput["durabench_run_id"] if workerinput and "durabench_run_id" in workerinput
        else config.getoption("--run-id") or new_run_id()
    )
    install_interrupt_signals()  # SIGTERM / SIGHUP tear down like Ctrl-C
    if workerinput is None:  # the xdist controller or a plain run
        # The workers' collection comes longest group first (harness/schedule.py): xdist must
        # hand the groups out in that order, not re-sort them by their number of tests.
        if hasattr(config.option, "loadscopereorder"):
            config.option.loadscopereorder = False
        config.pluginmanager.register(ProgressReporter(config), "durabench-progress")
        config.pluginmanager.register(
            RunRecorder(run_id_of(config), Path(str(config.getoption("--results"))),
                        shard_of(config)),
            "durabench-run-recorder",
        )
    if config.getoption("--seeds") < 1:
        raise pytest.UsageError("--seeds must be at least 1")
    try:
        check_model(str(config.getoption("--model")))
    except ValueError as exc:
        raise pytest.UsageError(f"--model: {exc}") from None


TRIALS_PROPERTY = "durabench_trials"
"""The user property naming the trial ids a test ran; pytest-xdist carries it to the controller,
whose run recorder lists the trials of each expected failure (known finding)."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    runner = getattr(item, "funcargs", {}).get("trials")
    if call.when == "call" and isinstance(runner, TrialRunner):
        item.user_properties.append((TRIALS_PROPERTY, runner.take_used()))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker labels its environment with the controller's run id."""
    node.workerinput["durabench_run_id"] = run_id_of(node.config)


def _parametrized_by_test(metafunc: pytest.Metafunc, name: str) -> bool:
    return any(name in str(m.args[0]).replace(" ", "").split(",")
               for m in metafunc.definition.iter_markers("parametrize") if m.args)  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    names = metafunc.fixturenames
    if "durabench_sut" in names and not _parametrized_by_test(metafunc, "durabench_sut"):
        try:
            suts = selected_suts(metafunc.config)
        except pytest.UsageError as exc:  # raised after collection, as one clean line
            metafunc.config.stash[_SELECTION_ERROR] = exc
            suts = []
        metafunc.parametrize("durabench_sut", suts, ids=suts, indirect=True)
    if "durabench_seed" in names and not _parametrized_by_test(metafunc, "durabench_seed"):
        seeds = range(metafunc.config.getoption("--seeds"))
        metafunc.parametrize("durabench_seed", seeds, ids=[f"seed{s}" for s in seeds],
                             indirect=True)  # fmt: skip


@pytest.hookimpl(tryfirst=True)  # before xdist's loadgroup reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark durabench tests; drop those a test parametrized with a SUT ``--sut`` did not select,
    then those of the other shards (``--shard``). A test parametrized with a SUT gets a group of
    its SUT's family too (:func:`_xdist_family`), so that xdist spreads a scenario's SUTs over
    its workers (the shard split reads the module's group: :func:`harness.shard.group_of`)."""
    if _SELECTION_ERROR in config.stash:
        raise config.stash[_SELECTION_ERROR]
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if not DURABENCH_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            keep.append(item)
            continue
        item.add_marker("durabench")
        callspec = getattr(item, "callspec", None)
        sut = callspec.params.get("durabench_sut") if callspec is not None else None
        if sut is not None and sut in selected_suts(config):
            item.add_marker(pytest.mark.xdist_group(f"{group_of(item)}.{_xdist_family(item, sut)}"))
        (drop if sut is not None and sut not in selected_suts(config) else keep).append(item)
    shard = config.stash.get(_SHARD, None)
    if shard is not None:
        keep, elsewhere = split(keep, shard, collected=items)
        drop += elsewhere
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = longest_groups_first(keep, _xdist_scope)


def _xdist_scope(item: pytest.Item) -> str:
    """The group xdist's ``loadgroup`` runs the item in: its ``xdist_group`` names, sorted and
    joined (as xdist names it), else its node id."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    return "_".join(names) or item.nodeid


def _xdist_family(item: pytest.Item, sut: str) -> str:
    """The part of a scenario group an xdist worker takes whole: the SUT's family -- the SUT
    with its checkpointing-off twin and every other SUT of that twin (``reference``,
    ``reference-resume`` and ``reference-nockpt``; ``dbos``, ``temporal`` and ``plain``) --, for
    a comparison test runs its twin's trials, which the twin's own tests re-use from the worker's
    cache; the SUT alone in a ``durabench_group_per_sut`` module (whose tests share nothing
    across SUTs). Golden runs are shared between workers (:class:`GoldenCache`)."""
    if item.get_closest_marker("durabench_group_per_sut") is not None:
        return sut
    return get_sut(sut).twin or sut


def ensure_runnable(sut_name: str) -> None:
    """Skip (or fail, under ``DURABENCH_REQUIRE=<name>``) unless the SUT can run here."""
    reason = get_sut(sut_name).available()
    if reason is not None:
        skip_or_fail(sut_name, reason)


@pytest.fixture
def durabench_sut(request: pytest.FixtureRequest) -> str:
    """A SUT selected by ``--sut``; the plugin parametrizes every test that takes it."""
    name = getattr(request, "param", None)
    if not isinstance(name, str):
        raise pytest.UsageError("durabench_sut is parametrized by the durabench plugin; "
                                "parametrize it yourself with SUT names, or not at all")
    ensure_runnable(name)
    return name


@pytest.fixture
def durabench_seed(request: pytest.FixtureRequest) -> int:
    """A seed in 0..--seeds-1; the plugin parametrizes every test that takes it."""
    return int(getattr(request, "param", 0))


class TrialRunner:
    """Runs trials in one environment, caches them by spec and records them in the store."""

    def __init__(
        self, env: Environment, results: Path, timeout_s: float, config: pytest.Config,
        services: ServicePool, shared_dir: Path | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.results = results
        self.timeout_s = timeout_s
        self.services = services
        self.golden = GoldenCache(env, services, shared_dir)
        self._done: dict[TrialSpec, TrialResult] = {}
        self._recorded_golden = 0
        self._record_lock = threading.Lock()
        self._used: list[str] = []

    def take_used(self) -> list[str]:
        """Ids of the trials run (or taken from the cache) since the last call: the current
        test's trials, which its report carries (:func:`pytest_runtest_makereport`)."""
        used, self._used = list(dict.fromkeys(self._used)), []
        return used

    @staticmethod
    def require_supported(spec: TrialSpec) -> SystemUnderTest:
        """The trial's SUT; skips (or fails, under ``DURABENCH_REQUIRE``) when it cannot run
        here, and skips when it does not run the trial's workload (``workloads``) or sets one
        of the workload parameters it cannot honour (``unsupported_params``)."""
        ensure_runnable(spec.sut)
        sut = get_sut(spec.sut)
        workloads = getattr(sut, "workloads", None)
        if workloads is not None and spec.workload not in workloads:
            pytest.skip(f"{spec.sut} runs only the {', '.join(sorted(workloads))} workload(s), "
                        f"not {spec.workload}")
        unsupported = sorted(set(getattr(sut, "unsupported_params", ()))
                             & {k for k, v in spec.params.items() if v})  # fmt: skip
        if unsupported:
            pytest.skip(f"{spec.sut} cannot honour the workload parameter(s) "
                        f"{', '.join(unsupported)} (see `durabench suts`)")
        return sut

    def run(self, spec: TrialSpec) -> TrialResult:
        """Run ``spec`` (once per spec in this session). Skips when the SUT cannot run here or
        does not support the trial's workload or recovery policy."""
        spec = replace(spec, timeout_s=self.timeout_s)
        if spec not in self._done:
            sut = self.require_supported(spec)
            if spec.recovery.policy not in sut.recovery_policies:
                pytest.skip(f"{spec.sut} does not support the {spec.recovery.policy!r} recovery "
                            f"policy (it supports {', '.join(sorted(sut.recovery_policies))})")
            unsupported = followups_unsupported(spec, sut)
            if unsupported is None and any(f.when == "statement" for f in spec.then):
                unsupported = statements_unavailable(self.env)
            if unsupported is not None:
                pytest.skip(unsupported)
            t0 = time.monotonic()
            try:
                baseline = self.golden.baseline(spec)
                result = run_trial(self.env, spec, baseline, self.services)
            except FaultUnavailable as exc:
                skip_or_fail(spec.fault.name if spec.fault else "golden", str(exc))
            except CapabilityUnavailable as exc:  # e.g. the SUT's services in this environment
                skip_or_fail(spec.sut, str(exc))
            self._record(result)
            self._done[spec] = result
            self._progress(f"{spec.trial_id}: {result.valid} in {time.monotonic() - t0:.1f}s "
                      f"(redundant tokens {result.figures.redundant_tokens})")  # fmt: skip
        self._used.append(spec.trial_id)
        return self._done[spec]

    def _record(self, result: TrialResult) -> None:
        shard = shard_of(self.config)
        with self._record_lock:
            for golden in self.golden.results[self._recorded_golden :]:
                append_result(self.results, replace(golden.record(), shard=shard))
            self._recorded_golden = len(self.golden.results)
            append_result(self.results, replace(result.record(), shard=shard))

    def run_many(self, specs: Sequence[TrialSpec], parallel: int = 8) -> list[TrialResult]:
        """Run ``specs`` concurrently (at most ``parallel`` at once, plus their missing golden
        runs beside them: trials mostly wait on simulated LLM and tool time, and a trial needs
        its baseline only to be judged); results in the order of ``specs``.

        A spec may ask for a longer ``timeout_s`` than ``--trial-timeout`` (a long loop); the
        longer of the two applies. Trials that cannot run skip (or fail) the test, as in
        :meth:`run`.
        """
        specs = [replace(s, timeout_s=max(s.timeout_s, self.timeout_s)) for s in specs]
        for spec in specs:
            self.require_supported(spec)
        todo = [s for s in dict.fromkeys(specs) if s not in self._done]
        goldens = {s.golden_key: s.golden() for s in todo if self.golden.cached(s) is None}
        t0 = time.monotonic()
        with ThreadPoolExecutor(max(1, min(parallel, len(todo) or 1)) + len(goldens)) as pool:
            golden_runs = [pool.submit(run_trial, self.env, g, None, self.services)
                           for g in goldens.values()]
            futures = {s: pool.submit(run_trial, self.env, s, self.golden.cached(s), self.services)
                       for s in todo}
            for golden in golden_runs:
                self.golden.store(golden.result())
            for spec, future in futures.items():
                try:
                    result = future.result()
                except FaultUnavailable as exc:
                    skip_or_fail(spec.fault.name if spec.fault else "golden", str(exc))
                if result.history.golden is None:
                    result = with_golden(result, self.golden.baseline(spec))
                self._record(result)
                self._done[spec] = result
        self._progress(f"{len(todo)} trials and {len(goldens)} golden runs in parallel: "
                       f"{time.monotonic() - t0:.1f}s")
        self._used += [s.trial_id for s in specs]
        return [self._done[s] for s in specs]

    def _progress(self, line: str) -> None:
        """One line per trial on the terminal (not captured); silent in xdist workers."""
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"[durabench] {line}")

    def require_suts(self, *names: str) -> None:
        """Skip a comparison test unless ``--sut`` selected every SUT it compares (and each
        can run here)."""
        missing = [n for n in names if n not in selected_suts(self.config)]
        if missing:
            pytest.skip(f"this comparison needs {', '.join(missing)} in --sut")
        for name in names:
            ensure_runnable(name)

    def twin_of(self, sut: str) -> str:
        """The checkpointing-off twin of ``sut`` for a comparison; skips when it has none or
        ``--sut`` did not select it."""
        twin = get_sut(sut).twin
        if twin is None:
            pytest.skip(f"{sut} has no checkpointing-off twin to compare with")
        self.require_suts(sut, twin)
        return twin

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
    with LocalEnvironment(run_id=run_id, keep=keep, postgres_extensions=postgres_extensions_of(
            selected_suts(request.config))) as env:
        yield env


@pytest.fixture(scope="session")
def durabench_model(request: pytest.FixtureRequest) -> str:
    """The ``--model`` the long workloads call (the ledger prices their tokens at its price)."""
    return str(request.config.getoption("--model"))


@pytest.fixture(scope="session")
def trials(request: pytest.FixtureRequest, durabench_env: Environment,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrialRunner]:
    """Runs trials in ``durabench_env``; SUTs' own services live as long as the session.

    Under pytest-xdist every worker of the run sees the base temp dir's parent: golden runs are
    shared there, so each is run and recorded once."""
    shared = (tmp_path_factory.getbasetemp().parent / "durabench-goldens"
              if os.environ.get("PYTEST_XDIST_WORKER") else None)  # fmt: skip
    with ServicePool(durabench_env) as services:
        yield TrialRunner(
            durabench_env,
            Path(str(request.config.getoption("--results"))),
            float(request.config.getoption("--trial-timeout")),
            request.config,
            services,
            shared,
        )



def _is_scenario(nodeid: str) -> bool:
    """Under xdist the controller sees only node ids: a guess for the total, never for which
    reports are durabench's (those carry the ``durabench`` keyword)."""
    return nodeid.startswith("scenarios/") or "/scenarios/" in nodeid


def _outcome(report: pytest.TestReport) -> str:
    """passed / failed / skipped, or what an xfail is here: a SUT's known finding."""
    reason = getattr(report, "wasxfail", None)
    if reason is None:
        return report.outcome
    if report.passed:
        return "passed, though expected to fail (known finding not seen)"
    return "expected failure (known finding" + (f": {reason[:80]})" if reason else ")")


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
        self.total = sum(item.get_closest_marker("durabench") is not None
                         for item in session.items)  # fmt: skip

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self.total = max(self.total, sum(_is_scenario(i) for i in ids))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport,
                                 config: pytest.Config) -> tuple[str, str, str] | None:
        """No progress character (``.``, ``x``) for a trial test in quiet mode: its own line
        says how it went, and the character would land beside the next one."""
        finished = report.when == "call" or (report.when == "setup" and report.skipped)
        if not finished or "durabench" not in report.keywords or config.get_verbosity() > 0:
            return None
        if getattr(report, "wasxfail", None) is not None:
            return ("xpassed", "", "XPASS") if report.passed else ("xfailed", "", "XFAIL")
        return report.outcome, "", report.outcome.upper()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        finished = report.when == "call" or (report.when == "setup" and report.outcome != "passed")
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if not finished or "durabench" not in report.keywords or reporter is None:
            return
        self.done += 1
        name = report.nodeid.split("::", 1)[-1]
        writer = getattr(reporter, "_tw", None)  # pytest's progress dots share our line
        if writer is not None and writer.width_of_current_line:
            reporter.write("\n")
        reporter.write_line(
            f"[durabench] trial {self.done} of {self.total or '?'}: {name} "
            f"{_outcome(report)} ({time.monotonic() - self.t0:.0f}s elapsed)"
        )
