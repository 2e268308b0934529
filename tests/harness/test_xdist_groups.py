"""The chaos suite runs with ``-n 2 --dist loadgroup`` and relies on it: every scenario module
carries an ``xdist_group`` mark so that its trials (and the comparisons that re-use them) run on
one worker, each once. A pytest/xdist pair that silently ignores the mark (pytest 9.2 with xdist
3.8 did) would run trials twice and record duplicates; this catches it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MODULE = '''
import os, pytest
pytestmark = pytest.mark.xdist_group("{group}")
@pytest.mark.parametrize("i", range(6))
def test_here(i):
    print("WORKER", os.environ["PYTEST_XDIST_WORKER"])
'''


def test_loadgroup_keeps_each_group_on_one_worker(tmp_path: Path) -> None:
    for group in ("alpha", "beta"):
        (tmp_path / f"test_{group}.py").write_text(MODULE.format(group=group))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:durabench",
         "-n", "2", "--dist", "loadgroup", "-v", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers: dict[str, set[str]] = {}
    for worker, module in re.findall(r"\[(gw\d+)\] .*PASSED .*test_(alpha|beta)\.py", proc.stdout):
        workers.setdefault(module, set()).add(worker)
    assert set(workers) == {"alpha", "beta"}, proc.stdout[-2000:]
    assert all(len(w) == 1 for w in workers.values()), (
        f"--dist loadgroup split a group across workers: {workers} (a pytest/pytest-xdist pair "
        "that ignores xdist_group; see the pytest pin in pyproject.toml)")


PER_SUT = '''
import os, pytest
pytestmark = [pytest.mark.xdist_group("sweep"), pytest.mark.durabench_group_per_sut]
@pytest.mark.parametrize("i", range(3))
def test_sweep(durabench_sut, i):
    pass
'''


def test_a_group_per_sut_module_gives_each_sut_a_group_and_stays_whole_in_a_shard(
    tmp_path: Path,
) -> None:
    """Each SUT's tests form a group of their own (so xdist may run the SUTs side by side; which
    worker takes which group is the scheduler's choice, not asserted), and each group runs on one
    worker; a shard keeps the module whole."""
    (tmp_path / "test_sweep.py").write_text(PER_SUT)
    (tmp_path / "test_alpha.py").write_text(MODULE.format(group="alpha"))
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-n", "2",
            "--dist", "loadgroup", "--sut", "reference,plain", str(tmp_path)]  # fmt: skip
    proc = subprocess.run(base, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    workers: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    for worker, sut, group in re.findall(
            r"\[(gw\d+)\] .*PASSED .*test_sweep\[(\w+)-\d\]@(\S+)", proc.stdout):
        workers.setdefault(sut, set()).add(worker)
        groups.setdefault(sut, set()).add(group)
    assert set(workers) == {"reference", "plain"}, proc.stdout[-2000:]
    assert all(len(w) == 1 for w in workers.values()), workers  # each SUT's tests together
    assert all(len(g) == 1 for g in groups.values()), groups
    assert groups["reference"] != groups["plain"], groups  # a group per SUT
    for shard in ("1/2", "2/2"):
        proc = subprocess.run([*base, "--shard", shard], capture_output=True, text=True,
                              timeout=120, cwd=tmp_path)  # fmt: skip
        ran = set(re.findall(r"PASSED .*test_(sweep|alpha)", proc.stdout))
        assert len(ran) == 1, f"shard {shard} split a group: {ran}\n{proc.stdout[-2000:]}"


def test_the_longest_group_goes_first_not_the_one_with_most_tests(tmp_path: Path) -> None:
    """xdist hands out first the group with the most tests; the plugin orders groups by their
    time (harness/schedule.py): one long case (a crash sweep) starts before six short ones."""
    (tmp_path / "test_alpha.py").write_text(MODULE.format(group="alpha"))  # 6 tests, 10 s each
    (tmp_path / "test_zlong.py").write_text(
        "import os, pytest\npytestmark = [pytest.mark.xdist_group('long'), "
        "pytest.mark.durabench_case_s(100)]\ndef test_long():\n    pass\n")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-n", "1",
         "--dist", "loadgroup", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    ran = re.findall(r"PASSED .*test_(alpha|zlong)\.py", proc.stdout)
    assert ran and ran[0] == "zlong", f"the long group did not go first: {ran}"
    assert len(ran) == 7, proc.stdout[-2000:]


FAMILY = '''
import os, pytest
pytestmark = pytest.mark.xdist_group("kill")
@pytest.mark.parametrize("i", range(2))
def test_kill(durabench_sut, i):
    pass
'''


def test_a_sut_runs_in_its_family_s_group_so_a_comparison_finds_its_twin_s_trials(
    tmp_path: Path,
) -> None:
    """Without ``durabench_group_per_sut`` a module runs as one group per SUT family: a SUT with
    its checkpointing-off twin (whose trials a comparison test re-uses from the worker's cache),
    apart from the other families."""
    (tmp_path / "test_kill.py").write_text(FAMILY)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", "-n", "2",
         "--dist", "loadgroup", "--sut", "reference,reference-nockpt,plain,dbos", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    groups: dict[str, set[str]] = {}
    for sut, group in re.findall(r"PASSED .*test_kill\[([\w-]+?)-\d\]@(\S+)", proc.stdout):
        groups.setdefault(sut, set()).add(group)
    assert set(groups) == {"reference", "reference-nockpt", "plain", "dbos"}, proc.stdout[-2000:]
    assert all(len(g) == 1 for g in groups.values()), groups
    assert groups["reference"] == groups["reference-nockpt"], groups  # a SUT and its twin
    assert groups["dbos"] == groups["plain"], groups
    assert groups["reference"] != groups["plain"], groups  # two families
