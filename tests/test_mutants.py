"""``durabench mutants``: the catalog applies to the tree, its targets exist, a run tests the copy
(pytest and the workers it starts), outcomes are judged right, and the cheapest mutant is caught
by its scenario while the unmutated copy passes it.

The end-to-end runs are real pytest runs of real scenario trials (``slow``); the rest is fast.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main
from harness.mutants import (
    MUTANTS,
    PACKAGE,
    CaseReport,
    Mutant,
    MutantUsageError,
    Patch,
    StaleMutantError,
    apply_mutant,
    checkout_root,
    judge,
    junit_reports,
    run_mutants,
    select,
)
from harness.mutants._outcome import not_true_verdicts
from harness.mutants._probe import ENV_COPY, pytest_configure

ROOT = Path(__file__).resolve().parents[1]
SENTINEL_ENV = "DURABENCH_TEST_SENTINEL"
SENTINEL = Patch(
    "__init__.py",
    "from __future__ import annotations\n",
    textwrap.dedent(f"""\
        from __future__ import annotations

        import os as _probe_os
        import sys as _probe_sys

        if _probe_os.environ.get({SENTINEL_ENV!r}):
            with open(_probe_os.environ[{SENTINEL_ENV!r}], "a") as _probe_out:
                _probe_out.write(f"{{_probe_os.getpid()}}\\t{{' '.join(_probe_sys.orig_argv)}}\\t"
                                 f"{{__file__}}\\n")
        """),
)
"""A no-op patch: importing the copy writes ``pid, command line, __file__`` into the sentinel file
(named by :data:`SENTINEL_ENV`)."""


def _sentinel_mutant(*targets: str, name: str = "noop-sentinel") -> Mutant:
    """A mutant that breaks nothing, only reports who imported it: its scenario must pass."""
    return Mutant(name, "none (test only)", "breaks nothing; reports who imports the copy",
                  (SENTINEL,), targets)  # fmt: skip


def _copy(tmp_path: Path) -> Path:
    import shutil

    copy = tmp_path / PACKAGE
    shutil.copytree(ROOT / PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


# -- the catalog -------------------------------------------------------------------------------
@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.name for m in MUTANTS])
def test_every_mutant_applies_to_the_tree(mutant: Mutant, tmp_path: Path) -> None:
    copy = _copy(tmp_path)
    apply_mutant(mutant, copy)  # a stale mutant raises StaleMutantError here
    for patch in mutant.patches:
        text = (copy / patch.file).read_text()
        assert patch.new in text and text != (ROOT / PACKAGE / patch.file).read_text()
        compile(text, str(copy / patch.file), "exec")
    assert (ROOT / PACKAGE / mutant.patches[0].file).read_text().count(mutant.patches[0].old) == 1


def test_the_catalog_has_unique_names_and_spans_the_classes() -> None:
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names)), names
    assert len({m.bug_class for m in MUTANTS}) >= 8
    assert all(t.startswith("scenarios/") for m in MUTANTS for t in m.catches)


def test_every_target_is_a_scenario_test_of_the_reference_sut() -> None:
    targets = sorted({t for m in MUTANTS for t in m.catches})
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--sut", "reference", *targets],
        cwd=ROOT, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = {line.strip() for line in done.stdout.splitlines()}
    assert set(targets) <= collected, sorted(set(targets) - collected)


# -- patches -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("patch", "message"), [
    (Patch("_store.py", "no such text anywhere", "x"),
     "mutant mx is stale: reference_runtime/_store.py no longer contains 'no such text anywhere'"),
    (Patch("_store.py", "    def f(\n        self,", "x"),
     "mutant mx is stale: reference_runtime/_store.py no longer contains 'def f(...'"),
    (Patch("_store.py", "self", "x"),
     "mutant mx is stale: reference_runtime/_store.py contains 'self' "),
    (Patch("_gone.py", "a", "b"), "mutant mx is stale: reference_runtime/_gone.py does not exist"),
])  # fmt: skip
def test_a_stale_patch_is_a_one_line_error_and_leaves_the_copy_alone(
    patch: Patch, message: str, tmp_path: Path
) -> None:
    copy = _copy(tmp_path)
    fine = MUTANTS[0].patches[0]
    before = (copy / fine.file).read_text()
    with pytest.raises(StaleMutantError) as caught:
        apply_mutant(Mutant("mx", "none (test only)", "stale", (fine, patch), ("t",)), copy)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert (copy / fine.file).read_text() == before, "checked before anything is written"


def test_a_stale_mutant_is_an_error_of_its_run(tmp_path: Path) -> None:
    stale = Mutant("stale-one", "none (test only)", "stale",
                   (Patch("_store.py", "no such text anywhere", "x"),), ("scenarios/x.py",))
    lines: list[str] = []
    [run] = run_mutants([stale], progress=lines.append)
    assert (run.result, run.detail) == ("error", "mutant stale-one is stale: "
                                        "reference_runtime/_store.py no longer contains "
                                        "'no such text anywhere'")
    assert lines[0].startswith("[durabench] mutant 1 of 1: stale-one (none (test only))")


# -- selection and the command line --------------------------------------------------------------
def test_an_unknown_only_name_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", "--only", f"{MUTANTS[0].name},no-such-mutant"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("durabench mutants: --only: unknown mutant(s) no-such-mutant; known: ")
    assert err.count("\n") == 1


def test_list_prints_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mutants", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(m.name in out and m.bug_class in out for m in MUTANTS)


def test_sample_is_deterministic_in_catalog_order() -> None:
    picks = {seed: select(MUTANTS, None, 3, seed) for seed in range(6)}
    assert all(len(p) == 3 for p in picks.values())
    assert select(MUTANTS, None, 3, 4) == picks[4]
    assert all(p == [m for m in MUTANTS if m in p] for p in picks.values())
    assert len({tuple(m.name for m in p) for p in picks.values()}) > 1, "the seed matters"
    assert select(MUTANTS, None, len(MUTANTS) + 5, 0) == list(MUTANTS)
    only = select(MUTANTS, f"{MUTANTS[2].name}, {MUTANTS[0].name}", None, 0)
    assert only == [MUTANTS[0], MUTANTS[2]]
    with pytest.raises(MutantUsageError):
        select(MUTANTS, " , ", None, 0)


# -- judging a run -------------------------------------------------------------------------------
def _r(outcome: str, message: str = "") -> CaseReport:
    return CaseReport("test_x.py::test_y[a]", outcome, message)  # type: ignore[arg-type]


@pytest.mark.parametrize(("code", "reports", "expected"), [
    (1, [_r("failed", "AssertionError: the zombie wrote")], "caught"),
    (1, [_r("failed", "Failed: trial t: verdict false")], "caught"),
    (1, [_r("passed"), _r("failed", "AssertionError: x")], "caught"),
    (1, [_r("error", "failed on setup with \"OSError\""), _r("failed", "AssertionError: x")],
     "caught"),
    (1, [_r("failed", "RuntimeError: harness broke")], "error"),
    (1, [_r("error", "failed on setup with \"EnvironmentStartError: no Postgres\"")], "error"),
    (0, [_r("passed")], "missed"),
    (0, [_r("passed"), _r("skipped", "no cgroup")], "missed"),
    (0, [_r("skipped", "no cgroup")], "error"),
    (0, [_r("skipped", "known finding")], "error"),
    (5, [], "error"),
    (4, [], "error"),
    (2, [], "error"),
    (-9, [], "error"),
])  # fmt: skip
def test_judge(code: int, reports: list[CaseReport], expected: str) -> None:
    assert judge(code, reports, [], ["ERROR: file or directory not found: x"]).result == expected


def test_judge_details() -> None:
    caught = judge(1, [_r("failed", "Failed: trial t: verdict false")],
                   ["single_active_execution=false"], [])
    assert caught.detail == ("test_x.py::test_y[a]: Failed: trial t: verdict false "
                             "[single_active_execution=false]")
    assert judge(4, [], [], ["", "ERROR: not found: x", "tail"]).detail == (
        "pytest exit 4: ERROR: not found: x")
    assert judge(0, [_r("passed")], [], []).detail == "passed: test_x.py::test_y[a]"


def test_junit_reports_read_pytest_output() -> None:
    xml = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
      <testcase classname="scenarios.test_pause" name="test_a[reference-seed0]">
        <failure message="AssertionError: late&#10;assert not [1]">trace</failure></testcase>
      <testcase classname="scenarios.test_pause" name="test_b"><error
        message="failed on setup with &quot;OSError: no env&quot;">trace</error></testcase>
      <testcase classname="scenarios.test_oom" name="test_c"><skipped type="pytest.skip"
        message="no cgroup">x</skipped></testcase>
      <testcase classname="scenarios.test_kill" name="test_d" /></testsuite></testsuites>"""
    assert junit_reports(xml) == [
        CaseReport("test_pause.py::test_a[reference-seed0]", "failed", "AssertionError: late"),
        CaseReport("test_pause.py::test_b", "error", 'failed on setup with "OSError: no env"'),
        CaseReport("test_oom.py::test_c", "skipped", "no cgroup"),
        CaseReport("test_kill.py::test_d", "passed"),
    ]
    assert junit_reports("<not xml") == []


def test_not_true_verdicts_are_the_promised_ones_of_trial_lines() -> None:
    lines = [
        '{"kind": "run", "verdicts": {"a": "false"}}',
        '{"kind": "golden", "promised": ["a"], "verdicts": {"a": "false"}}',
        '{"kind": "trial", "promised": ["a", "b"], "verdicts": {"a": "false", "b": "true", '
        '"c": "false"}}',
        '{"kind": "trial", "promised": ["a", "d"], "verdicts": {"a": "false", "d": "unknown"}}',
        "torn {",
    ]
    assert not_true_verdicts(lines) == ["a=false", "d=unknown"]


def test_the_probe_refuses_a_run_of_the_tree(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_COPY, str(tmp_path / PACKAGE))
    with pytest.raises(pytest.UsageError, match="not from the mutant's copy"):
        pytest_configure(None)  # type: ignore[arg-type]
    monkeypatch.delenv(ENV_COPY)
    pytest_configure(None)  # type: ignore[arg-type]


# -- real runs -----------------------------------------------------------------------------------
WORKER_PROBE = """\
import os
from pathlib import Path

from harness.env.local import LocalEnvironment
from harness.sut import WorkerSpec
from harness.sut.reference import REFERENCE


def test_a_worker_imports_the_copy(tmp_path):
    env = LocalEnvironment(run_id="mutantprobe-" + str(os.getpid()))
    env.work_dir = tmp_path  # only the worker's log goes there; nothing else is started
    argv = REFERENCE.worker_command(WorkerSpec("research_agent", "", "", "probe")).argv
    worker = env.start_worker("probe", "probe", [*argv, "--help"], wait_ready=False)
    try:
        assert worker.wait(60) == 0, worker.tail()
    finally:
        env.stop_workers()
    seen = {}
    for line in Path(os.environ["DURABENCH_TEST_SENTINEL"]).read_text().splitlines():
        pid, command, where = line.split("\\t")
        seen[int(pid)] = (command, where)
    copy = os.environ["DURABENCH_MUTANT_COPY"]
    assert seen[os.getpid()][1].startswith(copy), seen
    assert "-m harness.sut.reference.worker" in seen[worker.pid][0], seen
    assert seen[worker.pid][1].startswith(copy), seen
    {extra}
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("", "missed"),
    ("assert False, 'the scenario caught it'", "caught"),
    ("raise RuntimeError('the harness broke')", "error"),
])  # fmt: skip
def test_a_run_imports_the_copy_in_pytest_and_in_its_workers(
    extra: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "test_worker_probe.py"
    target.write_text(WORKER_PROBE.replace("{extra}", extra))
    monkeypatch.setenv(SENTINEL_ENV, str(tmp_path / "sentinel"))
    [run] = run_mutants([_sentinel_mutant(str(target))], progress=lambda line: None)
    assert run.result == expected, run.detail
    if expected == "caught":
        assert run.detail.endswith("AssertionError: the scenario caught it")


CHEAPEST = next(m for m in MUTANTS if m.name == "failed-step-rerun")
"""One trial (and its golden run): about 30 s on the 2-core machine."""


@pytest.mark.slow
def test_the_cheapest_mutant_is_caught_and_the_unmutated_copy_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sentinel = tmp_path / "sentinel"
    monkeypatch.setenv(SENTINEL_ENV, str(sentinel))
    lines: list[str] = []
    caught, missed = run_mutants([CHEAPEST, _sentinel_mutant(*CHEAPEST.catches)],
                                 progress=lines.append)
    assert caught.result == "caught", caught.detail
    assert missed.result == "missed", f"the unmutated copy must pass its target: {missed.detail}"
    assert [line.split(":")[0] for line in lines] == [
        "[durabench] mutant 1 of 2", "[durabench] mutant 1 of 2",
        "[durabench] mutant 2 of 2", "[durabench] mutant 2 of 2"]
    imports = [line.split("\t") for line in sentinel.read_text().splitlines()]
    workers = [i for i in imports if "-m harness.sut.reference.worker" in i[1]]
    assert workers, f"no worker of the scenario imported the copy: {imports}"
    assert all(f"-{PACKAGE}" not in where and str(ROOT) not in where
               for _, _, where in imports), imports  # fmt: skip
    assert checkout_root() == ROOT
