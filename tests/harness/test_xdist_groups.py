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
